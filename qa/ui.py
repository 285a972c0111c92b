"""The Gradio chat page: a question box, answers with [n] markers and their source paragraphs."""

from __future__ import annotations

import html

import gradio as gr

from qa.answering import Answer
from qa.errors import QAError
from qa.pipeline import Pipeline

EXAMPLES = [
    "有多少家机构成为绿色联盟合作伙伴？",
    "COP15第一阶段会议通过了什么？",
    "Who wrote this article?",
]


def render_answer(answer: Answer) -> str:
    """Markdown for one answer: the text, then each citation's section, paragraph and text."""
    lines = [html.escape(answer.answer)]
    for citation in answer.citations:
        paragraphs = "、".join(str(n) for n in citation.chunk.paragraphs)
        lines.append(
            f"\n**[{citation.n}]** {html.escape(citation.chunk.section)} · 第{paragraphs}段\n"
            f"> {html.escape(citation.chunk.text)}"
        )
    return "\n".join(lines)


def build_ui(pipeline: Pipeline) -> gr.Blocks:
    def respond(message: str, history: list[dict]) -> str:
        turns = [{"role": turn["role"], "content": str(turn["content"])} for turn in history]
        try:
            return render_answer(pipeline.ask(message, turns))
        except QAError as exc:
            return html.escape(str(exc))

    with gr.Blocks(title="文章问答 · Article Q&A") as page:
        gr.Markdown("## 文章问答 · Ask the article")
        gr.ChatInterface(respond, examples=EXAMPLES, api_name="chat")
    return page
