"""The real model: our ONNX graph against vectors computed by PyTorch + transformers."""

import json
from pathlib import Path

import numpy as np
import pytest

from ragserve.backends.embedders.local import LocalEmbedder

pytestmark = pytest.mark.integration
REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures/minilm_reference.json").read_text())


def embedder(cache: Path, quantize: bool) -> LocalEmbedder:
    return LocalEmbedder(
        model="all-MiniLM-L6-v2", model_path=None, cache_dir=cache, quantize=quantize, threads=2, batch_size=2, max_tokens=256
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.mark.parametrize(("quantize", "min_cosine"), [(False, 0.99999), (True, 0.98)])
async def test_matches_the_reference_implementation(cache: Path, quantize: bool, min_cosine: float) -> None:
    model = embedder(cache, quantize)
    await model.start()
    try:
        got = await model.embed(REFERENCE["sentences"])  # batches of 2, sorted by length, then put back in order
        ref = np.array(REFERENCE["vectors"], dtype=np.float32)
        assert got.shape == (5, 384) and got.dtype == np.float32 and model.dimension == 384
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert (got * ref).sum(axis=1).min() >= min_cosine
        single = await model.embed_query(REFERENCE["sentences"][2])
        # fp32: padding and batch-mates do not change a vector. int8 dynamic quantisation scales
        # activations per batch, so a vector moves slightly with its batch-mates (documented trade-off)
        assert float(single @ got[2]) == pytest.approx(1.0, abs=1e-4 if not quantize else 0.02)
    finally:
        await model.close()


async def test_graph_is_built_once_and_cached(cache: Path) -> None:
    model = embedder(cache, True)
    path = model.graph_path()
    await model.start()
    await model.close()
    assert path.exists()
    mtime = path.stat().st_mtime
    again = embedder(cache, True)
    await again.start()
    await again.close()
    assert path.stat().st_mtime == mtime


async def test_long_texts_are_truncated_not_rejected(cache: Path) -> None:
    model = embedder(cache, True)
    out = await model.embed(["word " * 2000, "short"])
    assert out.shape == (2, 384)
    await model.close()


async def test_related_texts_are_closer(cache: Path) -> None:
    model = embedder(cache, True)
    q = await model.embed_query("How do I encrypt an endpoint with a KMS key?")
    docs = await model.embed(["Use an AWS KMS key to encrypt the storage volume of the endpoint.", "Phileas Fogg left London."])
    assert float(docs[0] @ q) > float(docs[1] @ q) + 0.2
    await model.close()
