"""Verification: markers outside the retrieved set, unsupported sentences, numbers."""

from __future__ import annotations

import pytest

from qa.query.citations import VerifiedStream, Verifier, split_claims
from qa.records import Chunk
from qa.text.terms import key_terms


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


def test_an_english_answers_frame_is_not_checked_only_the_quote_inside_it():
    """The frames an English extractive answer writes around a Chinese quote, the quote holding
    quotation marks of its own; a quote the cited text does not hold still fails."""
    quote = "第二阶段会议通过了兼具雄心又务实平衡的“框架”。"
    for frame in ("The article says:", "It also says:", "The documents say:", "“深化国际合作” says:"):
        report = Verifier().verify(f"{frame} “{quote}” [1]", {1: SOURCE})
        assert [s.markers for s in report.kept] == [(1,)] and not report.removed, frame
    made_up = Verifier().verify("The article says: “中国承诺出资一百亿美元用于火星探测。” [1]", {1: SOURCE})
    assert not made_up.kept


def test_a_number_missing_from_the_cited_text_fails_the_sentence():
    report = Verifier().verify("2030年第一阶段会议通过了《昆明宣言》。[1]", {1: SOURCE})
    assert not report.kept and "2030" in report.removed[0].reason


def test_key_terms_are_simplified_and_drop_question_words():
    terms = key_terms("COP15第一階段會議通過了什麼文件？")
    assert "cop15" in terms and "什么" not in terms and "会议" in terms


def test_one_character_nouns_are_key_terms_and_this_article_is_not():
    assert "汞" in key_terms("與汞有關的公約是哪一個？")
    assert key_terms("这篇文章的作者是谁？") == ["作者"]
    assert key_terms("这篇文章是谁写的？") == ["写"]


def test_a_question_is_not_a_claim_even_when_its_words_are_in_the_source():
    report = Verifier().verify("第一阶段会议通过了什么宣言？[1]", {1: SOURCE})
    assert not report.kept and report.removed[0].reason == "a question, not an answer"


def test_a_new_place_or_garbled_word_fails_a_sentence_whose_other_words_match():
    for claim in ["第一阶段会议在河南通过了《昆明宣言》。", "第一阶段会议住赫素通过了《昆明宣言》。"]:
        ok, reason, overlap, _ = Verifier(embed=lambda texts: [[1.0, 0.0]] * len(texts)).supports(
            claim, SOURCE.text
        )
        assert not ok and overlap >= 0.75 and "does not say" in reason


def test_a_paraphrase_may_add_one_common_word_when_it_means_the_same():
    same = Verifier(embed=lambda texts: [[1.0, 0.0]] * len(texts))
    assert same.supports("第一阶段会议以投票方式通过了《昆明宣言》。", SOURCE.text)[0] is False  # two new
    assert same.supports("第一阶段会议正式通过了《昆明宣言》。", SOURCE.text)[0]
    assert not Verifier().supports("第一阶段会议正式通过了《昆明宣言》。", SOURCE.text)[0]


def test_english_around_chinese_that_is_in_the_source_is_its_translation():
    assert Verifier().supports("The Kunming Declaration (《昆明宣言》).", SOURCE.text)[0]
    assert not Verifier().supports("The Kunming Declaration (《北京宣言》).", SOURCE.text)[0]


def _streamed(text: str, step: int, may_be_cut: bool = False) -> tuple[list[str], VerifiedStream]:
    """Feeds `text` in pieces of `step` characters, as a model streams it."""
    stream = VerifiedStream(Verifier(), {1: SOURCE})
    shown = [piece for i in range(0, len(text), step) for piece in stream.feed(text[i : i + step])]
    return shown + list(stream.finish(may_be_cut=may_be_cut)), stream


def test_a_streamed_sentence_is_shown_once_complete_and_a_removed_one_never():
    text = (
        "第一阶段会议通过了《昆明宣言》[1]。中国承诺出资一百亿美元用于火星探测。[1] "
        "第二阶段会议通过了“框架”。[1]"
    )
    for step in (1, 3, 7, len(text)):
        shown, stream = _streamed(text, step)
        assert "".join(shown) == stream.shown
        assert "火星" not in stream.shown and "第二阶段会议通过了“框架”。[1]" in stream.shown
        assert [s.text for s in stream.removed] == ["中国承诺出资一百亿美元用于火星探测。"]


def test_a_sentence_is_held_back_until_its_markers_have_arrived():
    stream = VerifiedStream(Verifier(), {1: SOURCE})
    assert list(stream.feed("第一阶段会议通过了《昆明宣言》。 [")) == []
    assert list(stream.feed("1]")) == []  # more markers may follow
    assert "".join(stream.feed(" 第二")) == "第一阶段会议通过了《昆明宣言》。 [1]"


def test_a_draft_cut_off_mid_sentence_does_not_show_the_fragment():
    shown, stream = _streamed("第一阶段会议通过了《昆明宣言》。[1] 第二阶段会议通过了", 4, may_be_cut=True)
    assert stream.shown == "第一阶段会议通过了《昆明宣言》。[1]"
    assert stream.removed[-1].reason == "unfinished sentence"


@pytest.mark.parametrize(
    "pieces",
    [
        ["3.1.1. 缺省网络设置 [1]\n3.1.2. 主服务器 [2]"],
        ["3.1.1. 缺省网", "络设置 [1]", "\n", "3.1.2. 主服", "务器 [2]"],
        ["3.1.1. 缺省网络设置 [1]\n", "3.1.2. 主服务器 [2]"],
    ],
)
def test_a_drafts_line_breaks_survive_however_it_is_streamed(pieces):
    """An outline is one line per heading: the verified stream keeps the breaks between lines,
    whether they arrive with a line, alone, or before the next line's first piece."""
    chunks = {
        1: Chunk("a#1", "a", "t", "s", (1,), "3.1.1. 缺省网络设置", "3.1.1. 缺省网络设置", "heading"),
        2: Chunk("a#2", "a", "t", "s", (2,), "3.1.2. 主服务器", "3.1.2. 主服务器", "heading"),
    }
    stream = VerifiedStream(Verifier(), chunks)
    shown = "".join(out for piece in pieces for out in stream.feed(piece)) + "".join(stream.finish())
    assert shown == stream.shown == "3.1.1. 缺省网络设置 [1]\n3.1.2. 主服务器 [2]"
