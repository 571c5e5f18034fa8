"""`ragserve serve --docs` as a real process: real model, embedded Chroma, HTTP on a free loopback port."""

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragserve.testing import free_port, wait_until_ready

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[str]:
    docs = tmp_path_factory.mktemp("docs")
    guide = shared_data / "sagemaker-developer-guide/doc_source"
    for name in ("encryption-at-rest.md", "canvas-kms.md", "encryption-in-transit.md", "deploy-model.md", "whatis.md"):
        shutil.copy(guide / name, docs / name)
    shutil.copy(shared_data / "format-samples/pdf/multicolumn.pdf", docs / "multicolumn.pdf")
    shutil.copy(shared_data / "format-samples/pdf/libreoffice-writer-password.pdf", docs / "locked.pdf")
    shutil.copy(shared_data / "format-samples/docx/handbook-1p.docx", docs / "handbook.docx")
    shutil.copy(shared_data / "format-samples/html/wikipedia-mozilla.html", docs / "mozilla.html")
    port = free_port()
    env = {**os.environ, "RAGSERVE_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    env.pop("RAGSERVE_LLM__BASE_URL", None)
    log_path = tmp_path_factory.mktemp("log") / "server.log"
    log = log_path.open("w+")  # noqa: SIM115 - kept open for the server's lifetime
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragserve.cli", "serve", "--docs", str(docs), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/readyz", proc, timeout=240, log=log_path)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_answers_with_sources_from_the_ingested_folder(server: str) -> None:
    r = httpx.post(f"{server}/v1/query", json={"question": "How is data at rest encrypted in SageMaker?"}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "extractive" and body["citations"]
    # hybrid retrieval ranks canvas-kms.md (also about encryption at rest) near it
    assert "encryption-at-rest.md" in [s["document"] for s in body["sources"][:3]]
    cited = body["sources"][body["citations"][0]["source"] - 1]
    assert body["citations"][0]["text"] in cited["text"]


def test_every_format_was_ingested_and_the_broken_one_reported(server: str) -> None:
    cols = httpx.get(f"{server}/v1/collections").json()
    assert cols[0]["name"] == "default" and cols[0]["documents"] == 9  # 8 indexed + locked.pdf recorded as failed
    pdf = httpx.post(f"{server}/v1/query", json={"question": "two column lorem ipsum", "filters": {"source": "multicolumn.pdf"}}).json()
    assert pdf["sources"] and pdf["sources"][0]["location"].startswith("page ")
    html = httpx.post(f"{server}/v1/query", json={"question": "Who founded Mozilla?", "filters": {"source": "mozilla.html"}}).json()
    assert html["sources"][0]["document"] == "mozilla.html"
    docx = httpx.post(f"{server}/v1/query", json={"question": "standing trustee handbook", "k": 3}).json()
    assert "handbook.docx" in {s["document"] for s in docx["sources"]}


def test_errors_over_the_wire(server: str) -> None:
    r = httpx.post(f"{server}/v1/query", json={"question": ""})
    assert r.status_code == 422 and r.json()["error"]["type"] == "EmptyQuery"
    r = httpx.post(f"{server}/v1/query", json={"question": "x", "collection": "missing"})
    assert r.status_code == 404 and r.json()["error"]["hint"]


def test_cli_follows_an_upload_job(server: str, tmp_path: Path) -> None:
    upload = httpx.post(
        f"{server}/v1/collections/default/documents",
        files=[("files", ("followed.md", b"# Followed\n\nA page uploaded to test the job follower.\n", "text/markdown"))],
    )
    assert upload.status_code == 202
    done = subprocess.run(
        [sys.executable, "-m", "ragserve.cli", "job", upload.json()["id"], "--server", server, "--interval", "0.2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 files: 1 indexed" in " ".join(done.stderr.split())
    missing = subprocess.run([sys.executable, "-m", "ragserve.cli", "job", "nope", "--server", server], capture_output=True, text=True)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
