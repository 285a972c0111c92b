"""Reading `[n]` and `[n: quote]` markers, whole and as they stream in."""

from __future__ import annotations

from qa.query.markers import Cite, claims, next_sentence
from qa.text.markers import strip_model_markers

ANSWER = (
    "第一阶段会议通过了《昆明宣言》[2: 全力推动第一阶段会议通过了《昆明宣言》]。"
    "已有近160家机构成为合作伙伴。[3：已有来自43个国家的近160家机构]"
    "文章认为这是新里程碑[1: 成为全球生物多样性治理的新里程碑。][4]。"
    "Nearly 160 institutions are partners [3: 近160家机构]. It was a success [1]."
)


def test_quotes_bind_to_their_sentence_before_or_after_the_stop():
    parsed = claims(ANSWER)
    assert [text for text, _ in parsed] == [
        "第一阶段会议通过了《昆明宣言》。",
        "已有近160家机构成为合作伙伴。",
        "文章认为这是新里程碑。",
        "Nearly 160 institutions are partners.",
        "It was a success.",
    ]
    assert parsed[0][1] == (Cite(2, "全力推动第一阶段会议通过了《昆明宣言》"),)
    assert parsed[1][1] == (Cite(3, "已有来自43个国家的近160家机构"),)
    assert parsed[2][1] == (Cite(1, "成为全球生物多样性治理的新里程碑。"), Cite(4, None))
    assert parsed[4][1] == (Cite(1, None),)


def test_plain_markers_read_as_before():
    assert claims("第一阶段会议通过了《昆明宣言》。 [1] 第二句。[2][3]") == [
        ("第一阶段会议通过了《昆明宣言》。", (Cite(1),)),
        ("第二句。", (Cite(2), Cite(3))),
    ]


def test_the_shown_text_keeps_no_quote():
    assert "全力推动" not in strip_model_markers(ANSWER) and "[" not in strip_model_markers(ANSWER)


def test_a_streamed_sentence_is_released_only_with_all_its_markers():
    """Feeding the answer a character at a time releases the same sentences, each complete."""
    buffer, released = "", []
    for char in ANSWER:
        buffer += char
        while (end := next_sentence(buffer)) is not None:
            released.append(buffer[:end])
            buffer = buffer[end:]
    released.append(buffer)
    assert "".join(released) == ANSWER
    assert [claims(piece) for piece in released] == [[pair] for pair in claims(ANSWER)]


def test_a_stop_inside_a_quote_does_not_end_the_sentence():
    assert next_sentence("文章认为这是新里程碑[1: 成为新里程碑。") is None
    assert next_sentence("文章认为这是新里程碑。[1: 成为新") is None
    assert next_sentence("文章认为这是新里程碑。[1: 成为新里程碑] 下") == len(
        "文章认为这是新里程碑。[1: 成为新里程碑]"
    )


MANUAL = (
    "圖的寬度預設為 72 欄[1: --x=<4..1000> [default: 72] Width of the graph, in columns.]。"
    "`--leak-check` defaults to `summary` [2: --leak-check=<no|summary|yes|full> [default: summary]]. "
    "A stray one [3: a [b c]. Then [4]."
)


def test_a_quote_holding_brackets_of_its_own_ends_at_the_bracket_that_closes_the_marker():
    """Manuals write "[default: 72]"; the quote of such a line is not cut inside it, and nothing of
    it is left in the text shown. A stray opening bracket stays the quote's."""
    parsed = claims(MANUAL)
    assert [text for text, _ in parsed] == [
        "圖的寬度預設為 72 欄。",
        "`--leak-check` defaults to `summary`.",
        "A stray one.",
        "Then.",
    ]
    assert parsed[0][1] == (Cite(1, "--x=<4..1000> [default: 72] Width of the graph, in columns."),)
    assert parsed[1][1] == (Cite(2, "--leak-check=<no|summary|yes|full> [default: summary]"),)
    assert parsed[2][1] == (Cite(3, "a [b c"),)
    assert strip_model_markers(MANUAL).count("]") == 0


def test_a_streamed_quote_is_not_taken_as_complete_at_the_bracket_of_its_own():
    cut = "圖的寬度預設為 72 欄[1: --x=<4..1000> [default: 72] Width of the graph. In columns"
    assert next_sentence(cut) is None  # "[1: … [default: 72]" is not a whole marker yet
    assert next_sentence(MANUAL) == MANUAL.index("`--leak-check`")
