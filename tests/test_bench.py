"""The benchmarks in bench/ run, print their figures, and keep the bars issue 7 set.

bench/ingest.py runs at small scale (12 documents, every format) and its figures are checked
with generous bounds; bench/distractors.py runs in full (the dev set against the article alone
and with 50 unrelated documents) and guards the issue's bar in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from qa.config import PROJECT_ROOT
from qa.index.embedding_cache import CACHE_FILE

BENCH = PROJECT_ROOT / "bench"


def run_bench(script: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("{"), (
        f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    )
    return done, json.loads(lines[-1])


@pytest.fixture(scope="module")
def ingest_figures() -> tuple[str, dict]:
    done, figures = run_bench("ingest.py", "--docs", "12", "--seed", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, figures


@pytest.mark.slow
def test_ingest_benchmark_prints_every_figure(ingest_figures):
    output, _ = ingest_figures
    for label in (
        "documents",
        "chunks",
        "total time",
        "read/parse files",
        "chunks per second",
        "peak memory (RSS)",
        "index on disk",
        "embed seconds",
        "total / embed",
        "nothing changed",
        "5 documents changed",
        "interrupted",
        "resumed",
    ):
        assert f"\n{label} " in output, label
    assert "12 documents (3 .md, 3 .txt, 2 .html, 2 .docx, 2 .pdf)" in output


@pytest.mark.slow
def test_ingest_benchmark_reads_every_format_and_the_embedder_dominates(ingest_figures):
    _, f = ingest_figures
    assert f["documents"] == f["documents_written"] == 12
    assert f["chunks"] >= 12 * 3  # a title and at least two paragraphs a document
    assert f["first_chunks_from_cache"] == 0  # no paragraph repeats, so nothing is embedded twice
    assert 1.0 <= f["ratio_total_embed"] < 4
    assert 0 < f["parse_seconds"] < f["seconds"]
    assert 0 < f["peak_rss_mb"] < 4000
    assert f["index_mb"] > f["cache_mb"] > 0


@pytest.mark.slow
def test_ingest_benchmark_reingests_only_what_changed(ingest_figures):
    _, f = ingest_figures
    assert f["unchanged_documents_changed"] == 0
    assert f["unchanged_seconds"] < max(5.0, f["seconds"] / 4)
    assert f["changed_documents"] == 5
    assert 5 <= f["changed_chunks_added"] <= 15  # each changed document: its replaced paragraph
    assert f["changed_chunks_removed"] >= 5
    assert f["changed_total_chunks"] == f["chunks"] + f["changed_chunks_added"] - f["changed_chunks_removed"]


@pytest.mark.slow
def test_killed_ingest_resumes_from_the_embedding_cache(ingest_figures):
    _, f = ingest_figures
    assert f["killed"], "the ingest finished before it could be killed"
    assert 0 < f["killed_after_chunks"] < f["killed_of_chunks"]
    assert f["resumed_chunks_from_cache"] >= f["killed_after_chunks"]
    assert (
        f["resumed_chunks_added"] - f["resumed_chunks_from_cache"]
        <= f["killed_of_chunks"] - f["killed_after_chunks"]
    )
    assert f["resumed_total_chunks"] == f["changed_total_chunks"]  # the same 12 documents


@pytest.fixture(scope="module")
def distractor_comparison(article_settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """The whole benchmark, built in a folder of its own (--keep) whose article index starts from
    the session's embedding cache: the article is not embedded again, the 50 documents are."""
    work = tmp_path_factory.mktemp("distractors")
    (work / "article-alone").mkdir()
    shutil.copy(article_settings.vectorstore_dir / CACHE_FILE, work / "article-alone" / CACHE_FILE)
    done, comparison = run_bench("distractors.py", "--keep", str(work))
    return done.stdout, comparison


@pytest.mark.slow
def test_unrelated_documents_cost_at_most_two_points_of_hit_at_5(distractor_comparison):
    output, c = distractor_comparison
    assert c["documents"] == 50
    assert c["alone"]["hit@5"] - c["mixed"]["hit@5"] <= 0.02 + 1e-9, output


@pytest.mark.slow
def test_unrelated_documents_cost_at_most_two_points_of_refusal_accuracy(distractor_comparison):
    output, c = distractor_comparison
    assert c["alone"]["refusal_accuracy"] - c["mixed"]["refusal_accuracy"] <= 0.02 + 1e-9, output
