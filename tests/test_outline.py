"""Outline answers: an overview of the documents and the sections under a named heading, each
line a heading or key sentence quoted verbatim and cited, on a real index."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.config import Settings, load_settings
from qa.ingest.sync import ingest
from qa.query.outline import content_question, outline_kind, section_numbers
from qa.query.pipeline import Pipeline

GARDEN = """# 社区花园手册

## 1. 场地

社区花园位于老街东侧的空地上，共有四十个地块。

### 1.1. 地块分配

每户家庭每年可以申请一个地块。

### 1.2. 工具房

工具房在花园北门旁边，钥匙由值班志愿者保管。

## 2. 种植规则

花园只允许使用有机肥料。

### 2.1. 浇水

夏季每天傍晚统一浇水一次。

### 2.2. 病虫害

发现病虫害时应先报告管理员。
"""

BEES = """# Beekeeping Notes

## Hives

A hive holds one queen and thousands of worker bees.

## Honey

Honey is harvested in late summer when the frames are capped.

### Extracting

The frames are spun in an extractor to remove the honey.

### Storing

Honey keeps for years in sealed glass jars.
"""


@pytest.fixture(scope="module")
def two_manuals(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("manuals")
    (folder / "garden.md").write_text(GARDEN, encoding="utf-8")
    (folder / "bees.md").write_text(BEES, encoding="utf-8")
    settings = load_settings(vectorstore_dir=tmp_path_factory.mktemp("index"))
    ingest(settings, [folder], progress=False)
    return settings


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("这份手册讲了哪些内容？", "overview"),
        ("这些文档主要讲了哪些内容？", "overview"),
        ("Summarize these documents.", "overview"),
        ("What is this manual about?", "overview"),
        ("这些新闻主要讲了哪些内容？", "overview"),
        ("“结构”一章的 3.1 节下面分了哪些小节？", "sections"),
        ("第 11 章“维护”包括哪几部分？", "sections"),
        ("Which sections does the Honey chapter have?", "sections"),
        # facts about the documents, or about one part, are not outlines
        ("这篇文章是谁写的？", ""),
        ("这篇文章发表在哪本期刊上？", ""),
        ("Summarize the section about honey.", "overview"),
        ("总结一下第三部分。", "overview"),  # a part: answered from headings only if one is named
        # which section holds something (one section, not its parts)
        ("“系统升级”是第几节？", "locate"),
        ("讲 ldapvi 的是哪一节？", "locate"),
        ("Which chapter explains how long honey keeps?", "locate"),
        ("In which section is the tool shed described?", "locate"),
        ("rsyslog 对消息可以采取哪些行为？", ""),
        ("How is honey stored?", ""),
    ],
)
def test_outline_questions_are_told_from_fact_questions(question: str, kind: str) -> None:
    assert outline_kind(question) == kind


def test_sections_under_a_numbered_heading_are_its_subsections(two_manuals: Settings) -> None:
    answer = Pipeline(two_manuals).ask("“种植规则”这一节下面有哪些小节？")
    assert answer.answer.splitlines() == ["2.1. 浇水 [1]", "2.2. 病虫害 [2]"]
    assert [c.chunk.kind for c in answer.citations] == ["heading", "heading"]
    assert [c.chunk.doc_id for c in answer.citations] == ["garden.md", "garden.md"]


def test_sections_by_section_number(two_manuals: Settings) -> None:
    answer = Pipeline(two_manuals).ask("1 节下面分了哪些小节？")
    assert [line.split(" [")[0] for line in answer.answer.splitlines()] == ["1.1. 地块分配", "1.2. 工具房"]


def test_sections_of_unnumbered_headings_follow_their_levels(two_manuals: Settings) -> None:
    answer = Pipeline(two_manuals).ask("Which sections does the Honey chapter have?")
    assert [line.split(" [")[0] for line in answer.answer.splitlines()] == ["Extracting", "Storing"]


def test_overview_names_each_document_with_a_cited_key_sentence(two_manuals: Settings) -> None:
    pipeline = Pipeline(two_manuals)
    answer = pipeline.ask("这些文档主要讲了哪些内容？")
    lines = answer.answer.splitlines()
    assert not answer.refused
    # each document once, its top heading then the first sentence under it, every line cited
    assert {c.chunk.doc_id for c in answer.citations} == {"garden.md", "bees.md"}
    assert "1. 场地 [1]" in lines or "1. 场地 [3]" in lines
    assert any(line.startswith("社区花园位于老街东侧的空地上，共有四十个地块。") for line in lines)
    assert any(line.startswith("A hive holds one queen and thousands of worker bees.") for line in lines)
    for citation in answer.citations:
        assert citation.quote.strip() in citation.chunk.text
    # retrieval for the same question returns the chunks the outline quotes
    assert [r.chunk.chunk_id for r in pipeline.retrieve("这些文档主要讲了哪些内容？").results][:2] == [
        c.chunk.chunk_id for c in answer.citations[:2]
    ]


def test_overview_of_one_document_lists_its_sections(two_manuals: Settings) -> None:
    answer = Pipeline(two_manuals).ask("这份手册讲了哪些内容？", documents=["garden.md"])
    headings = [c.chunk.text for c in answer.citations if c.chunk.kind == "heading"]
    assert headings == ["1. 场地", "2. 种植规则"]
    assert "花园只允许使用有机肥料。" in answer.answer


def test_an_overview_of_documents_without_headings_quotes_how_each_opens(tmp_path: Path) -> None:
    """Plain text has no outline: one document is summed up by its first paragraphs, several
    (news stories) by each one's opening paragraph, each cited, not by one matching sentence."""
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "note.txt").write_text(
        "社区花园每年春天开放报名。\n\n报名需要带身份证。\n\n名额有限，先到先得。\n\n其余事项另行通知。\n",
        encoding="utf-8",
    )
    settings = load_settings(vectorstore_dir=tmp_path / "index")
    ingest(settings, [folder], progress=False)
    answer = Pipeline(settings).ask("这份文档讲了哪些内容？")
    assert all(c.chunk.kind != "heading" for c in answer.citations)
    assert [line.split(" [")[0] for line in answer.answer.splitlines()] == [
        "社区花园每年春天开放报名。",
        "报名需要带身份证。",
        "名额有限，先到先得。",
    ]
    (folder / "story.txt").write_text("老街夜市今晚重新开张。\n\n摊位费全免三个月。\n", encoding="utf-8")
    ingest(settings, [folder], progress=False)
    answer = Pipeline(settings).ask("这些新闻主要讲了哪些内容？")
    lines = [line.split(" [")[0] for line in answer.answer.splitlines()]
    assert sorted(lines) == ["社区花园每年春天开放报名。", "老街夜市今晚重新开张。"]
    assert {c.chunk.doc_id for c in answer.citations} == {"note.txt", "story.txt"}


