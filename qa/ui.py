"""The Gradio chat pages: the full page (/) and the compact one the widget frames (/embed).

Both stream the answer, then show it with clickable [n] markers and a citation card for each:
section, 第N段, and the paragraph with its supporting sentences highlighted. The full page has a
second tab with the article by section. Every piece of user and document text is escaped here,
before Gradio sees it, so a `<script>` in a question or a document shows as text.
"""

from __future__ import annotations

import html
import json
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import gradio as gr

from qa.answering import Answer
from qa.api import answer_stream
from qa.chunking import Chunk, split_sentences
from qa.citations import Citation
from qa.config import Settings
from qa.errors import QAError
from qa.pipeline import Pipeline

EXAMPLES = {
    "zh": ["有多少家机构成为绿色联盟合作伙伴？", "COP15第一阶段会议通过了什么？", "这篇文章的作者是谁？"],
    "en": [
        "Who wrote this article?",
        "What did the first part of COP15 adopt?",
        "How many partners joined the green coalition?",
    ],
}

LABELS = {
    "zh": {
        "title": "文章问答",
        "subtitle": "回答均引用原文段落；点击 [n] 查看出处。",
        "chat": "问答",
        "article": "原文",
        "placeholder": "输入问题，按回车发送",
        "send": "发送",
        "clear": "清空对话",
        "examples": "示例问题",
        "thinking": "正在检索…",
        "goto": "在原文中查看",
        "paragraph": "第{n}段",
        "contents": "目录",
        "empty": "还没有导入文档。",
    },
    "en": {
        "title": "Article Q&A",
        "subtitle": "Every answer cites the article's paragraphs; click [n] to see the source.",
        "chat": "Chat",
        "article": "Article",
        "placeholder": "Ask a question and press Enter",
        "send": "Send",
        "clear": "Clear chat",
        "examples": "Examples",
        "thinking": "Searching…",
        "goto": "View in article",
        "paragraph": "para. {n}",
        "contents": "Contents",
        "empty": "No document has been ingested yet.",
    },
}

MARKER = re.compile(r"\[(\d+)\]")

# Clicking [n] opens and shows its card; "view in article" switches tab and shows the paragraph.
HEAD = """
<script>
(function () {
  function flash(el) {
    el.classList.remove("qa-flash"); void el.offsetWidth; el.classList.add("qa-flash");
    el.scrollIntoView({ behavior: "smooth", block: "center" });
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target || !target.closest) return;
    var cite = target.closest("a.qa-cite");
    if (cite) {
      event.preventDefault(); event.stopPropagation();
      var card = document.getElementById(cite.getAttribute("href").slice(1));
      if (card) { card.open = true; flash(card); }
      return;
    }
    var go = target.closest("a.qa-goto");
    if (go) {
      event.preventDefault(); event.stopPropagation();
      var want = go.getAttribute("href").slice(1);
      var tabs = document.querySelectorAll("button[role=tab]");
      for (var i = 0; i < tabs.length; i++) {
        if (/原文|Article/.test(tabs[i].textContent)) tabs[i].click();
      }
      setTimeout(function () {
        var para = document.getElementById(want);
        if (para) flash(para);
      }, 150);
      return;
    }
    var toc = target.closest("a.qa-toc");
    if (toc) {
      event.preventDefault();
      var section = document.getElementById(toc.getAttribute("href").slice(1));
      if (section) flash(section);
    }
  }, true);
})();
</script>
"""

CSS = """
footer { display: none !important; }
.qa-answer { line-height: 1.6; }
a.qa-cite { font-weight: 600; text-decoration: none; cursor: pointer; padding: 0 1px; }
.qa-cards { margin-top: 0.6em; display: flex; flex-direction: column; gap: 0.4em; }
details.qa-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.35em 0.7em; background: var(--background-fill-secondary); }
details.qa-card summary { cursor: pointer; font-size: 0.92em; }
.qa-para { margin: 0.4em 0; font-size: 0.92em; white-space: pre-wrap; }
mark.qa-quote { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.qa-error { color: var(--error-text-color, #b91c1c); }
.qa-flash { animation: qa-flash 1.6s ease-out; }
@keyframes qa-flash { from { box-shadow: 0 0 0 3px #f59e0b; } to { box-shadow: 0 0 0 0 transparent; } }
.qa-article { max-height: 70vh; overflow-y: auto; line-height: 1.7; }
.qa-article p { margin: 0.5em 0; border-radius: 4px; }
.qa-article .qa-pn { color: var(--body-text-color-subdued); font-size: 0.8em; margin-right: 0.4em; }
.qa-toc-list { columns: 2 14em; font-size: 0.9em; }
@media (max-width: 640px) { .qa-toc-list { columns: 1; } .qa-article { max-height: none; } }
"""


