"""The eval runner: set loading, scoring arithmetic, reports, gates, the dev set, the baseline and
LLM mode (`--llm`, against tests/replay_llm.py)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from qa.cli import main
from qa.config import PROJECT_ROOT, Settings
from qa.eval.runner import aggregate, compact, load_set, metrics_by_kind, supports
from qa.query.pipeline import Pipeline

DEV_SET = PROJECT_ROOT / "eval" / "sets" / "article_dev.jsonl"
ARTICLE = PROJECT_ROOT / "data" / "article.md"
REPLAY_SET = PROJECT_ROOT / "tests" / "fixtures" / "llm_replay.jsonl"  # labelled sentences, replayed
REQUIRED_KINDS = {
    "direct",
    "paraphrase",
    "list",
    "number",
    "metadata",
    "structure",
    "page-break",
    "cross-lingual",
    "traditional",
    "multi-turn",
    "unanswerable",
    "injection",
}

# Three items whose supporting paragraph is known: one plain fact, one whose quote crosses a
# page break in the raw file ("机构\n\n成为"), and one the article does not answer.
TINY = [
    {
        "id": "t-fact",
        "question": "COP15第一阶段会议通过了什么文件？",
        "gold_quotes": ["全力推动第一阶段会议通过了《昆明宣言》"],
        "answer_keywords": ["昆明宣言"],
        "answerable": True,
        "kind": "direct",
    },
    {
        "id": "t-page",
        "question": "有多少家机构成为“一带一路”绿色发展国际联盟的合作伙伴？",
        "gold_quotes": ["已有来自43个国家的近160家机构成为绿色联盟合作伙伴"],
        "answer_keywords": ["160"],
        "answerable": True,
        "kind": "page-break",
    },
    {
        "id": "t-none",
        "question": "作者周国梅是哪一年出生的？",
        "gold_quotes": [],
        "answer_keywords": [],
        "answerable": False,
        "kind": "unanswerable",
    },
]


def _write_set(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")
    return path


@pytest.fixture
def index_env(article_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`qa ...` in this test reads the session's index of the article."""
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(article_settings.vectorstore_dir))


