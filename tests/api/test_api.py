"""HTTP API: status codes and error bodies, with the in-package fakes (fake embedder, memory store)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragserve.server.app import create_app
from ragserve.settings import Settings
from ragserve.testing import free_port


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "guide").mkdir(parents=True)
    (folder / "guide/keys.md").write_text("# Keys\n\nRotate the KMS key every year to keep endpoints encrypted.\n")
    (folder / "train.md").write_text("# Training\n\nTraining jobs write model artifacts to an S3 bucket.\n")
    return folder


def make_client(tmp_path: Path, docs: Path, **overrides: object) -> TestClient:
    settings = Settings.load(data_dir=tmp_path / "data", embedder={"kind": "fake"}, store={"kind": "memory"}, **overrides)
    return TestClient(create_app(settings, docs=docs))


@pytest.fixture
def client(tmp_path: Path, docs: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, docs) as c:
        yield c


def assert_error(response: object, status: int, type_: str) -> dict[str, str]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()["error"]  # type: ignore[attr-defined]
    assert set(body) == {"type", "message", "hint"} and body["type"] == type_ and body["message"]
    return body  # type: ignore[no-any-return]


def test_query_returns_answer_citations_sources_timings(client: TestClient) -> None:
    r = client.post("/v1/query", json={"question": "Where do training jobs write model artifacts?", "k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "extractive"
    assert body["sources"][0]["document"] == "train.md"
    assert body["sources"][0]["cited"] is True and body["sources"][0]["id"] == 1
    assert body["citations"][0]["source"] == 1 and "[1]" in body["answer"]
    assert {"retrieve_ms", "generate_ms", "total_ms"} <= set(body["timings"])
    assert {"document", "title", "location", "text", "score"} <= set(body["sources"][0])


def test_filter_on_source(client: TestClient) -> None:
    r = client.post("/v1/query", json={"question": "model artifacts", "filters": {"source": ["guide/keys.md"]}})
    assert r.status_code == 200
    assert {s["document"] for s in r.json()["sources"]} == {"guide/keys.md"}


def test_empty_question_is_422(client: TestClient) -> None:
    body = assert_error(client.post("/v1/query", json={"question": "  "}), 422, "EmptyQuery")
    assert "question" in body["hint"]


def test_malformed_bodies_are_422_in_the_error_shape(client: TestClient) -> None:
    assert_error(client.post("/v1/query", json={}), 422, "InvalidInput")
    assert_error(client.post("/v1/query", json={"question": "q", "k": 0}), 422, "InvalidInput")
    assert_error(client.post("/v1/query", json={"question": "q", "bogus": 1}), 422, "InvalidInput")
    assert_error(client.post("/v1/query", content=b"not json", headers={"content-type": "application/json"}), 422, "InvalidInput")
    assert_error(client.post("/v1/query", json={}), 422, "InvalidInput")
    assert_error(client.post("/v1/query", json={"messages": [{"role": "assistant", "content": "hi"}]}), 422, "InvalidInput")


def test_unknown_collection_is_404_with_the_known_ones(client: TestClient) -> None:
    body = assert_error(client.post("/v1/query", json={"question": "q", "collection": "nope"}), 404, "CollectionNotFound")
    assert "default" in body["hint"]


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing"), 404, "HTTPError")


def test_health_ready_collections_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["answerer"] == "extractive"
    (col,) = client.get("/v1/collections").json()
    assert (col["name"], col["documents"], col["chunks"], col["embedder"]) == ("default", 2, 2, "fake")
    spec = client.get("/openapi.json").json()
    assert "/v1/query" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_unreachable_llm_is_503_naming_the_setting(tmp_path: Path, docs: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with make_client(tmp_path, docs, llm={"base_url": url, "timeout": 5}) as c:
        body = assert_error(c.post("/v1/query", json={"question": "model artifacts"}), 503, "BackendUnavailable")
        assert "RAGSERVE_LLM__BASE_URL" in body["hint"]
        assert c.get("/readyz").json()["answerer"] == "llm"
