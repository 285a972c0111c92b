"""Every eval set against the corpus it is about: gold quotes are in a chunk the product makes from
that corpus, splits are in place, and each set holds enough items of every kind."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, load_settings
from qa.eval.runner import compact, load_set
from qa.ingest.chunking import chunk_document
from qa.ingest.sync import load_documents
from qa.text.normalize import t2s

SETS = PROJECT_ROOT / "eval" / "sets"
CORPORA = PROJECT_ROOT / "eval" / "corpora"
CORPUS_OF = {
    "article_dev": PROJECT_ROOT / "data" / "article.md",
    "handbook_dev": CORPORA / "handbook",
    "edu_dev": CORPORA / "edu",
    "manual_en_dev": CORPORA / "manual_en",
    "valgrind_dev": CORPORA / "valgrind",
}
NEW_SETS = ["handbook_dev", "edu_dev"]
# Minimum items per kind in the sets of the new corpora (issue 11).
MINIMUM = {
    "direct": 5,
    "paraphrase": 5,
    "list": 4,
    "number": 4,
    "structure": 3,
    "cross-lingual": 8,
    "traditional": 5,
    "multi-turn": 4,
    "unanswerable": 8,
    "injection": 3,
    "summary": 2,
}
PDF_MINIMUM = {"edu_dev": 5}
ORDINARY_TRIGGERS = re.compile(r"忽略|disregard|act as", re.IGNORECASE)
CJK = re.compile(r"[\u3400-\u9fff]")


def _split_module():
    spec = importlib.util.spec_from_file_location("eval_split", PROJECT_ROOT / "eval" / "split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _raw(name: str) -> list[dict]:
    return [
        json.loads(line) for line in (SETS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line
    ]


@cache
def _chunks(name: str, tmp_root: str) -> list[tuple[str, str]]:
    """(doc_id, whitespace-free text) of every chunk ingest would make from the set's corpus."""
    settings = load_settings(vectorstore_dir=Path(tmp_root) / "index")
    documents, problems = load_documents(settings, [CORPUS_OF[name]])
    assert problems == []
    return [
        (chunk.doc_id, compact(chunk.text))
        for document in documents
        for chunk in chunk_document(document, settings.chunk_max_tokens, settings.chunk_overlap_sentences)
    ]


@pytest.fixture(scope="module")
def chunks_of(tmp_path_factory: pytest.TempPathFactory):
    root = str(tmp_path_factory.mktemp("sets"))
    return lambda name: _chunks(name, root)


@pytest.mark.parametrize("name", sorted(CORPUS_OF))
def test_every_gold_quote_is_inside_one_chunk_of_its_corpus(name: str, chunks_of):
    """Each quote on its own, so no quote of a list item is dead weight that no chunk could match."""
    texts = [text for _, text in chunks_of(name)]
    missing = [
        (item.id, quote)
        for item in load_set(SETS / f"{name}.jsonl")
        if item.answerable
        for quote in item.gold_quotes
        if not any(compact(quote) in text for text in texts)
    ]
    assert missing == []


@pytest.mark.parametrize("name", sorted(CORPUS_OF))
def test_unanswerable_items_carry_no_gold_quotes_or_keywords(name: str):
    wrong = [
        item.id
        for item in load_set(SETS / f"{name}.jsonl")
        if not item.answerable and (item.gold_quotes or item.answer_keywords)
    ]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(CORPUS_OF))
def test_ids_are_unique_and_every_item_has_a_split(name: str):
    raw = _raw(name)
    ids = [item["id"] for item in raw]
    assert len(ids) == len(set(ids))
    assert {item.get("split") for item in raw} == {"tune", "heldout"}
    by_kind: dict[str, Counter] = {}
    for item in raw:
        by_kind.setdefault(item["kind"], Counter())[item["split"]] += 1
    lopsided = {kind: dict(c) for kind, c in by_kind.items() if abs(c["tune"] - c["heldout"]) > 1}
    assert lopsided == {}


def test_the_split_script_leaves_committed_splits_alone_and_deals_new_items_evenly():
    split = _split_module()
    for name in CORPUS_OF:
        raw = _raw(name)
        assert split.assign(name, [dict(item) for item in raw]) == raw
    fresh = [{"id": f"x{n}", "kind": "direct" if n % 3 else "list"} for n in range(31)]
    once = split.assign("fresh", [dict(item) for item in fresh])
    again = split.assign("fresh", [dict(item) for item in fresh])
    assert once == again
    assert split.problems("fresh", once) == []


