"""Query latency and throughput of a running ``ragserve serve`` (extractive mode) at several concurrencies.

    python benchmarks/bench_query.py --data-dir DIR [--collection C] [--seconds S] [--concurrency 1 8 32]

DIR must hold an index (for example the SageMaker guide: ``ragserve --data-dir DIR ingest
../shared/data/sagemaker-developer-guide``); without ``--data-dir`` the first 300 guide pages are
ingested into a temporary one. The server runs in a child process on a free loopback port. Load comes
from closed-loop clients on keep-alive connections (a minimal asyncio HTTP/1.1 client, so the load
generator costs little CPU next to the server on a 2-core machine). Every question is distinct (built
from the guide's section headings), so nothing is answered from a cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import GUIDE, machine, median, percentile, ragserve  # noqa: E402

from ragserve.testing import free_port  # noqa: E402

HEADING = re.compile(r"^#{1,4}\s+(.+?)(?:<a name=.*)?$", re.MULTILINE)


def questions() -> list[str]:
    """Distinct questions from the guide's headings."""
    seen: dict[str, None] = {}
    for path in sorted(GUIDE.glob("*.md")):
        for m in HEADING.finditer(path.read_text(errors="ignore")):
            text = re.sub(r"\\(.)", r"\1", m.group(1)).strip()
            if len(text.split()) >= 2:
                seen.setdefault(f"What about {text}?", None)
    return list(seen)


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads the response by Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        self.reader, self.writer, self.port = reader, writer, port

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, port)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return int(status_line.split()[1]), await self.reader.readexactly(length)


def summary(latencies: list[float], elapsed: float, errors: int, next_question: int) -> dict[str, float]:
    """Throughput and latency percentiles of one run; ``next`` is where the next run's questions start."""
    return {
        "qps": len(latencies) / elapsed,
        "p50_ms": median(latencies),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "requests": len(latencies),
        "errors": errors,
        "next": next_question,
    }


async def load(port: int, collection: str, qs: list[str], concurrency: int, seconds: float, offset: int) -> dict[str, float]:
    """Closed-loop load: ``concurrency`` clients, each sending its next question as soon as it has an answer."""
    latencies: list[float] = []
    errors = 0
    cursor = offset
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal cursor, errors
        conn = await Connection.open(port)
        while time.perf_counter() < deadline:
            q = qs[cursor % len(qs)]
            cursor += 1
            body = json.dumps({"question": q, "collection": collection}).encode()
            t = time.perf_counter()
            status, _ = await conn.post("/v1/query", body)
            latencies.append((time.perf_counter() - t) * 1e3)
            errors += status != 200
        conn.writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return summary(latencies, elapsed, errors, cursor)


async def open_loop(
    port: int, collection: str, qs: list[str], rate: float, concurrency: int, seconds: float, offset: int
) -> dict[str, float]:
    """Open-loop load: Poisson arrivals at ``rate``/s over ``concurrency`` keep-alive connections.

    Latency counts from the scheduled send time, so waiting for a free connection is included (no
    coordinated omission): this measures whether the server sustains ``rate`` within a latency bound.
    """
    import random

    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(concurrency):
        pool.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    errors = 0
    rng = random.Random(offset)

    async def one(q: str, scheduled: float) -> None:
        nonlocal errors
        conn = await pool.get()
        status, _ = await conn.post("/v1/query", json.dumps({"question": q, "collection": collection}).encode())
        latencies.append((time.perf_counter() - scheduled) * 1e3)
        errors += status != 200
        pool.put_nowait(conn)

    tasks = []
    started = time.perf_counter()
    next_at = started
    i = offset
    while next_at < started + seconds:
        next_at += rng.expovariate(rate)
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(qs[i % len(qs)], next_at)))
        i += 1
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    while not pool.empty():
        pool.get_nowait().writer.close()
    return {"offered_qps": rate, **summary(latencies, elapsed, errors, i)}


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "ragserve"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_LLM")}
    return subprocess.Popen(
        [str(exe), "--data-dir", str(data_dir), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            if b" 200 " in await reader.readline():
                writer.close()
                return
            writer.close()
        except OSError:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError("server did not become ready")


async def bench(data_dir: Path, collection: str, seconds: float, levels: list[int], rounds: int, rate: float) -> None:
    port = free_port()
    server = start_server(data_dir, port)
    try:
        await wait_ready(port)
        qs = questions()
        print(f"machine: {machine()}")
        print(f"{len(qs)} distinct questions; {seconds:g} s per level; {rounds} round(s), levels interleaved")
        warm = await load(port, collection, qs, 8, 3, 0)
        cursor = int(warm["next"])
        results: dict[int, list[dict[str, float]]] = {c: [] for c in levels}
        for r in range(rounds):
            for c in levels:
                res = await load(port, collection, qs, c, seconds, cursor)
                cursor = int(res["next"])
                results[c].append(res)
                print(f"round {r + 1} c={c}: " + ", ".join(f"{k} {v:.1f}" for k, v in res.items() if k != "next"), flush=True)
        for c in levels:
            rows = results[c]
            print(
                f"median c={c}: "
                + ", ".join(f"{k} {median([x[k] for x in rows]):.1f}" for k in ("qps", "p50_ms", "p90_ms", "p99_ms", "errors"))
            )
        if rate:
            runs = []
            for r in range(rounds):
                res = await open_loop(port, collection, qs, rate, max(levels), seconds, cursor)
                cursor = int(res["next"])
                runs.append(res)
                shown = ", ".join(f"{k} {v:.1f}" for k, v in res.items() if k != "next")
                print(f"round {r + 1} open loop {rate:g}/s over {max(levels)} connections: {shown}", flush=True)
            keys = ("qps", "p50_ms", "p90_ms", "p99_ms", "errors")
            print(f"median open loop {rate:g}/s: " + ", ".join(f"{k} {median([x[k] for x in runs]):.1f}" for k in keys))
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--collection", default="default")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rate", type=float, default=300, help="open-loop arrival rate per second (0: skip)")
    args = parser.parse_args()
    if args.data_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            docs = Path(tmp) / "docs"
            docs.mkdir()
            for p in sorted(GUIDE.glob("*.md"))[:300]:
                (docs / p.name).write_bytes(p.read_bytes())
            ragserve("--data-dir", f"{tmp}/data", "ingest", str(docs))
            asyncio.run(bench(Path(tmp) / "data", args.collection, args.seconds, args.concurrency, args.rounds, args.rate))
    else:
        asyncio.run(bench(args.data_dir, args.collection, args.seconds, args.concurrency, args.rounds, args.rate))


if __name__ == "__main__":
    main()
