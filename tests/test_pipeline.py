"""The pipeline's JSON shape and its streaming path."""

from __future__ import annotations

from qa.config import Settings
from qa.query.citations import CheckedSentence, Verifier
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


class _RejectsEverything(Verifier):
    """A verifier no sentence passes, to see what the pipeline does when none holds."""

    def check(self, claim, markers, chunks):  # noqa: ANN001, ANN201 - the base signature
        return CheckedSentence(claim, (), False, "rejected for the test")


def test_an_answer_whose_sentences_all_fail_verification_is_flagged(article_settings: Settings):
    strict = Pipeline(article_settings)
    strict.verifier = _RejectsEverything()
    answer = strict.ask("COP15第一阶段会议通过了什么文件？")
    assert not answer.refused and "昆明宣言" in answer.answer
    assert answer.verified is False and answer.as_json()["verified"] is False
    assert [s.reason for s in answer.unverified] == ["rejected for the test"] * len(answer.unverified)
    assert answer.unverified and answer.citations


def test_a_verified_answer_carries_no_flag(pipeline: Pipeline):
    answer = pipeline.ask("COP15第一阶段会议通过了什么文件？")
    assert answer.verified and "verified" not in answer.as_json() and "昆明宣言" in answer.answer