@pytest.mark.parametrize("name", NEW_SETS)
def test_new_sets_hold_enough_items_of_every_kind(name: str):
    items = load_set(SETS / f"{name}.jsonl")
    counts = Counter(item.kind for item in items)
    short = {kind: counts[kind] for kind, least in MINIMUM.items() if counts[kind] < least}
    assert short == {}
    assert len(items) >= 60
    assert counts["pdf"] >= PDF_MINIMUM.get(name, 0)
    assert sum(not item.answerable for item in items if item.kind == "unanswerable") >= 8
    english = [item for item in items if item.kind == "cross-lingual" and item.question.isascii()]
    assert len(english) >= 8
    assert all(item.history for item in items if item.kind == "multi-turn")
    ordinary = [item for item in items if item.kind == "injection" and item.answerable]
    assert any(ORDINARY_TRIGGERS.search(item.question) for item in ordinary)


def test_manual_en_set_asks_mostly_in_chinese_about_english_text():
    """manual_en_dev is the Chinese-questions-about-English-manuals set: its questions are mostly
    Chinese (simplified, and some traditional), some English, and every quote and keyword is English,
    as the corpus is, so an answer can only score by quoting the English text."""
    items = load_set(SETS / "manual_en_dev.jsonl")
    chinese = [item for item in items if not item.question.isascii()]
    english = [item for item in items if item.question.isascii()]
    assert len(items) >= 40
    assert len(chinese) >= 24
    assert len(english) >= 6
    traditional = [item for item in chinese if item.kind == "traditional"]
    assert len(traditional) >= 4
    assert [
        item.id for item in chinese if (t2s(item.question) != item.question) != (item.kind == "traditional")
    ] == []
    assert all(not item.question.isascii() for item in items if item.kind == "cross-lingual")
    unanswerable = [item for item in items if not item.answerable]
    assert len(unanswerable) >= 6
    assert {item.question.isascii() for item in unanswerable} == {True, False}
    multi_turn = [item for item in items if item.kind == "multi-turn"]
    assert len(multi_turn) >= 3
    assert all(item.history for item in multi_turn)
    assert [item.id for item in items if CJK.search("".join(item.gold_quotes + item.answer_keywords))] == []


def test_pdf_items_are_answered_only_by_the_pdf(chunks_of):
    """A `pdf` item whose quote also sits in an HTML page would not test the PDF loader."""
    chunks = chunks_of("edu_dev")
    wrong = [
        (item.id, doc_id)
        for item in load_set(SETS / "edu_dev.jsonl")
        if item.kind == "pdf"
        for doc_id, text in chunks
        if any(compact(quote) in text for quote in item.gold_quotes) and not doc_id.endswith(".pdf")
    ]
    assert wrong == []
    assert all(item.answerable for item in load_set(SETS / "edu_dev.jsonl") if item.kind == "pdf")


def test_committed_corpora_match_what_extract_makes_from_the_packages():
    spec = importlib.util.spec_from_file_location("extract", CORPORA / "extract.py")
    extract = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extract)
    if not (extract.HANDBOOK.exists() and extract.EDU_PDF.exists() and extract.VALGRIND.exists()):
        pytest.skip("debian-handbook / debian-edu-doc-zh-cn / valgrind are not installed here")
    stale = [str(path) for path, data in extract.build().items() if path.read_bytes() != data]
    assert stale == []


REPLAYS = PROJECT_ROOT / "tests" / "fixtures"


@pytest.mark.parametrize("name", ["handbook_dev", "edu_dev", "manual_en_dev"])
def test_a_replayed_models_sentences_rest_on_one_chunk_of_the_corpus_its_item_is_about(name, chunks_of):
    """tests/fixtures/llm_replay_<corpus>.jsonl: what a strong model writes about a dev item, true
    and wrong sentences per slot. Each record is its dev item (same question, same split: a
    held-out item stays held out), and every quote lies in one chunk with the text it rests on."""
    texts = [t2s(text).lower() for _, text in chunks_of(name)]
    items = {item["id"]: item for item in _raw(name)}
    path = REPLAYS / f"llm_replay_{name.removesuffix('_dev')}.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    assert len(records) >= 20
    problems = []
    for record in records:
        item = items.get(record["id"], {})
        if (item.get("question"), item.get("split")) != (record["question"], record["split"]):
            problems.append((record["id"], "not its dev item"))
        truths = Counter((s["slot"], s["truth"]) for s in record["sentences"])
        if any(truths[(slot, True)] != 1 or not truths[(slot, False)] for slot, _ in truths):
            problems.append((record["id"], "a slot without one true and a wrong sentence"))
        for sentence in record["sentences"]:
            quote, source = (
                t2s(compact(text or "")).lower()
                for text in (sentence["quote"], sentence["cited_source_substring"])
            )
            if not any(quote in text and source in text for text in texts):
                problems.append((record["id"], sentence["quote"]))
    assert problems == []
