"""Builds backends from settings. The only module that imports backend modules.

Built-ins register here; third-party packages add factories under the ``ragserve.backends`` entry-point
group (``name = "pkg.module:factory"``, where the factory takes the Settings and returns the component;
names are ``embedder.<kind>``, ``store.<kind>`` or ``generator.<kind>``).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from ragserve.core.errors import ConfigError
from ragserve.core.protocols import Embedder, Generator, KeywordIndex, Reranker, VectorStore
from ragserve.settings import Settings


def _local_embedder(s: Settings) -> Embedder:
    from ragserve.backends.embedders.local import LocalEmbedder

    e = s.embedder
    return LocalEmbedder(
        model=e.model,
        model_path=e.model_path,
        cache_dir=s.data_dir / "models",
        quantize=e.quantize,
        threads=e.threads,
        batch_size=e.batch_size,
        max_tokens=e.max_tokens,
        spin_wait=e.spin_wait,
    )


def _fake_embedder(s: Settings) -> Embedder:
    from ragserve.backends.embedders.fake import FakeEmbedder

    return FakeEmbedder()


def _chroma_store(s: Settings) -> VectorStore:
    from ragserve.backends.stores.chroma import ChromaStore

    return ChromaStore(path=s.data_dir / "chroma", url=s.store.url, hnsw_ef_search=s.store.ef_search)


def _memory_store(s: Settings) -> VectorStore:
    from ragserve.backends.stores.memory import MemoryStore

    return MemoryStore()


def _tantivy_keyword(s: Settings) -> KeywordIndex | None:
    from ragserve.backends.keyword.tantivy import TantivyKeywordIndex

    return TantivyKeywordIndex(s.data_dir / "keyword")


def _no_keyword(s: Settings) -> KeywordIndex | None:
    return None


def _openai_generator(s: Settings) -> Generator:
    from ragserve.answer.budget import token_counter
    from ragserve.answer.llm import LLMGenerator
    from ragserve.answer.prompts import PromptTemplate
    from ragserve.backends.llms.openai import OpenAIChat

    return LLMGenerator(OpenAIChat(s.llm), s.llm, PromptTemplate.load(s.llm.prompt_file), token_counter(s.llm.tokenizer))


def _extractive_generator(s: Settings) -> Generator:
    from ragserve.answer.extractive import ExtractiveGenerator

    return ExtractiveGenerator()


BUILTINS: dict[str, Callable[[Settings], Any]] = {
    "embedder.local": _local_embedder,
    "embedder.fake": _fake_embedder,
    "store.chroma": _chroma_store,
    "store.memory": _memory_store,
    "keyword.tantivy": _tantivy_keyword,
    "keyword.none": _no_keyword,
    "generator.openai": _openai_generator,
    "generator.extractive": _extractive_generator,
}


def _factory(slot: str, kind: str) -> Callable[[Settings], Any]:
    name = f"{slot}.{kind}"
    if name in BUILTINS:
        return BUILTINS[name]
    for ep in entry_points(group="ragserve.backends"):
        if ep.name == name:
            return ep.load()  # type: ignore[no-any-return]
    choices = sorted(n.split(".", 1)[1] for n in BUILTINS if n.startswith(slot + "."))
    raise ConfigError(f"unknown {slot} kind {kind!r}", hint=f"set RAGSERVE_{slot.upper()}__KIND to one of {choices}")


def build_embedder(s: Settings) -> Embedder:
    """The embedder named by ``embedder.kind``."""
    return _factory("embedder", s.embedder.kind)(s)  # type: ignore[no-any-return]


def build_store(s: Settings) -> VectorStore:
    """The vector store named by ``store.kind``."""
    return _factory("store", s.store.kind)(s)  # type: ignore[no-any-return]


def build_keyword(s: Settings) -> KeywordIndex | None:
    """The keyword index named by ``retrieval.keyword_index`` (None for ``none``)."""
    return _factory("keyword", s.retrieval.keyword_index)(s)  # type: ignore[no-any-return]


def build_reranker(s: Settings) -> Reranker | None:
    """The ``/rerank`` endpoint client when ``rerank.base_url`` is set."""
    if not s.rerank.base_url:
        return None
    from ragserve.backends.rerankers.endpoint import RerankEndpoint

    key = s.rerank.api_key.get_secret_value() if s.rerank.api_key else None
    return RerankEndpoint(s.rerank.base_url, s.rerank.model, key, s.rerank.timeout)


def build_generator(s: Settings) -> Generator:
    """The LLM generator when ``llm.base_url`` is set, else the extractive one."""
    return _factory("generator", "openai" if s.llm.base_url else "extractive")(s)  # type: ignore[no-any-return]
