"""The ``ragserve`` command: ingest, query, serve."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragserve.core.errors import RagError
from ragserve.core.types import Hit
from ragserve.pipeline import IngestReport, build_rag
from ragserve.settings import Settings

T = TypeVar("T")
console = Console(stderr=True)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    data_dir = ctx.obj.get("data_dir")
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return Settings.load(**overrides)


def _run(fn: Callable[[], T]) -> T:
    """Turn ragserve errors into a clean message and exit status 1 (RAGSERVE_DEBUG=1 shows tracebacks)."""
    try:
        return fn()
    except RagError as exc:
        if os.environ.get("RAGSERVE_DEBUG") == "1":
            raise
        raise click.ClickException(f"{exc.message}\n  hint: {exc.hint}" if exc.hint else exc.message) from exc


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[str, IngestReport], None]]:
    """A rich progress bar fed by ingestion progress events."""
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[chunks]} chunks"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None, chunks=0)

        def update(_event: str, report: IngestReport) -> None:
            done = report.indexed + report.unchanged + len(report.failed)
            bar.update(task, total=report.files, completed=done, chunks=report.chunks)

        yield update


def print_report(report: IngestReport) -> None:
    """Summary of an ingestion, failures with their reasons."""
    rate = report.chunks / report.seconds if report.seconds else 0.0
    console.print(
        f"[green]{report.files} files[/]: {report.indexed} indexed, {report.unchanged} unchanged, "
        f"{len(report.failed)} failed; {report.chunks} chunks in {report.seconds:.1f} s ({rate:.0f} chunks/s)"
    )
    if report.skipped:
        more = " …" if len(report.skipped) > 5 else ""
        console.print(f"skipped {len(report.skipped)} files of unsupported types: {', '.join(report.skipped[:5])}{more}")
    if report.removed:
        console.print(f"removed {len(report.removed)} documents no longer in the folder: {', '.join(report.removed[:5])}")
    for source, reason in report.failed:
        console.print(f"[red]failed[/] {source}: {reason}")


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="where the index lives [env RAGSERVE_DATA_DIR; default ./ragserve-data]",
)
@click.version_option(package_name="ragserve")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """ragserve: answers questions over your documents, with sources."""
    ctx.obj = {"data_dir": data_dir}


def _local_ingest(ctx: click.Context, path: Path, collection: str | None, *, mirror: bool) -> IngestReport:
    """Run an ingestion (or, with ``mirror``, a sync) in this process with a progress bar; print the summary."""

    async def go() -> IngestReport:
        settings = _settings(ctx)
        rag = build_rag(settings)
        await rag.start()
        try:
            name = collection or settings.default_collection
            with progress_bar("syncing" if mirror else "ingesting") as update:
                if mirror:
                    return await rag.ingestor.sync_path(path, name, update)
                return await rag.ingestor.ingest_path(path, name, update)
        finally:
            await rag.close()

    report = _run(lambda: asyncio.run(go()))
    print_report(report)
    return report


@cli.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--collection", "-c", default=None, help="collection to add to [default: default]")
@click.pass_context
def ingest(ctx: click.Context, path: Path, collection: str | None) -> None:
    """Index a folder (recursively) or a file. Unchanged files are skipped."""
    report = _local_ingest(ctx, path, collection, mirror=False)
    if report.failed and not report.indexed and not report.unchanged:
        sys.exit(1)


@cli.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--collection", "-c", default=None, help="collection to mirror PATH into [default: default]")
@click.pass_context
def sync(ctx: click.Context, path: Path, collection: str | None) -> None:
    """Make a collection mirror a folder: index new and changed files, remove vanished ones."""
    _local_ingest(ctx, path, collection, mirror=True)


@cli.command()
@click.argument("question")
@click.option("--collection", "-c", default=None, help="collection to search [default: default]")
@click.option("-k", type=click.IntRange(1, 100), default=None, help="how many sources")
@click.option("--mode", type=click.Choice(["dense", "keyword", "hybrid"]), default=None, help="retrieval mode [default: hybrid]")
@click.option("--json", "as_json", is_flag=True, help="print the JSON the HTTP API returns")
@click.pass_context
def query(ctx: click.Context, question: str, collection: str | None, k: int | None, mode: str | None, as_json: bool) -> None:
    """Answer QUESTION from the indexed documents and list the sources (the answer streams as it is written)."""
    from ragserve.server.schemas import QueryResponse

    async def go() -> QueryResponse:
        rag = build_rag(_settings(ctx))
        await rag.start()
        try:
            if as_json:
                return QueryResponse.of(await rag.query(question, collection, k, mode=mode))  # type: ignore[arg-type]
            prepared = await rag.prepare(question, collection, k, mode=mode)  # type: ignore[arg-type]
            loop = await rag.stream(prepared)
            async for text in loop.deltas():
                click.echo(text, nl=False)
            click.echo()
            assert loop.answer is not None
            return QueryResponse.of(loop.answer)
        finally:
            await rag.close()

    response = _run(lambda: asyncio.run(go()))
    if as_json:
        click.echo(json.dumps(response.model_dump(exclude_none=True), indent=2))
        return
    if response.invalid_citations:
        click.echo(f"(removed citations of sources that do not exist: {response.invalid_citations})")
    click.echo("\nSources:")
    for s in response.sources:
        mark = "*" if s.cited else " "
        where = f" ({s.location})" if s.location else ""
        click.echo(f" {mark}[{s.id}] {s.document}{where}  score {s.score:.3f}")


@cli.command()
@click.option("--docs", type=click.Path(exists=True, path_type=Path), default=None, help="ingest this folder before serving")
@click.option("--collection", "-c", default=None, help="collection for --docs [default: default]")
@click.option("--host", default=None, help="bind address [env RAGSERVE_SERVER__HOST; default 127.0.0.1]")
@click.option("--port", type=int, default=None, help="port [env RAGSERVE_SERVER__PORT; default 8000]")
@click.pass_context
def serve(ctx: click.Context, docs: Path | None, collection: str | None, host: str | None, port: int | None) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs), after ingesting --docs if given."""
    import uvicorn

    from ragserve.server.app import create_app

    settings = _run(lambda: _settings(ctx))
    host = host or settings.server.host
    port = port if port is not None else settings.server.port

    def report(event: str, rep: IngestReport) -> None:
        if event == "done":
            print_report(rep)

    app = create_app(settings, docs=docs, docs_collection=collection, on_progress=report)
    answers = f"LLM at {settings.llm.base_url}" if settings.llm.base_url else "extractive (no LLM configured)"
    console.print(f"ragserve: data in {settings.data_dir.resolve()}; answers: {answers}")
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


