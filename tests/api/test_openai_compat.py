"""ragserve as an OpenAI-compatible server, driven by the official ``openai`` client (streaming and not).

Offline (extractive) answers, fake embedder and memory store: what is under test is the wire format.
"""

from collections.abc import Iterator

import httpx
import openai
import pytest

from ragserve.server.app import create_app
from ragserve.settings import Settings
from ragserve.testing import parse_sse


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, serve_app: type) -> Iterator[str]:
    root = tmp_path_factory.mktemp("oa")
    docs = root / "docs"
    (docs / "guide").mkdir(parents=True)
    (docs / "guide/keys.md").write_text("# Keys\n\nRotate the KMS key every year to keep endpoints encrypted.\n")
    (docs / "train.md").write_text("# Training\n\nTraining jobs write model artifacts to an S3 bucket.\n")
    settings = Settings.load(data_dir=root / "data", embedder={"kind": "fake"}, store={"kind": "memory"})
    with serve_app(create_app(settings, docs=docs)) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as c:
        yield c


QUESTION = "Where do training jobs write model artifacts?"


def test_models_list_the_collections(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["ragserve/default"]
    assert models.data[0].object == "model" and models.data[0].owned_by == "ragserve"
    assert client.models.retrieve("ragserve/default").id == "ragserve/default"


def test_chat_completion_answers_with_sources(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="ragserve/default", messages=[{"role": "user", "content": QUESTION}])
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "ragserve/default"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content or ""
    assert content.startswith("Training jobs write model artifacts to an S3 bucket. [1]")
    assert content.endswith("\n\nSources:\n[1] Training — train.md › Training")  # the readable footer
    extra = completion.model_extra or {}
    assert extra["sources"][0]["document"] == "train.md" and extra["sources"][0]["cited"] is True
    assert extra["citations"][0]["source"] == 1
    assert completion.usage is not None and completion.usage.total_tokens == 0  # offline: no model tokens


def test_streamed_chat_completion_matches_the_whole_one(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="ragserve/default", messages=[{"role": "user", "content": QUESTION}])
    stream = client.chat.completions.create(
        model="ragserve/default",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert (chunks[0].model_extra or {})["sources"][0]["document"] == "train.md"  # sources come first
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    assert (finals[0].model_extra or {})["citations"][0]["source"] == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # include_usage: a last, usage-only chunk
    assert all(c.id == chunks[0].id and c.object == "chat.completion.chunk" for c in chunks)


def test_footer_can_be_turned_off_and_followups_are_condensed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="ragserve/default",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "How often should the KMS key be rotated?"},
            {"role": "assistant", "content": "Every year [1]."},
            {"role": "user", "content": [{"type": "text", "text": "Why is it rotated?"}]},  # content parts
        ],
        extra_body={"sources_footer": False, "k": 1},
    )
    content = completion.choices[0].message.content or ""
    assert "Sources:" not in content
    sources = (completion.model_extra or {})["sources"]
    assert len(sources) == 1 and sources[0]["document"] == "guide/keys.md"  # "it" resolved to the KMS key


def test_openai_errors_name_the_fix(client: openai.OpenAI, url: str) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="ragserve/nope", messages=[{"role": "user", "content": "q"}])
    assert "ragserve/default" in str(info.value)  # the hint lists the models there are
    with pytest.raises(openai.UnprocessableEntityError, match="last message must be the user"):
        client.chat.completions.create(model="ragserve/default", messages=[{"role": "assistant", "content": "hi"}])
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "ragserve", "messages": [{"role": "user", "content": "q"}], "n": 2})
    assert r.status_code == 422 and "n must be 1" in r.text
    # "ragserve" alone names the default collection; unknown OpenAI parameters are accepted
    r = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "ragserve", "messages": [{"role": "user", "content": QUESTION}], "temperature": 0.2, "presence_penalty": 0},
    )
    assert r.status_code == 200, r.text


def test_query_streams_sources_deltas_then_done(url: str) -> None:
    with httpx.stream("POST", f"{url}/v1/query", json={"question": QUESTION, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(r.iter_lines())
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done" and set(names[1:-1]) == {"delta"}
    sources, done = events[0][1], events[-1][1]
    assert sources["sources"][0]["document"] == "train.md"
    assert "".join(d["text"] for n, d in events if n == "delta") == done["answer"]
    assert done["cited"] == [1] and done["citations"][0]["text"] == "Training jobs write model artifacts to an S3 bucket."
    assert done["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "estimated": False}  # offline: no model
    whole = httpx.post(f"{url}/v1/query", json={"question": QUESTION}).json()
    assert whole["answer"] == done["answer"]


def test_query_errors_before_the_stream_keep_their_status(url: str) -> None:
    r = httpx.post(f"{url}/v1/query", json={"question": " ", "stream": True})
    assert r.status_code == 422 and r.json()["error"]["type"] == "EmptyQuery"
    r = httpx.post(f"{url}/v1/query", json={"question": "q", "collection": "nope", "stream": True})
    assert r.status_code == 404


def test_retrieval_only(url: str) -> None:
    body = httpx.post(f"{url}/v1/query", json={"question": QUESTION, "generate": False}).json()
    assert body["mode"] == "retrieval" and body["answer"] == "" and body["sources"][0]["document"] == "train.md"
    with httpx.stream("POST", f"{url}/v1/query", json={"question": QUESTION, "generate": False, "stream": True}) as r:
        events = parse_sse(r.iter_lines())
    assert [n for n, _ in events] == ["sources", "done"] and events[-1][1]["mode"] == "retrieval"