def theme() -> gr.themes.Base:
    """The default theme with system fonts, so the page fetches nothing from a font CDN."""
    return gr.themes.Soft(
        font=["system-ui", "-apple-system", "Segoe UI", "PingFang SC", "Noto Sans CJK SC", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def label(lang: str, key: str) -> str:
    """One language, or both ("中文 · English") when lang is empty."""
    if lang in LABELS:
        return LABELS[lang][key]
    return f"{LABELS['zh'][key]} · {LABELS['en'][key]}"


def highlight(text: str, quote: str) -> str:
    """`text`, escaped, with each sentence of `quote` found in it wrapped in <mark>."""
    spans: list[tuple[int, int]] = []
    for sentence in split_sentences(quote) or [quote]:
        sentence = sentence.strip()
        start = text.find(sentence) if sentence else -1
        if start >= 0:
            spans.append((start, start + len(sentence)))
    out, position = [], 0
    for start, end in sorted(spans):
        if start < position:
            continue
        out.append(html.escape(text[position:start]))
        out.append(f'<mark class="qa-quote">{html.escape(text[start:end])}</mark>')
        position = end
    out.append(html.escape(text[position:]))
    return "".join(out)


def paragraph_id(chunk: Chunk) -> str:
    """The element id of a chunk's paragraph in the article tab (Gradio keeps ids, drops data-*)."""
    return _para_id(chunk.doc_id, chunk.paragraphs[0] if chunk.paragraphs else 0)


def _para_id(doc_id: str, number: int) -> str:
    return "qa-para-" + re.sub(r"\s", "_", f"{doc_id}:{number}")


def render_text(text: str, citations: Sequence[Citation], key: str) -> str:
    """The answer text, escaped, with its [n] markers as links to their cards."""
    known = {citation.n for citation in citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in known:
            return match.group(0)
        return f'<a class="qa-cite" href="#qa-{key}-{n}">[{n}]</a>'

    return MARKER.sub(link, html.escape(text)).replace("\n", "<br>")


def render_card(citation: Citation, key: str, lang: str, in_article: bool) -> str:
    chunk = citation.chunk
    numbers = "、".join(str(n) for n in chunk.paragraphs)
    where = " · ".join(
        part
        for part in (
            html.escape(chunk.section or chunk.title),
            label(lang or "zh", "paragraph").format(n=numbers),
        )
        if part
    )
    goto = (
        f'<a class="qa-goto" href="#{html.escape(paragraph_id(chunk))}">{label(lang, "goto")}</a>'
        if in_article
        else ""
    )
    return (
        f'<details class="qa-card" id="qa-{key}-{citation.n}">'
        f"<summary><b>[{citation.n}]</b> {where}</summary>"
        f'<div class="qa-para">{highlight(chunk.text, citation.quote)}</div>{goto}</details>'
    )


def render_answer(answer: Answer, lang: str = "", in_article: bool = True, key: str = "") -> str:
    """One HTML block (no blank lines, so Markdown leaves it alone): the answer, then its cards."""
    key = key or uuid.uuid4().hex[:8]
    cards = "".join(render_card(c, key, lang, in_article) for c in answer.citations)
    body = f'<div class="qa-answer">{render_text(answer.answer, answer.citations, key)}</div>'
    return body + (f'<div class="qa-cards">{cards}</div>' if cards else "")


def render_article(chunks: Sequence[Chunk], lang: str = "") -> str:
    """Every document, section by section, paragraph by paragraph, escaped, with a contents list."""
    if not chunks:
        return f"<p>{label(lang, 'empty')}</p>"
    paragraphs: dict[tuple[str, int], list[Chunk]] = {}
    titles: dict[str, str] = {}
    for chunk in chunks:
        number = chunk.paragraphs[0] if chunk.paragraphs else 0
        paragraphs.setdefault((chunk.doc_id, number), []).append(chunk)
        titles.setdefault(chunk.doc_id, chunk.title)
    toc, body, section_ids = [], [], {}
    current: tuple[str, str] | None = None
    for (doc_id, number), pieces in sorted(paragraphs.items()):
        section = pieces[0].section
        if (doc_id, section) != current:
            current = (doc_id, section)
            anchor = f"qa-sec-{len(section_ids)}"
            section_ids[current] = anchor
            name = html.escape(section or titles[doc_id] or doc_id)
            toc.append(f'<li><a class="qa-toc" href="#{anchor}">{name}</a></li>')
            body.append(f'<h3 id="{anchor}">{name}</h3>')
        text = _merge_windows([piece.text for piece in pieces])
        pid = html.escape(_para_id(doc_id, number))
        pn = label(lang or "zh", "paragraph").format(n=number)
        body.append(f'<p id="{pid}"><span class="qa-pn">{pn}</span>{html.escape(text)}</p>')
    return (
        f'<div class="qa-article"><b>{label(lang, "contents")}</b>'
        f'<ul class="qa-toc-list">{"".join(toc)}</ul>{"".join(body)}</div>'
    )


def _merge_windows(texts: Sequence[str]) -> str:
    """A long paragraph's windows joined back, dropping the sentences they repeat."""
    sentences: list[str] = []
    for text in texts:
        pieces = split_sentences(text) or [text]
        overlap = next(
            (n for n in range(min(len(pieces), len(sentences)), 0, -1) if sentences[-n:] == pieces[:n]), 0
        )
        sentences.extend(pieces[overlap:])
    return "".join(sentences)


class FeedbackLog:
    """Thumbs up/down appended to a JSONL file, one object a line, safe across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)


def _message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def build_ui(pipeline: Pipeline, settings: Settings | None = None, compact: bool = False) -> gr.Blocks:
    """The chat page (or, with compact=True, the widget's page); built, not launched."""
    settings = settings or pipeline.settings
    delay_s = settings.stream_delay_ms / 1000
    feedback = FeedbackLog(settings.feedback_file)
    page_lang = "zh" if compact else ""

    def respond(
        message: str, display: list[dict], turns: list[dict], lang: str
    ) -> Iterator[tuple[str, list[dict], list[dict]]]:
        question = (message or "").strip()
        display, turns = list(display or []), list(turns or [])
        if not question:
            yield "", display, turns
            return
        display += [_message("user", html.escape(question)), _message("assistant", label(lang, "thinking"))]
        yield "", display, turns
        history = [{"role": t["role"], "content": t["content"]} for t in turns]
        text, answer = "", None
        try:
            for item in answer_stream(pipeline, question, history, delay_s):
                if isinstance(item, Answer):
                    answer = item
                else:
                    text += item
                    display[-1] = _message("assistant", render_text(text, (), "partial"))
                    yield "", display, turns
        except QAError as exc:
            display[-1] = _message("assistant", f'<div class="qa-error">{html.escape(str(exc))}</div>')
            turns += [_message("user", question), {**_message("assistant", str(exc)), "error": True}]
            yield "", display, turns
            return
        assert answer is not None
        display[-1] = _message("assistant", render_answer(answer, lang, in_article=not compact))
        turns += [
            _message("user", question),
            {
                **_message("assistant", answer.answer),
                "citations": [c.chunk.chunk_id for c in answer.citations],
            },
        ]
        yield "", display, turns

    def record_feedback(data: gr.LikeData, turns: list[dict]) -> None:
        index = data.index if isinstance(data.index, int) else data.index[0]
        if not 0 < index < len(turns):
            return
        feedback.append(
            {
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
                "liked": data.liked,
                "question": turns[index - 1]["content"],
                "answer": turns[index]["content"],
                "citations": turns[index].get("citations", []),
                "page": "embed" if compact else "chat",
            }
        )

    def localise(request: gr.Request) -> tuple:
        lang = request.query_params.get("lang", page_lang) if request else page_lang
        lang = lang if lang in LABELS else page_lang
        examples = EXAMPLES.get(lang) or EXAMPLES["zh"] + EXAMPLES["en"]
        updates = (
            lang,
            gr.Textbox(placeholder=label(lang, "placeholder")),
            gr.Button(value=label(lang, "send")),
            gr.Button(value=label(lang, "clear")),
            gr.Dataset(samples=[[q] for q in examples], label=label(lang, "examples")),
        )
        if compact:
            return updates
        return (*updates, render_article(pipeline.store.all_chunks(), lang))

    title = label(page_lang, "title")
    with gr.Blocks(title=title, fill_height=compact, analytics_enabled=False) as page:
        lang_state = gr.State(page_lang)
        turns = gr.State([])
        if not compact:
            gr.Markdown(f"## {title}\n{label('', 'subtitle')}")
        with gr.Tabs():
            with gr.Tab(label(page_lang, "chat"), id="chat"):
                chatbot = gr.Chatbot(
                    elem_id="qa-chatbot",
                    show_label=False,
                    height=None if compact else 560,
                    min_height=240,
                    buttons=["copy", "copy_all"],
                    feedback_options=("Like", "Dislike"),
                    layout="bubble",
                    scale=1,
                )
                with gr.Row(equal_height=True):
                    textbox = gr.Textbox(
                        placeholder=label(page_lang, "placeholder"),
                        show_label=False,
                        container=False,
                        scale=5,
                        max_lines=4,
                        elem_id="qa-question",
                        autofocus=not compact,
                    )
                    send = gr.Button(label(page_lang, "send"), variant="primary", scale=1, min_width=70)
                clear = gr.Button(label(page_lang, "clear"), size="sm", variant="secondary")
                examples = gr.Examples(
                    [[q] for q in EXAMPLES["zh"] + EXAMPLES["en"]],
                    inputs=[textbox],
                    label=label(page_lang, "examples"),
                )
            if not compact:
                with gr.Tab(label(page_lang, "article"), id="article"):
                    article = gr.HTML(elem_id="qa-article")

        inputs = [textbox, chatbot, turns, lang_state]
        outputs = [textbox, chatbot, turns]
        textbox.submit(respond, inputs, outputs, api_name="chat")
        send.click(respond, inputs, outputs, api_visibility="private")
        clear.click(lambda: ("", [], []), None, outputs, api_visibility="private")
        chatbot.like(record_feedback, [turns], None, api_visibility="private")
        load_outputs = [lang_state, textbox, send, clear, examples.dataset]
        if not compact:
            load_outputs.append(article)
        page.load(localise, None, load_outputs, api_visibility="private")
    page.queue(default_concurrency_limit=settings.concurrency_limit)
    return page
