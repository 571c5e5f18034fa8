"""Uploads, URLs, syncs and jobs over HTTP (fake embedder; real Chroma and tantivy)."""

import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragserve.server.app import create_app
from ragserve.settings import Settings

from .test_api import assert_error


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings.load(data_dir=tmp_path / "data", embedder={"kind": "fake"}, server={"max_upload_mb": 1})
    with TestClient(create_app(settings)) as c:
        yield c


def wait(client: TestClient, job: dict[str, object]) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job['id']}").json()
        if body["status"] not in ("queued", "running"):
            return body  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job did not finish: {body}")


def test_upload_many_files_as_a_job(client: TestClient, shared_data: Path) -> None:
    pdf = (shared_data / "format-samples/pdf/multicolumn.pdf").read_bytes()
    files = [
        ("files", ("keys.md", b"# Keys\n\nRotate the KMS key every year.\n", "text/markdown")),
        ("files", ("paper.pdf", pdf, "application/pdf")),
        ("files", ("notes/plain.txt", b"Plain notes about endpoints and quotas.", "text/plain")),
    ]
    r = client.post("/v1/collections/default/documents", files=files)
    assert r.status_code == 202 and r.json()["status"] in ("queued", "running")
    done = wait(client, r.json())
    assert (done["status"], done["files_total"], done["files_done"], done["indexed"]) == ("succeeded", 3, 3, 3)
    assert done["chunks"] >= 3 and done["errors"] == []
    sources = {d["source"] for d in client.get("/v1/collections/default/documents").json()["documents"]}
    assert sources == {"keys.md", "paper.pdf", "notes/plain.txt"}
    assert client.get("/v1/jobs").json()[0]["id"] == done["id"]
    again = wait(client, client.post("/v1/collections/default/documents", files=files[:1]).json())
    assert (again["indexed"], again["unchanged"]) == (0, 1)  # same bytes: nothing to do


def test_upload_errors(client: TestClient) -> None:
    body = assert_error(
        client.post("/v1/collections/default/documents", files=[("files", ("a.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"))]),
        415,
        "UnsupportedMediaType",
    )
    assert "PDF" in body["hint"] and ".docx" in body["hint"]
    assert_error(
        client.post("/v1/collections/default/documents", files=[("files", ("a.xlsx", b"col1,col2", "text/plain"))]),
        415,
        "UnsupportedMediaType",
    )
    big = b"word " * (300 * 1024)  # 1.5 MiB, over the 1 MiB limit
    body = assert_error(
        client.post("/v1/collections/default/documents", files=[("files", ("big.txt", big, "text/plain"))]), 413, "PayloadTooLarge"
    )
    assert "RAGSERVE_SERVER__MAX_UPLOAD_MB" in body["hint"]
    assert_error(
        client.post("/v1/collections/nope/documents", files=[("files", ("a.md", b"# x\n\ny", "text/markdown"))]), 404, "CollectionNotFound"
    )
    assert_error(client.post("/v1/collections/default/documents"), 422, "InvalidInput")
    assert_error(client.get("/v1/jobs/unknown"), 404, "NotFound")


def test_a_broken_file_fails_alone_in_its_job(client: TestClient) -> None:
    files = [
        ("files", ("ok.md", b"# Ok\n\nFine text here.\n", "text/markdown")),
        ("files", ("bad.pdf", b"%PDF-1.4 broken", "application/pdf")),
    ]
    done = wait(client, client.post("/v1/collections/default/documents", files=files).json())
    assert done["status"] == "succeeded" and done["indexed"] == 1
    assert [e["source"] for e in done["errors"]] == ["bad.pdf"] and "PDF" in done["errors"][0]["reason"]


def test_replace_a_document(client: TestClient) -> None:
    wait(
        client,
        client.post(
            "/v1/collections/default/documents", files=[("files", ("k.md", b"# K\n\nOld text about rotation.\n", "text/markdown"))]
        ).json(),
    )
    doc = client.get("/v1/collections/default/documents").json()["documents"][0]
    done = wait(
        client,
        client.put(f"/v1/collections/default/documents/{doc['id']}", files={"file": ("any.md", b"# K\n\nNew text about quotas.\n")}).json(),
    )
    assert done["indexed"] == 1
    chunks = client.get(f"/v1/collections/default/documents/{doc['id']}/chunks").json()
    assert "quotas" in chunks[0]["text"] and all("rotation" not in c["text"] for c in chunks)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "site").mkdir()
    (tmp_path / "site/page.html").write_text(
        "<html><head><title>Quotas</title></head><body><main><h1>Quotas</h1>"
        "<p>Each account has a quota of ten endpoints.</p></main></body></html>"
    )

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path / "site"), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_add_by_url(client: TestClient, site: str) -> None:
    done = wait(client, client.post("/v1/collections/default/documents/url", json={"url": f"{site}/page.html"}).json())
    assert done["status"] == "succeeded" and done["indexed"] == 1
    answer = client.post("/v1/query", json={"question": "How many endpoints does the quota allow?"}).json()
    assert answer["sources"][0]["document"] == f"{site}/page.html" and answer["sources"][0]["title"] == "Quotas"
    missing = wait(client, client.post("/v1/collections/default/documents/url", json={"url": f"{site}/missing.html"}).json())
    assert missing["indexed"] == 0 and "404" in missing["errors"][0]["reason"]
    assert_error(client.post("/v1/collections/default/documents/url", json={"url": "ftp://x"}), 422, "InvalidInput")


def test_sync_job_and_cancel(client: TestClient, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nText a.\n")
    (folder / "b.md").write_text("# B\n\nText b.\n")
    done = wait(client, client.post("/v1/collections/default/sync", json={"path": str(folder)}).json())
    assert done["indexed"] == 2
    (folder / "b.md").unlink()
    done = wait(client, client.post("/v1/collections/default/sync", json={"path": str(folder)}).json())
    assert done["removed"] == ["b.md"]
    assert_error(client.post("/v1/collections/default/sync", json={"path": str(tmp_path / "nope")}), 422, "InvalidInput")
    cancelled = client.delete(f"/v1/jobs/{done['id']}").json()
    assert cancelled["status"] == "succeeded"  # a finished job stays as it was


def test_document_statuses_while_queued(client: TestClient) -> None:
    first = wait(
        client, client.post("/v1/collections/default/documents", files=[("files", ("a.md", b"# A\n\nText.\n", "text/markdown"))]).json()
    )
    assert first["status"] == "succeeded"
    lock = client.app.state.jobs._locks["default"]  # type: ignore[attr-defined]
    client.portal.call(lock.acquire)  # hold the collection's job queue so the next upload stays queued
    try:
        job = client.post("/v1/collections/default/documents", files=[("files", ("b.md", b"# B\n\nMore text.\n", "text/markdown"))]).json()
        queued = client.get("/v1/collections/default/documents", params={"status": "queued"}).json()["documents"]
        assert [d["source"] for d in queued] == ["b.md"] and queued[0]["chunks"] == 0
        client.delete(f"/v1/jobs/{job['id']}")
    finally:
        lock.release()
    assert wait(client, job)["status"] == "cancelled"
    assert [d["source"] for d in client.get("/v1/collections/default/documents").json()["documents"]] == ["a.md"]