def test_overview_of_a_named_part_lists_its_sections_with_key_sentences(two_manuals: Settings) -> None:
    answer = Pipeline(two_manuals).ask("Summarize the section about honey.")
    lines = [line.split(" [")[0] for line in answer.answer.splitlines()]
    assert lines == [
        "Honey",
        "Extracting",
        "The frames are spun in an extractor to remove the honey.",
        "Storing",
        "Honey keeps for years in sealed glass jars.",
    ]


def test_a_part_no_heading_names_is_answered_as_any_question(two_manuals: Settings) -> None:
    question = "总结一下第三部分讲的浇水安排。"
    assert outline_kind(question) == "overview"
    pipeline = Pipeline(two_manuals)
    answer = pipeline.ask(question)
    assert "2.1. 浇水 [1]" not in answer.answer  # no outline: ordinary retrieval and answer
    assert [r.chunk.kind for r in pipeline.retrieve(question).results].count("heading") < 5


def test_a_section_named_outright_is_the_answer_to_which_section(two_manuals: Settings) -> None:
    pipeline = Pipeline(two_manuals)
    answer = pipeline.ask("“浇水”是第几节？")
    assert answer.answer.splitlines() == ["2.1. 浇水 [1]"]
    assert pipeline.retrieve("“浇水”是第几节？").results[0].chunk.text == "2.1. 浇水"


