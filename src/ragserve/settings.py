"""One settings tree, read from ``RAGSERVE_*`` environment variables (nested with ``__``) and an
optional YAML or TOML file named by ``RAGSERVE_CONFIG``.

Examples: ``RAGSERVE_DATA_DIR=/srv/rag``, ``RAGSERVE_STORE__KIND=chroma``,
``RAGSERVE_LLM__BASE_URL=http://127.0.0.1:8080/v1``, ``RAGSERVE_LLM__API_KEY=sk-...``.
Build it once at the entry point (``Settings.load()``) and pass it down; nothing reads it at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ragserve.core.errors import ConfigError


class EmbedderSettings(BaseModel):
    """Which model embeds chunks and questions."""

    kind: Literal["local", "fake"] = "local"
    model: str = "all-MiniLM-L6-v2"
    model_path: str | None = Field(None, description="folder with config.json, model.safetensors, tokenizer.json")
    quantize: bool = Field(True, description="int8 weights: ~1.6x faster on CPU, cosine 0.993 to fp32")
    threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads; 0 = all cores")
    batch_size: int = Field(32, ge=1, le=1024)
    spin_wait: bool = Field(False, description="let idle ONNX Runtime threads spin: faster alone, slower beside a busy server")
    max_tokens: int = Field(256, ge=16, le=512, description="model window; longer inputs are truncated")


class StoreSettings(BaseModel):
    """Where vectors live."""

    kind: Literal["chroma", "memory"] = "chroma"
    url: str | None = Field(None, description="Chroma server URL; empty = embedded under data_dir")
    ef_search: int = Field(100, ge=10, le=2000, description="HNSW search breadth (recall vs speed)")


class ChunkSettings(BaseModel):
    """How documents are cut, in model tokens."""

    max_tokens: int = Field(200, ge=16, le=480)
    overlap: int = Field(32, ge=0)
    min_tokens: int = Field(24, ge=0)

    @model_validator(mode="after")
    def _overlap_fits(self) -> ChunkSettings:
        if self.overlap >= self.max_tokens // 2:
            raise ValueError("chunk.overlap must be less than half of chunk.max_tokens (RAGSERVE_CHUNK__OVERLAP)")
        return self


class RetrievalSettings(BaseModel):
    """How chunks are found: dense vectors, BM25 keywords, or both fused."""

    mode: Literal["dense", "keyword", "hybrid"] = "hybrid"
    keyword_index: Literal["tantivy", "none"] = "tantivy"
    fusion: Literal["rrf", "zscore", "minmax"] = "zscore"
    dense_weight: float = Field(0.5, ge=0, le=1, description="weight of the dense side in score fusion")
    candidates: int = Field(50, ge=1, le=1000, description="candidates each side contributes to fusion")


class RerankSettings(BaseModel):
    """An optional reranker behind a ``/rerank`` endpoint (vLLM, TEI, llama.cpp, Jina, Cohere)."""

    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:8081/v1; unset = no reranking")
    model: str = "reranker"
    api_key: SecretStr | None = None
    candidates: int = Field(20, ge=1, le=200, description="hits sent to the reranker; the best k are kept")
    timeout: float = Field(30.0, gt=0)


class LLMSettings(BaseModel):
    """An OpenAI-compatible chat server; without a base_url, answers are extractive (offline)."""

    base_url: str | None = Field(None, description="e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1")
    model: str = "gpt-4o-mini"
    api_key: SecretStr | None = None
    api: Literal["chat", "completions"] = Field("chat", description="chat models (/chat/completions) or plain completion models")
    temperature: float = Field(0.1, ge=0, le=2)
    max_tokens: int = Field(512, ge=1, description="longest answer, in tokens; kept free in the context window")
    context_window: int | None = Field(
        None, ge=256, description="the model's context length in tokens (sources are cut to fit); unset = asked of the server, else 8192"
    )
    tokenizer: str | None = Field(None, description="the model's tokenizer.json for exact token counts; unset = a safe estimate")
    prompt_file: Path | None = Field(None, description="TOML file with system/user/completion/condense templates")
    condense: bool = Field(True, description="rewrite follow-up questions with the LLM (else a heuristic)")
    timeout: float = Field(60.0, gt=0, description="seconds to wait for the LLM's next bytes")
    connect_timeout: float = Field(5.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10, description="retries on connection errors, 429 and 5xx")
    retry_backoff: float = Field(0.5, ge=0, description="first retry delay in seconds, doubled each retry")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("llm.base_url must start with http:// or https:// (RAGSERVE_LLM__BASE_URL)")
        return value.rstrip("/") if value else None


class ServerSettings(BaseModel):
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_k: int = Field(50, ge=1)
    max_upload_mb: int = Field(50, ge=1, description="largest file accepted by uploads and URL fetches")
    gc_freeze: bool = Field(True, description="freeze the start-up heap so garbage collection pauses stay short")
    sources_footer: bool = Field(True, description="append a readable 'Sources' list to /v1/chat/completions answers")


class Settings(BaseSettings):
    """Everything ragserve can be told."""

    model_config = SettingsConfigDict(env_prefix="RAGSERVE_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("./ragserve-data")
    default_collection: str = "default"
    embedder: EmbedderSettings = EmbedderSettings()
    store: StoreSettings = StoreSettings()
    chunk: ChunkSettings = ChunkSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    rerank: RerankSettings = RerankSettings()
    llm: LLMSettings = LLMSettings()
    server: ServerSettings = ServerSettings()
    top_k: int = Field(5, ge=1, le=50)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the config file."""
        return (init_settings, env_settings, _FileSource(settings_cls))

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Read and validate; raises ``ConfigError`` that names the setting to fix."""
        from pydantic import ValidationError

        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (env RAGSERVE_{'__'.join(str(p) for p in e['loc']).upper()})"
                for e in exc.errors()
            )
            raise ConfigError(f"invalid settings: {problems}", hint="fix the environment variable or the RAGSERVE_CONFIG file") from exc


class _FileSource(PydanticBaseSettingsSource):
    """Settings from the YAML or TOML file named by ``RAGSERVE_CONFIG`` (lowest priority)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        name = os.environ.get("RAGSERVE_CONFIG")
        if not name:
            return {}
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", hint="fix or unset RAGSERVE_CONFIG")
        if path.suffix == ".toml":
            import tomllib

            return tomllib.loads(path.read_text())
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as exc:
                raise ConfigError("YAML config needs PyYAML", hint="pip install pyyaml, or use a .toml file") from exc
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"{path} must hold a mapping of settings")
            return data
        raise ConfigError(f"config file {path} must end in .toml, .yaml or .yml", hint="rename it or fix RAGSERVE_CONFIG")