@pytest.fixture(scope="module")
def tiny_run(article_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One full `qa eval` of the tiny set, with a gate it cannot pass; shared by several tests."""
    folder = tmp_path_factory.mktemp("tiny")
    set_path = _write_set(folder / "tiny.jsonl", TINY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QA_VECTORSTORE_DIR", str(article_settings.vectorstore_dir))
        capture = _Capture()
        with capture:
            code = main(["eval", str(set_path), "--out", str(folder / "out"), "--fail-under", "hit@5=1.5"])
    return {"code": code, "out": folder / "out", "set": set_path, **capture.text}


class _Capture:
    """stdout and stderr of a block, for a module-scoped fixture where capsys is not available."""

    def __enter__(self) -> None:
        import contextlib
        import io

        self._out, self._err = io.StringIO(), io.StringIO()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(self._out))
        self._stack.enter_context(contextlib.redirect_stderr(self._err))

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()
        self.text = {"stdout": self._out.getvalue(), "stderr": self._err.getvalue()}


# --- the dev set ---------------------------------------------------------------------------


def test_every_gold_quote_of_the_dev_set_occurs_in_the_article():
    article = compact(ARTICLE.read_text(encoding="utf-8"))
    missing = [
        (item.id, quote)
        for item in load_set(DEV_SET)
        for quote in item.gold_quotes
        if compact(quote) not in article
    ]
    assert missing == []


def test_dev_set_covers_every_kind_with_enough_items():
    items = load_set(DEV_SET)
    assert len(items) >= 80
    assert {item.kind for item in items} >= REQUIRED_KINDS
    assert sum(not item.answerable for item in items if item.kind == "unanswerable") >= 10
    assert all(item.history for item in items if item.kind == "multi-turn")


def test_every_answerable_dev_item_is_supported_by_one_indexed_chunk(pipeline: Pipeline):
    """Otherwise no retriever could ever hit it: the quote would straddle two chunks."""
    texts = [chunk.text for chunk in pipeline.store.all_chunks()]
    unreachable = [
        item.id
        for item in load_set(DEV_SET)
        if item.answerable and not any(supports(text, item.gold_quotes) for text in texts)
    ]
    assert unreachable == []


# --- scoring arithmetic --------------------------------------------------------------------


def _record(id_: str, answerable: bool, latency: float, scores: dict, kind: str = "k") -> dict:
    return {
        "id": id_,
        "kind": kind,
        "answerable": answerable,
        "latency_ms": latency,
        "retrieved": [{"text": "x" * 10}, {"text": "y" * 30}],
        "scores": scores,
    }


def test_metrics_are_aggregated_exactly_as_interfaces_define_them():
    records = [
        # supported at rank 1; cites 2 chunks, 1 supporting; found 1 of 2 keywords
        _record(
            "a",
            True,
            100,
            {"hit@1": True, "hit@3": True, "hit@5": True, "rr@5": 1.0, "refused": False, "cited": 2,
             "cited_supporting": 1, "citation_hit": True, "keyword_recall": 0.5},
        ),
        # supported at rank 4; refused, so it leaves the citation-precision pool
        _record(
            "b",
            True,
            200,
            {"hit@1": False, "hit@3": False, "hit@5": True, "rr@5": 0.25, "refused": True, "cited": 1,
             "cited_supporting": 1, "citation_hit": True, "keyword_recall": 0.0},
        ),
        # unanswerable and refused
        _record("c", False, 400, {"refused": True, "cited": 0, "cited_supporting": 0}, kind="none"),
    ]  # fmt: skip
    metrics = aggregate(records)
    assert metrics["hit@1"] == 0.5
    assert metrics["hit@3"] == 0.5
    assert metrics["hit@5"] == 1.0
    assert metrics["mrr@5"] == 0.625
    assert metrics["citation_precision"] == 0.5
    assert metrics["citation_recall"] == 1.0
    assert metrics["keyword_recall"] == 0.25
    assert metrics["refusal_accuracy"] == 1.0
    assert metrics["false_refusal_rate"] == 0.5
    assert metrics["latency_ms_p50"] == 200
    assert metrics["latency_ms_p95"] == pytest.approx(380)
    assert metrics["mean_chunk_chars"] == 20
    by_kind = metrics_by_kind(records)["by_kind"]
    assert by_kind["none"]["hit@5"] is None
    assert by_kind["none"]["refusal_accuracy"] == 1.0


def test_support_ignores_whitespace_on_both_sides():
    assert supports("近160家机构\n\n成为绿色 联盟", ["机构成为绿色联盟"])
    assert supports("机构成为绿色联盟", ["机构 成为\n绿色联盟"])
    assert not supports("机构成为联盟", ["机构成为绿色联盟"])


# --- the command on the real index ---------------------------------------------------------


def test_eval_scores_the_chunk_known_to_support_each_item(tiny_run: dict, pipeline: Pipeline):
    report = json.loads((tiny_run["out"] / "report.json").read_text(encoding="utf-8"))
    chunks = pipeline.store.all_chunks()
    for record, item in zip(report["items"], TINY, strict=True):
        assert record["id"] == item["id"]
        if not item["answerable"]:
            assert "hit@5" not in record["scores"]
            continue
        supporting = {c.chunk_id for c in chunks if compact(item["gold_quotes"][0]) in compact(c.text)}
        assert supporting
        ranks = [hit["rank"] for hit in record["retrieved"] if hit["chunk_id"] in supporting]
        assert record["scores"]["support_rank"] == (ranks[0] if ranks else None)
        assert record["scores"]["hit@5"] == bool(ranks)
    assert report["metrics"] == metrics_by_kind(report["items"])  # recomputable from the records


def test_eval_writes_the_table_and_three_report_files(tiny_run: dict):
    out = tiny_run["out"]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert {"mode", "settings", "metrics", "items"} <= set(report)
    assert report["mode"] == report["items"][0]["mode"] != "baseline"
    assert report["settings"]["k"] == 5 and "embedder" in report["settings"]
    for record in report["items"]:
        for key in ("id", "retrieved", "answer", "refused", "citations", "latency_ms", "scores"):
            assert key in record
    assert "hit@5" in (out / "report.md").read_text(encoding="utf-8")
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "mrr@5" in tiny_run["stdout"] and "page-break" in tiny_run["stdout"]


def test_without_matplotlib_the_report_is_written_without_its_chart(
    tiny_run: dict, index_env, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the `report` extra were not installed
    assert main(["eval", str(tiny_run["set"]), "--retrieval-only", "--out", str(tmp_path)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.json", "report.md"]
    assert "report.png" not in (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "pip install 'qa-chat[report]'" in capsys.readouterr().err


def test_fail_under_exits_1_naming_the_metric(tiny_run: dict):
    assert tiny_run["code"] == 1
    (line,) = tiny_run["stderr"].strip().splitlines()[-1:]
    assert line.startswith("error:") and "hit@5" in line and "1.5" in line


def test_gate_that_is_met_passes_and_compare_prints_each_change(tiny_run: dict, index_env, capsys):
    code = main(
        [
            "eval",
            str(tiny_run["set"]),
            "--retrieval-only",
            "--fail-under",
            "hit@5=0",
            "mrr@5=0",
            "--compare",
            str(tiny_run["out"] / "report.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Compared with" in out
    compared = out.split("Compared with", 1)[1]
    assert "hit@1" in compared and "mrr@5" in compared and "+0.000" in compared


def test_baseline_runs_the_plain_recipe_on_the_raw_file(tmp_path: Path, monkeypatch, capsys):
    document = tmp_path / "doc.md"
    document.write_text(
        "# 标题\n\n绿色联盟已有来自43个国家的近160家机构\n\n成为绿色联盟合作伙伴。\n\n" + "其他内容。" * 80,
        encoding="utf-8",
    )
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(tmp_path / "unused-index"))
    monkeypatch.setenv("QA_DOCUMENTS", json.dumps([str(document)]))
    set_path = _write_set(tmp_path / "set.jsonl", TINY[1:])
    code = main(["eval", str(set_path), "--baseline", "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["mode"] == "baseline" and report["settings"]["baseline"]["chunk_size"] == 300
    assert all(record["refused"] is False for record in report["items"])
    texts = [hit["text"] for record in report["items"] for hit in record["retrieved"]]
    assert all(len(text) <= 300 for text in texts)
    assert any("\n\n" in text for text in texts)  # the raw file: no page-break repair
    assert report["items"][0]["scores"]["hit@1"] is True


# --- bad input -----------------------------------------------------------------------------


def _bad(capsys, argv: list[str], *words: str) -> None:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error:")
    for word in words:
        assert word in line


def test_missing_set_file_is_one_line(tmp_path: Path, capsys):
    _bad(capsys, ["eval", str(tmp_path / "nope.jsonl")], "nope.jsonl", "does not exist")


def test_malformed_jsonl_line_names_the_line(tmp_path: Path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(TINY[0], ensure_ascii=False) + "\n{not json\n", encoding="utf-8")
    _bad(capsys, ["eval", str(path)], "line 2", "not valid JSON")


def test_item_missing_a_field_names_it(tmp_path: Path, capsys):
    item = {key: value for key, value in TINY[0].items() if key != "kind"}
    _bad(capsys, ["eval", str(_write_set(tmp_path / "s.jsonl", [item]))], "line 1", "'kind'")


def test_unknown_metric_in_fail_under_is_refused_before_running(tmp_path: Path, capsys):
    path = _write_set(tmp_path / "s.jsonl", TINY)
    _bad(capsys, ["eval", str(path), "--fail-under", "hits@5=0.9"], "hits@5", "hit@5")
    _bad(capsys, ["eval", str(path), "--fail-under", "hit@5"], "METRIC=VALUE")


def test_compare_with_a_missing_report_is_one_line(tmp_path: Path, capsys):
    path = _write_set(tmp_path / "s.jsonl", TINY)
    _bad(capsys, ["eval", str(path), "--compare", str(tmp_path / "old.json")], "old.json")


def test_k_below_five_is_refused(tmp_path: Path, capsys):
    path = _write_set(tmp_path / "s.jsonl", TINY)
    _bad(capsys, ["eval", str(path), "-k", "3"], "-k", "5")


# --- the retriever mode --------------------------------------------------------------------


@pytest.mark.slow  # two whole retrieval evals of the dev set
def test_retriever_modes_run_different_retrievers_and_the_report_names_them(index_env, tmp_path, capsys):
    rankings = {}
    for mode in ("dense", "bm25"):
        code = main(
            ["eval", str(DEV_SET), "--retrieval-only", "--retriever", mode, "--out", str(tmp_path / mode)]
        )
        assert code == 0, capsys.readouterr().err
        report = json.loads((tmp_path / mode / "report.json").read_text(encoding="utf-8"))
        assert report["settings"]["retriever"] == mode and report["mode"] == f"retrieval-only:{mode}"
        assert mode in (tmp_path / mode / "report.md").read_text(encoding="utf-8")
        rankings[mode] = {r["id"]: [hit["chunk_id"] for hit in r["retrieved"]] for r in report["items"]}
    differ = [key for key in rankings["dense"] if rankings["dense"][key] != rankings["bm25"][key]]
    assert len(differ) >= len(rankings["dense"]) // 2


def test_unknown_retriever_is_one_line(tmp_path: Path, capsys):
    _bad(capsys, ["eval", str(DEV_SET), "--retrieval-only", "--retriever", "magic"], "magic", "hybrid, dense")


def test_other_retriever_without_retrieval_only_is_one_line(tmp_path: Path, capsys):
    _bad(capsys, ["eval", str(DEV_SET), "--retriever", "dense"], "--retrieval-only")


# --- the tuning and held-out parts ---------------------------------------------------------


def _with_splits(*splits: str) -> list[dict]:
    return [{**item, "split": split} for item, split in zip(TINY, splits, strict=True)]


def test_split_runs_only_that_part_and_the_report_names_it(index_env, tmp_path: Path, capsys):
    path = _write_set(tmp_path / "s.jsonl", _with_splits("tune", "heldout", "heldout"))
    code = main(["eval", str(path), "--retrieval-only", "--split", "heldout", "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert "(heldout part): 2 items" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["settings"]["split"] == "heldout"
    assert [(r["id"], r["split"]) for r in report["items"]] == [("t-page", "heldout"), ("t-none", "heldout")]
    assert "(heldout part)" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def test_unknown_split_is_one_line(tmp_path: Path, capsys):
    path = _write_set(tmp_path / "s.jsonl", _with_splits("tune", "heldout", "heldout"))
    _bad(capsys, ["eval", str(path), "--split", "dev"], "--split", "tune", "heldout", "'dev'")


def test_split_the_set_does_not_have_is_one_line(tmp_path: Path, capsys):
    _bad(capsys, ["eval", str(_write_set(tmp_path / "s.jsonl", TINY)), "--split", "tune"], "no items", "tune")


def test_item_with_an_unknown_split_names_the_line(tmp_path: Path, capsys):
    path = _write_set(tmp_path / "s.jsonl", _with_splits("tune", "train", "heldout"))
    _bad(capsys, ["eval", str(path)], "line 2", "'split'", "'train'")


# --- LLM mode: what verification kept and removed --------------------------------------------

REPLAYED = ("number-01", "xl-07", "multi-04")  # zh and en, tune and heldout, quoted and not, a follow-up


def _llm_eval(model: str, replay: str, tmp_path: Path, monkeypatch, capsys) -> tuple[dict, str]:
    """`qa eval --llm` of three replay-set items with QA_LLM_BASE_URL at the replayed model."""
    items = [json.loads(line) for line in REPLAY_SET.read_text(encoding="utf-8").splitlines() if line]
    path = _write_set(tmp_path / "llm.jsonl", [item for item in items if item["id"] in REPLAYED])
    monkeypatch.setenv("QA_LLM_BASE_URL", replay)
    monkeypatch.setenv("QA_LLM_MODEL", model)
    code = main(["eval", str(path), "--llm", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8")), out


def test_llm_mode_counts_the_true_sentences_kept_per_part_and_language(
    replay: str, index_env, tmp_path: Path, monkeypatch, capsys
):
    report, out = _llm_eval("replay-true", replay, tmp_path, monkeypatch, capsys)
    counts = report["metrics"]["llm_verification"]
    assert set(counts) == {"all", "tune", "heldout"}
    every = counts["all"]
    assert every["true_kept:all"] == {"n": 5, "hits": 5, "rate": 1.0}
    assert every["true_kept:en"]["n"] == 2 and every["true_kept:zh"]["n"] == 3
    assert every["cited_right:all"]["rate"] == 1.0 and every["fallback:all"]["hits"] == 0
    assert every["wrong_removed:all"]["n"] == 0  # replay-true writes no wrong sentence
    assert counts["heldout"]["true_kept:all"]["n"] == 1  # multi-04, asked as a follow-up
    assert re.search(r"true sentences kept\s+1\.00 \(5/5\)", out), out
    written = [s for item in report["items"] for s in item["verification"]["sentences"] if s["written"]]
    assert written and all(s["truth"] for s in written)


def test_llm_mode_counts_the_wrong_sentences_removed_per_error_kind(
    replay: str, index_env, tmp_path: Path, monkeypatch, capsys
):
    report, out = _llm_eval("replay-wrong", replay, tmp_path, monkeypatch, capsys)
    every = report["metrics"]["llm_verification"]["all"]
    assert every["wrong_removed:all"] == {"n": 5, "hits": 5, "rate": 1.0}
    removed = {key: value for key, value in every.items() if key.startswith("wrong_removed:")}
    kinds = {key.split(":")[1]: value["n"] for key, value in removed.items()}
    assert kinds == {"all": 5, "zh": 3, "en": 2, "number_binding": 1, "number_swap": 1, "title_or_rank": 2,
                     "year_shift": 1}  # fmt: skip
    assert every["true_kept:all"]["n"] == 0 and every["fallback:all"] == {"n": 3, "hits": 3, "rate": 1.0}
    assert all(item["verification"]["unverified"] for item in report["items"])
    assert re.search(r"  title_or_rank\s+1\.00 \(2/2\)", out), out
    assert "## LLM sentences" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def test_llm_mode_without_an_llm_or_with_retrieval_only_is_one_line(tmp_path: Path, monkeypatch, capsys):
    path = _write_set(tmp_path / "s.jsonl", TINY)
    monkeypatch.delenv("QA_LLM_BASE_URL", raising=False)
    _bad(capsys, ["eval", str(path), "--llm"], "--llm needs an LLM", "QA_LLM_BASE_URL")
    monkeypatch.setenv("QA_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    _bad(capsys, ["eval", str(path), "--llm", "--retrieval-only"], "--llm", "--retrieval-only")


def test_an_item_with_malformed_labelled_sentences_names_the_line(tmp_path: Path, capsys):
    bad = {**TINY[1], "sentences": [{"text": "x", "truth": "yes"}]}
    path = _write_set(tmp_path / "s.jsonl", [TINY[0], bad])
    _bad(capsys, ["eval", str(path)], "line 2", "'sentences'")
