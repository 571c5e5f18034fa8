"""The CLI's own behaviour (with the fake embedder and the memory store)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragserve.cli import cli


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("RAGSERVE_EMBEDDER__KIND", "fake")
    monkeypatch.setenv("RAGSERVE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = {"d1": ("Aspirin", "Aspirin reduces the risk of heart attacks."), "d2": ("Coffee", "Coffee contains caffeine and antioxidants.")}
    docs |= {f"x{i}": (f"Other {i}", f"Unrelated text number {i} about geology and rocks.") for i in range(20)}
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in docs.items()))
    queries = [{"_id": "q1", "text": "does aspirin reduce heart attacks"}, {"_id": "q2", "text": "caffeine in coffee"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels/train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return folder


def test_eval_prints_metrics_for_each_mode(env: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", str(beir(env / "beir")), "--split", "train", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body["results"]) == {"dense", "keyword", "hybrid"}
    assert body["results"]["keyword"]["ndcg@10"] == 1.0  # both answers share rare words with their query
    for scores in body["results"].values():
        assert set(scores) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "queries_per_s"}
        assert 0.0 <= scores["ndcg@10"] <= 1.0 and scores["queries_per_s"] > 0
    again = CliRunner().invoke(cli, ["eval", str(env / "beir"), "--split", "train", "--mode", "keyword"])
    assert again.exit_code == 0 and "0 indexed, 22 unchanged" in again.output


def test_errors_become_clean_messages(env: Path) -> None:
    result = CliRunner().invoke(cli, ["query", "anything", "--collection", "nope"])
    assert result.exit_code == 1
    assert "collection 'nope' does not exist" in result.output and "hint:" in result.output
    missing = CliRunner().invoke(cli, ["eval", str(env), "--split", "dev"])
    assert missing.exit_code == 1 and "corpus.jsonl" in missing.output


def test_ingest_then_query(env: Path) -> None:
    docs = env / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Keys\n\nRotate the KMS key every year to keep endpoints encrypted.\n")
    (docs / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    ingest = CliRunner().invoke(cli, ["ingest", str(docs)])
    assert ingest.exit_code == 0
    assert "2 files: 1 indexed, 0 unchanged, 1 failed" in " ".join(ingest.output.split())
    assert "bad.pdf" in ingest.output
    query = CliRunner().invoke(cli, ["query", "How often should the KMS key rotate?"])
    assert query.exit_code == 0 and "[1] a.md" in query.output
