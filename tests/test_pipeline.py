"""The pipeline's JSON shape and its streaming path."""

from __future__ import annotations

from qa.query.pipeline import Pipeline
from qa.records import Answer

KEYS = {"question", "answer", "refused", "mode", "citations", "retrieved", "latency_ms"}
CITATION_KEYS = {"n", "chunk_id", "doc_id", "section", "paragraphs", "text", "quote"}


def test_ask_json_keeps_the_interface_shape(pipeline: Pipeline):
    data = pipeline.ask("这篇文章的DOI是多少？").as_json()
    assert set(data) >= KEYS and data["mode"] == "extractive"
    assert all(set(c) >= CITATION_KEYS for c in data["citations"])


def test_stream_yields_text_pieces_that_add_up_to_the_final_answer(pipeline: Pipeline):
    pieces = list(pipeline.ask_stream("当前全球环境面临的三大挑战是什么？"))
    final = pieces[-1]
    assert isinstance(final, Answer)
    assert "".join(p for p in pieces[:-1] if isinstance(p, str)) == final.answer
