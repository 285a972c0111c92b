"""Verification: markers outside the retrieved set, unsupported sentences, numbers."""

from __future__ import annotations

from qa.chunking import Chunk
from qa.citations import Verifier, key_terms, split_claims


def _chunk(text: str, n: int = 1) -> Chunk:
    return Chunk(f"doc:{n}", "doc", "t", "一、部分", (n,), text, text)


SOURCE = _chunk("全力推动第一阶段会议通过了《昆明宣言》，第二阶段会议通过了兼具雄心又务实平衡的“框架”。")


def test_markers_bind_to_the_sentence_before_them():
    assert split_claims("甲通过了宣言 [1]。乙通过了框架。[2] Made up 2099. [9]") == [
        ("甲通过了宣言。", (1,)),
        ("乙通过了框架。", (2,)),
        ("Made up 2099.", (9,)),
    ]


def test_a_marker_outside_the_retrieved_set_is_dropped_and_the_claim_rechecked():
    report = Verifier().verify("第一阶段会议通过了《昆明宣言》。[7]", {1: SOURCE})
    assert [s.markers for s in report.kept] == [(1,)]
    assert "[7]" not in report.text


def test_a_sentence_the_cited_text_does_not_say_is_removed():
    report = Verifier().verify(
        "第一阶段会议通过了《昆明宣言》。[1] 中国承诺出资一百亿美元用于火星探测。[1]", {1: SOURCE}
    )
    assert report.text == "第一阶段会议通过了《昆明宣言》。 [1]"
    assert [s.text for s in report.removed] == ["中国承诺出资一百亿美元用于火星探测。"]


def test_a_number_missing_from_the_cited_text_fails_the_sentence():
    report = Verifier().verify("2030年第一阶段会议通过了《昆明宣言》。[1]", {1: SOURCE})
    assert not report.kept and "2030" in report.removed[0].reason


def test_key_terms_are_simplified_and_drop_question_words():
    terms = key_terms("COP15第一階段會議通過了什麼文件？")
    assert "cop15" in terms and "什么" not in terms and "会议" in terms
