"""The `qa` command as a user runs it: JSON shapes, and one clear sentence for every bad input.

Most cases call `main` in this process (the same parsing, settings and error handling, without a
second or two of imports per case); a few run `python -m qa` itself, so the real process, its
exit status and its stderr stay covered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import main
from tests.servers import free_port


def run_qa(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], env={**base, **(env or {})}, capture_output=True, text=True
    )


@pytest.fixture
def qa(monkeypatch, capsys):
    """`qa ARGS` through `main` in this process, with only the QA_ settings given in `env`."""

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        for name in [name for name in os.environ if name.startswith("QA_")]:
            monkeypatch.delenv(name)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        status = main(list(args))
        output = capsys.readouterr()
        return subprocess.CompletedProcess(["qa", *args], status, output.out, output.err)

    return run


def assert_one_sentence_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and fragment in lines[-1], result.stderr


def test_retrieve_json_ranks_the_page_break_sentence_first(article_settings, capsys, monkeypatch):
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(article_settings.vectorstore_dir))
    assert main(["retrieve", "有多少家机构成为绿色联盟合作伙伴？", "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert set(output) >= {"question", "latency_ms", "results"}
    first = output["results"][0]
    assert set(first) >= {"rank", "chunk_id", "doc_id", "section", "paragraphs", "text", "score"}
    assert first["rank"] == 1 and "近160家机构成为绿色联盟合作伙伴" in first["text"]
    assert first["paragraphs"] == [9]


def test_retrieve_k_limits_the_results(article_settings, capsys, monkeypatch):
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(article_settings.vectorstore_dir))
    assert main(["retrieve", "COP15", "-k", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["results"]) == 2


def test_ask_json_has_the_interface_shape(article_settings, capsys, monkeypatch):
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(article_settings.vectorstore_dir))
    assert main(["ask", "COP15第一阶段会议通过了什么？", "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert set(output) >= {"question", "answer", "refused", "mode", "citations", "retrieved", "latency_ms"}
    assert output["mode"] == "extractive"
    for citation in output["citations"]:
        assert set(citation) >= {"n", "chunk_id", "doc_id", "section", "paragraphs", "text", "quote"}
        assert f"[{citation['n']}]" in output["answer"]


def test_a_cold_ask_does_not_import_what_only_writing_uses(article_settings):
    """A `qa ask` process only reads the index: bm25s (with scipy.sparse behind it), LangChain's
    Chroma wrapper and LangChain's runnables and callbacks serve ingest, and importing them cost
    a cold question over half a second."""
    script = (
        "import json, sys\n"
        "from qa.cli import main\n"
        "status = main(['ask', 'COP15第一阶段会议通过了什么？', '--json'])\n"
        "print(json.dumps({'status': status, 'modules': sorted(sys.modules)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["QA_VECTORSTORE_DIR"] = str(article_settings.vectorstore_dir)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, done.stderr
    answer, result = json.loads("\n".join(lines[:-1])), json.loads(lines[-1])
    assert result["status"] == 0 and "昆明宣言" in answer["answer"]
    writing_only = ("bm25s", "scipy", "langchain_chroma", "langsmith", "langchain_core.runnables")
    assert [
        name
        for name in result["modules"]
        if name.split(".")[0] in writing_only or name.startswith(writing_only)
    ] == []


def test_ingest_json_reports_counts_and_is_idempotent(seeded_dir, qa):
    env = {"QA_VECTORSTORE_DIR": str(seeded_dir)}
    first = qa("ingest", "--json", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["chunks_added"] == report["total_chunks"] > 0 and not report["up_to_date"]
    second = json.loads(qa("ingest", "--json", env=env).stdout)
    assert second["up_to_date"] and second["chunks_added"] == 0


def test_docs_lists_the_ingested_article(article_settings, capsys, monkeypatch):
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(article_settings.vectorstore_dir))
    assert main(["docs", "--json"]) == 0
    (document,) = json.loads(capsys.readouterr().out)
    assert document["doc_id"] == "article.md" and document["chunks"] > 20


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "is empty"),
        (b"\x00\x01\x02binary\x00" * 50, "binary"),
        (b"caf\xe9 \x80\xff\x80\xff" * 10, "not valid UTF-8"),
    ],
)
def test_bad_files_get_one_sentence_and_leave_the_index_alone(tmp_path, content, fragment, qa):
    env = {"QA_VECTORSTORE_DIR": str(tmp_path / "index")}
    bad = tmp_path / "bad.md"
    bad.write_bytes(content)
    assert_one_sentence_error(qa("ingest", str(bad), env=env), fragment)
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_missing_path_and_folder_without_documents(tmp_path, qa):
    env = {"QA_VECTORSTORE_DIR": str(tmp_path / "index")}
    assert_one_sentence_error(qa("ingest", str(tmp_path / "nope.md"), env=env), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_one_sentence_error(qa("ingest", str(tmp_path / "empty"), env=env), "no supported files")


def test_questions_that_are_empty_or_huge_are_refused(article_settings, capsys, monkeypatch):
    env = {"QA_VECTORSTORE_DIR": str(article_settings.vectorstore_dir)}
    assert_one_sentence_error(run_qa("ask", "   ", env=env), "empty")
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(article_settings.vectorstore_dir))
    assert main(["ask", "问" * 100_000]) == 1  # 300 KB: beyond argv, so in-process
    assert capsys.readouterr().err.startswith("error: The question is 100000 characters long")


def test_unknown_settings_and_embedders_are_named(tmp_path, qa):
    env = {"QA_VECTORSTORE_DIR": str(tmp_path / "index")}
    assert_one_sentence_error(qa("ask", "hi", env={**env, "QA_EMBEDER": "x"}), "QA_EMBEDER")
    assert_one_sentence_error(qa("ingest", env={**env, "QA_EMBEDDER": "glove"}), "Unknown embedder")


def test_querying_before_any_ingest_says_to_ingest(tmp_path, qa):
    result = qa("retrieve", "作者是谁", env={"QA_VECTORSTORE_DIR": str(tmp_path / "none")})
    assert_one_sentence_error(result, "qa ingest")


def test_unreachable_chroma_server_is_one_sentence(tmp_path):
    env = {
        "QA_VECTORSTORE_DIR": str(tmp_path / "index"),
        "QA_CHROMA_HOST": "127.0.0.1",
        "QA_CHROMA_PORT": str(free_port()),
    }
    assert_one_sentence_error(run_qa("ingest", env=env), "Cannot reach the Chroma server")
    assert_one_sentence_error(run_qa("ask", "作者是谁", env=env), "Cannot reach the Chroma server")


def test_ingest_and_app_entry_points_are_thin(seeded_dir):
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["QA_VECTORSTORE_DIR"] = str(seeded_dir)
    result = subprocess.run(
        [sys.executable, str(root / "ingest.py"), "--json"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_chunks"] > 0
