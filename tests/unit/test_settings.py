from pathlib import Path

import pytest

from ragserve.core.errors import ConfigError
from ragserve.settings import Settings


def test_environment_nested_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGSERVE_DATA_DIR", "/tmp/x")
    monkeypatch.setenv("RAGSERVE_STORE__KIND", "memory")
    monkeypatch.setenv("RAGSERVE_LLM__BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("RAGSERVE_LLM__API_KEY", "sk-secret")
    s = Settings.load()
    assert s.data_dir == Path("/tmp/x") and s.store.kind == "memory"
    assert s.llm.base_url == "http://127.0.0.1:9/v1"
    assert "sk-secret" not in repr(s) and s.llm.api_key is not None and s.llm.api_key.get_secret_value() == "sk-secret"


def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGSERVE_STORE__KIND", "oracle")
    with pytest.raises(ConfigError) as err:
        Settings.load()
    assert "RAGSERVE_STORE__KIND" in err.value.message


def test_bad_llm_url_and_overlap() -> None:
    with pytest.raises(ConfigError, match="RAGSERVE_LLM__BASE_URL"):
        Settings.load(llm={"base_url": "localhost:8080"})
    with pytest.raises(ConfigError, match="OVERLAP"):
        Settings.load(chunk={"max_tokens": 50, "overlap": 40})


def test_config_file_toml_and_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "rag.toml"
    toml.write_text('top_k = 7\n[store]\nkind = "memory"\n')
    monkeypatch.setenv("RAGSERVE_CONFIG", str(toml))
    assert Settings.load().top_k == 7
    monkeypatch.setenv("RAGSERVE_TOP_K", "3")  # the environment wins over the file
    assert Settings.load().top_k == 3
    yaml = tmp_path / "rag.yaml"
    yaml.write_text("llm:\n  model: m1\n")
    monkeypatch.setenv("RAGSERVE_CONFIG", str(yaml))
    assert Settings.load().llm.model == "m1"
    monkeypatch.setenv("RAGSERVE_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="RAGSERVE_CONFIG"):
        Settings.load()