@cli.command()
@click.argument("job_id")
@click.option("--server", default="http://127.0.0.1:8000", show_default=True, help="the ragserve server that runs the job")
@click.option("--interval", type=float, default=0.5, show_default=True, help="seconds between polls")
def job(job_id: str, server: str, interval: float) -> None:
    """Follow a server's ingestion job (from a 202 answer) with a progress bar until it ends."""
    import time

    import httpx

    url = f"{server.rstrip('/')}/v1/jobs/{job_id}"
    with progress_bar("job") as update:
        while True:
            try:
                response = httpx.get(url, timeout=10)
            except httpx.TransportError as exc:
                raise click.ClickException(f"cannot reach {server}: {exc}\n  hint: check --server") from exc
            body = response.json()
            if response.status_code != 200:
                error = body.get("error", {})
                raise click.ClickException(f"{error.get('message', response.text)}\n  hint: {error.get('hint', '')}")
            report = IngestReport(files=body["files_total"], indexed=body["indexed"], unchanged=body["unchanged"], chunks=body["chunks"])
            report.failed = [(e["source"], e["reason"]) for e in body["errors"]]
            update("progress", report)
            if body["status"] not in ("queued", "running"):
                break
            time.sleep(interval)
    report.removed = body["removed"]
    print_report(report)
    if body["status"] != "succeeded":
        raise click.ClickException(f"job {body['status']}: {body['message']}")


@cli.command(name="eval")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="test", show_default=True, help="qrels/<split>.tsv to score against")
@click.option("--collection", "-c", default=None, help="collection to (re)use [default: eval-<folder name>]")
@click.option("--mode", "modes", multiple=True, type=click.Choice(["dense", "keyword", "hybrid"]), help="modes to score [default: all]")
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
@click.pass_context
def evaluate_cmd(ctx: click.Context, folder: Path, split: str, collection: str | None, modes: tuple[str, ...], as_json: bool) -> None:
    """Score retrieval on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).

    The corpus is ingested through the normal pipeline (unchanged documents are skipped on later runs),
    then every judged query is run in each mode and nDCG@10, recall@10, recall@100 and MRR@10 printed.
    """
    from ragserve.evaluation import beir_items, evaluate, load_beir, run_queries

    name = collection or f"eval-{folder.name}"[:63]

    async def go() -> dict[str, dict[str, float]]:
        data = load_beir(folder, split)
        rag = build_rag(_settings(ctx))
        await rag.start()
        try:
            items = beir_items(data)
            with progress_bar("ingesting corpus") as update:
                report = await rag.ingestor.ingest_items(items, name, total=len(items), progress=update)
            if not as_json:
                print_report(report)

            async def retrieve(question: str, mode: str) -> list[Hit]:
                return await rag.retrieve(question, name, 150, None, mode)  # type: ignore[arg-type]

            results = {}
            for mode in modes or ("dense", "keyword", "hybrid"):
                runs, qps = await run_queries(retrieve, data.queries, mode)
                results[mode] = {**evaluate(runs, data.qrels), "queries_per_s": qps}
            return results
        finally:
            await rag.close()

    results = _run(lambda: asyncio.run(go()))
    if as_json:
        click.echo(json.dumps({"dataset": folder.name, "split": split, "collection": name, "results": results}, indent=2))
        return
    click.echo(f"{'mode':8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'q/s':>7}")
    for mode, r in results.items():
        click.echo(
            f"{mode:8} {r['ndcg@10']:8.4f} {r['recall@10']:7.4f} {r['recall@100']:7.4f} {r['mrr@10']:7.4f} {r['queries_per_s']:7.1f}"
        )


def main() -> None:
    """Console entry point."""
    cli(prog_name="ragserve")


if __name__ == "__main__":
    main()
