"""The whole SageMaker developer guide through the CLI: index it, then ask questions whose relevant pages
we know (chosen by reading the guide), with the real model and embedded Chroma. Takes a few minutes."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragserve.pipeline import RAG, build_rag
from ragserve.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# question → pages of the guide that answer it; at least one must be among the top-k sources
EXPECTED = [
    ("What is Amazon SageMaker?", 3, {"whatis.md", "whatis-features-alpha.md"}),
    ("What are SageMaker geospatial capabilities?", 3, {"geospatial.md", "geospatial-getting-started.md"}),
    ("How do I customize a notebook instance with a lifecycle configuration script?", 1, {"notebook-lifecycle-config.md"}),
    ("How do I use managed spot training to reduce training costs?", 1, {"model-managed-spot-training.md"}),
    ("What rules does SageMaker Debugger provide to detect training issues?", 2, {"use-debugger-built-in-rules.md"}),
    ("How do I deploy a model to a serverless inference endpoint?", 3, {"serverless-endpoints.md", "serverless-endpoints-create.md"}),
    ("How do I get inferences for an entire dataset with batch transform?", 5, {"batch-transform.md", "inference-pipeline-batch.md"}),
    (
        "How do I configure automatic scaling for a SageMaker endpoint?",
        5,
        {"endpoint-auto-scaling-add-console.md", "endpoint-auto-scaling-add-code-apply.md", "endpoint-auto-scaling.md"},
    ),
]


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
    env["RAGSERVE_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "ragserve.cli", *args], env=env, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, str]:
    data_dir = tmp_path_factory.mktemp("sagemaker")
    done = cli("ingest", str(shared_data / "sagemaker-developer-guide"), data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return data_dir, " ".join(done.stderr.split())


@pytest.fixture(scope="module")
def rag(indexed: tuple[Path, str]) -> RAG:
    pipeline = build_rag(Settings.load(data_dir=indexed[0]))
    asyncio.run(pipeline.start())
    return pipeline


def test_every_page_is_indexed(indexed: tuple[Path, str]) -> None:
    _, summary = indexed
    # 1,284 pages in doc_source/ plus the folder's README.md; the licence files and one PNG are skipped
    assert "1285 files: 1285 indexed, 0 unchanged, 0 failed" in summary
    assert "skipped 4 files of unsupported types" in summary


def test_reingesting_the_guide_does_nothing(indexed: tuple[Path, str], shared_data: Path) -> None:
    again = cli("ingest", str(shared_data / "sagemaker-developer-guide"), data_dir=indexed[0])
    assert "1285 files: 0 indexed, 1285 unchanged, 0 failed" in " ".join(again.stderr.split())


def test_the_kms_question_through_the_cli(indexed: tuple[Path, str]) -> None:
    done = cli("query", "How do I check if an endpoint is KMS encrypted?", "--json", data_dir=indexed[0])
    assert done.returncode == 0, done.stderr
    import json

    body = json.loads(done.stdout)
    assert body["citations"] and all("[" in body["answer"] for _ in body["citations"])
    # dense retrieval alone ranks the KMS encryption pages first (Ground Truth's and the shadow-test
    # page that sets an endpoint's KMS key); every source must be about KMS encryption
    for source in body["sources"]:
        assert source["document"].startswith("doc_source/")
        assert "KMS" in source["text"] or "kms" in source["document"], source["document"]


@pytest.mark.parametrize(("question", "k", "pages"), EXPECTED, ids=[q for q, _, _ in EXPECTED])
def test_question_finds_its_page(rag: RAG, question: str, k: int, pages: set[str]) -> None:
    answer = asyncio.run(rag.query(question, k=k))
    found = [h.chunk.source.removeprefix("doc_source/") for h in answer.hits]
    assert pages & set(found), f"{question}: expected one of {pages} in top {k}, got {found}"
    assert answer.citations, "the extractive answer cites its sources"