def test_which_section_holds_an_answer_is_the_heading_above_the_paragraph_holding_it(
    two_manuals: Settings,
) -> None:
    pipeline = Pipeline(two_manuals)
    question = "Which chapter mentions sealed glass jars?"
    answer = pipeline.ask(question)
    assert not answer.refused
    assert answer.answer.splitlines() == ["Storing [1]", "Honey keeps for years in sealed glass jars. [2]"]
    assert [c.chunk.kind for c in answer.citations] == ["heading", "body"]
    retrieved = pipeline.retrieve(question).results
    assert [r.chunk.text for r in retrieved][:1] == ["Storing"]
    # in Chinese, about a paragraph whose heading shares none of its words
    answer = pipeline.ask("工具房的钥匙由谁保管，是在哪一节讲的？")
    assert answer.answer.splitlines()[0] == "1.2. 工具房 [1]"
    assert "钥匙由值班志愿者保管" in answer.answer


def test_which_subsection_of_a_named_section_looks_under_that_section(two_manuals: Settings) -> None:
    answer = Pipeline(two_manuals).ask("“种植规则”一节里，讲发现虫子该找谁的是哪一小节？")
    assert answer.answer.splitlines()[0] == "2.2. 病虫害 [1]"


def test_which_section_of_something_the_documents_never_mention_is_refused(two_manuals: Settings) -> None:
    answer = Pipeline(two_manuals).ask("哪一节讲了 Kubernetes？")
    assert answer.refused
    assert "Kubernetes" in answer.answer
    assert Pipeline(two_manuals).ask("Which chapter covers quantum computing?").refused


def test_overview_of_a_section_without_sections_quotes_its_paragraphs(two_manuals: Settings) -> None:
    answer = Pipeline(two_manuals).ask("Summarize the Hives section.")
    lines = [line.split(" [")[0] for line in answer.answer.splitlines()]
    assert lines == ["Hives", "A hive holds one queen and thousands of worker bees."]


def test_what_a_which_section_question_retrieves_is_its_content_alone():
    """The section words and the verb name no content: kept, "describes" found the manual's "This
    document describes…" first; a digit inside a name ("asn1Decoding") is no section number."""
    assert content_question("Which section describes asn1Decoding?").split() == ["asn1Decoding?"]
    assert content_question("讲 ldapvi 的是哪一节？").split() == ["ldapvi", "的是", "？"]
    assert content_question("How is honey stored?") == "How is honey stored?"
    assert section_numbers("asn1Decoding 在 3.1节，x86 见 chapter 2") == ["3.1", "2"]


def test_a_key_sentence_is_quoted_whole_and_a_too_long_one_gives_way_to_the_next():
    from qa.query.answerer import Draft
    from qa.query.outline import OutlineAnswerer
    from qa.records import Chunk, RetrievalResult

    def drafted(text: str) -> str:
        heading = Chunk("h", "d", "t", "1. Firewall", (1,), "1. Firewall", "1. Firewall", kind="heading")
        body = Chunk("b", "d", "t", "1. Firewall", (2,), text, text)
        results = [RetrievalResult(1, heading, 1.0), RetrievalResult(2, body, 1.0)]
        parts = OutlineAnswerer().draft("这份文档讲了什么？", results, "zh")
        return next(part for part in parts if not isinstance(part, Draft))

    opening = (
        "BACK TO BASICS Firewall A firewall is a piece of computer equipment with hardware and/or software "
        "that sorts the incoming or outgoing network packets (coming to or from a local network) and only "
        "lets through those matching certain predefined conditions."
    )
    assert len(opening) > 200 and f"{opening} [2]" in drafted(opening)  # 36 English words
    long_chinese = "防火墙" * 70 + "。"
    assert drafted(long_chinese + "防火墙过滤网络包。") == "1. Firewall [1]\n防火墙过滤网络包。 [2]"
