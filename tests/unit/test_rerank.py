"""The /rerank client against a loopback HTTP server that speaks the wire format (scores by word overlap)."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ragserve.answer.extractive import ExtractiveGenerator
from ragserve.backends.rerankers.endpoint import RerankEndpoint
from ragserve.core.errors import BackendError, BackendUnavailable
from ragserve.core.types import Chunk, Hit
from ragserve.pipeline import build_rag
from ragserve.settings import Settings


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/rerank" or body.get("model") != "m":
            self.send_response(404)
            self.end_headers()
            return
        query = set(body["query"].lower().split())
        scores = [len(query & set(d.lower().split())) for d in body["documents"]]
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[: body["top_n"]]
        out = json.dumps({"results": [{"index": i, "relevance_score": float(scores[i])} for i in ranked]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def hit(cid: str, text: str, score: float) -> Hit:
    return Hit(Chunk(cid, "d", f"{cid}.md", text, 0, len(text)), score)


async def test_rerank_reorders_and_cuts(server: str) -> None:
    client = RerankEndpoint(server, "m")
    hits = [hit("a", "nothing relevant here", 0.9), hit("b", "kms key rotation for endpoints", 0.5), hit("c", "kms", 0.4)]
    out = await client.rerank("kms key rotation", hits, 2)
    assert [(h.chunk.id, h.score) for h in out] == [("b", 3.0), ("c", 1.0)]
    await client.close()


async def test_rerank_errors(server: str) -> None:
    with pytest.raises(BackendError, match="404"):
        await RerankEndpoint(server, "other-model").rerank("q", [hit("a", "x", 1.0)], 1)
    with pytest.raises(BackendUnavailable) as err:
        await RerankEndpoint("http://127.0.0.1:9/v1", "m").rerank("q", [hit("a", "x", 1.0)], 1)
    assert "RAGSERVE_RERANK__BASE_URL" in err.value.hint


async def test_pipeline_uses_the_reranker(server: str, tmp_path: Path) -> None:
    settings = Settings.load(
        data_dir=tmp_path / "d", embedder={"kind": "fake"}, store={"kind": "memory"}, rerank={"base_url": server, "model": "m"}
    )
    rag = build_rag(settings, generator=ExtractiveGenerator())
    await rag.start()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Keys\n\nRotate the KMS key every year.\n")
    (docs / "b.md").write_text("# Jobs\n\nTraining jobs write model artifacts to S3.\n")
    await rag.ingestor.ingest_path(docs, "default")
    answer = await rag.query("where do training jobs write model artifacts", k=1)
    assert [h.chunk.source for h in answer.hits] == ["b.md"] and answer.hits[0].score >= 4.0  # the reranker's score
    await rag.close()
