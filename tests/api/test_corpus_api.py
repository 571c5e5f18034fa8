"""Collections and documents over HTTP, errors included (fake embedder, memory store, real tantivy)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragserve.server.app import create_app
from ragserve.settings import Settings

from .test_api import assert_error


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    docs = tmp_path / "docs"
    (docs / "guide").mkdir(parents=True)
    (docs / "guide/keys.md").write_text("# Keys\n\nRotate the KMS key every year.\n\n## More\n\n" + "More words here. " * 200)
    (docs / "train.md").write_text("# Training\n\nTraining jobs write model artifacts to an S3 bucket.\n")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    settings = Settings.load(data_dir=tmp_path / "data", embedder={"kind": "fake"}, store={"kind": "memory"})
    with TestClient(create_app(settings, docs=docs)) as c:
        yield c


def test_collections_lifecycle(client: TestClient) -> None:
    r = client.post("/v1/collections", json={"name": "manuals", "description": "product manuals"})
    assert r.status_code == 201 and r.json()["description"] == "product manuals" and r.json()["documents"] == 0
    assert_error(client.post("/v1/collections", json={"name": "manuals"}), 409, "Conflict")
    assert_error(client.post("/v1/collections", json={"name": "bad name!"}), 422, "InvalidInput")
    body = assert_error(client.post("/v1/collections", json={"name": "other", "embedder": "bge-small"}), 422, "InvalidInput")
    assert "RAGSERVE_EMBEDDER__MODEL" in body["hint"]
    assert client.post("/v1/collections", json={"name": "same", "embedder": "fake"}).json()["embedder"] == "fake"
    names = [c["name"] for c in client.get("/v1/collections").json()]
    assert names == ["default", "manuals", "same"]
    default = client.get("/v1/collections/default").json()
    assert default["documents"] == 3 and default["chunks"] >= 3 and default["updated_at"] > 0
    assert client.delete("/v1/collections/manuals").status_code == 204
    assert_error(client.get("/v1/collections/manuals"), 404, "CollectionNotFound")
    assert_error(client.delete("/v1/collections/manuals"), 404, "CollectionNotFound")


def test_documents_list_get_chunks_delete(client: TestClient) -> None:
    page = client.get("/v1/collections/default/documents", params={"limit": 2}).json()
    assert page["total"] == 3 and [d["source"] for d in page["documents"]] == ["broken.pdf", "guide/keys.md"]
    failed = client.get("/v1/collections/default/documents", params={"status": "failed"}).json()["documents"]
    assert [(d["source"], d["status"]) for d in failed] == [("broken.pdf", "failed")] and "PDF" in failed[0]["error"]
    keys = next(d for d in page["documents"] if d["source"] == "guide/keys.md")
    one = client.get(f"/v1/collections/default/documents/{keys['id']}").json()
    assert one["status"] == "indexed" and one["chunks"] >= 2 and len(one["content_hash"]) == 64 and one["indexed_at"]
    chunks = client.get(f"/v1/collections/default/documents/{keys['id']}/chunks").json()
    assert len(chunks) == one["chunks"] and chunks[0]["start"] == 0 and chunks[0]["text"].startswith("Keys")
    assert client.delete(f"/v1/collections/default/documents/{keys['id']}").status_code == 204
    assert_error(client.get(f"/v1/collections/default/documents/{keys['id']}"), 404, "DocumentNotFound")
    assert_error(client.delete(f"/v1/collections/default/documents/{keys['id']}"), 404, "DocumentNotFound")
    hits = client.post("/v1/query", json={"question": "rotate the KMS key", "k": 5}).json()["sources"]
    assert all(s["document"] != "guide/keys.md" for s in hits)
    assert_error(client.get("/v1/collections/nope/documents"), 404, "CollectionNotFound")
    assert_error(client.get("/v1/collections/default/documents", params={"limit": 0}), 422, "InvalidInput")
