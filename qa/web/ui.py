"""The Gradio chat pages: the full page (/) and the compact one the widget frames (/embed).

Both stream the answer, then show it with clickable [n] markers and a citation card for each:
the document, section, 第N段 (and page), and the paragraph with its supporting sentences
highlighted. The full page has a second tab, the document browser: pick a document and read it
by section, one document at a time so a big collection stays fast. When an admin token is set,
that tab also has the admin panel (upload, remove), which goes through the same DocumentLibrary
as the HTTP API. Every piece of user and document text is escaped here, before Gradio sees it,
so a `<script>` in a question or a document shows as text.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import gradio as gr

from qa.config import Settings
from qa.errors import AccessError, QAError, TimeLimitError
from qa.index.store import StoredDocument
from qa.ingest.documents import SUPPORTED_SUFFIXES
from qa.query.pipeline import Pipeline
from qa.records import Answer, Chunk, Citation
from qa.text.sentences import split_sentences
from qa.web.library import DocumentLibrary
from qa.web.streaming import answer_stream

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
        "title": "文档问答",
        "subtitle": "回答均引用文档段落；点击 [n] 查看出处。",
        "chat": "问答",
        "article": "文档",
        "placeholder": "输入问题，按回车发送",
        "send": "发送",
        "clear": "清空对话",
        "examples": "示例问题",
        "thinking": "正在检索…",
        "goto": "在文档中查看",
        "paragraph": "第{n}段",
        "page": "第{n}页",
        "contents": "目录",
        "empty": "还没有导入文档。",
        "picker": "文档",
        "scope": "回答范围（不选即全部文档）",
        "chunks": "{n}块",
        "ingested": "导入于 {t}",
        "admin": "管理文档",
        "token": "管理员令牌",
        "files": "上传文件",
        "add": "添加到文档库",
        "remove": "删除所选文档",
        "added": "已添加 {names}：新增 {n} 块。",
        "removed": "已删除 {doc}（{n} 块）。",
        "bad_token": "管理员令牌不正确。",
        "no_file": "请先选择文件。",
        "no_doc": "请先选择要删除的文档。",
        "flagged": "注意：这个回答的句子都没有通过与所引段落的核对，请对照出处阅读。",
        "dropped": "已删除的未经证实的句子（{n}）",
    },
    "en": {
        "title": "Document Q&A",
        "subtitle": "Every answer cites the documents' paragraphs; click [n] to see the source.",
        "chat": "Chat",
        "article": "Documents",
        "placeholder": "Ask a question and press Enter",
        "send": "Send",
        "clear": "Clear chat",
        "examples": "Examples",
        "thinking": "Searching…",
        "goto": "View in document",
        "paragraph": "para. {n}",
        "page": "p. {n}",
        "contents": "Contents",
        "empty": "No document has been ingested yet.",
        "picker": "Document",
        "scope": "Answer from (none chosen: every document)",
        "chunks": "{n} chunks",
        "ingested": "ingested {t}",
        "admin": "Manage documents",
        "token": "Admin token",
        "files": "Upload files",
        "add": "Add to the collection",
        "remove": "Remove the chosen document",
        "added": "Added {names}: {n} new chunks.",
        "removed": "Removed {doc} ({n} chunks).",
        "bad_token": "The admin token is missing or wrong.",
        "no_file": "Choose a file first.",
        "no_doc": "Choose the document to remove first.",
        "flagged": "Note: no sentence of this answer passed the check against its cited paragraph.",
        "dropped": "Sentences removed as unsupported ({n})",
    },
}

MARKER = re.compile(r"\[(\d+)\]")

# Clicking [n] opens and shows its card. "View in document" switches to the document tab; if the
# cited document is not the one shown, a hidden button asks the server for it (its click event
# reads window.qaGotoTarget); then the paragraph is scrolled to and flashed once it is there, and
# the card's quoted spans (its <mark>s, the chunk's own text) are marked in it too. The marks are
# made from text nodes (splitText), never from HTML, so no document text is ever parsed as markup.
HEAD = """
<script>
(function () {
  function flash(el) {
    el.classList.remove("qa-flash"); void el.offsetWidth; el.classList.add("qa-flash");
    el.scrollIntoView({ behavior: "smooth", block: "center" });
  }
  function unmark() {
    var marks = document.querySelectorAll(".qa-article mark.qa-quote");
    for (var i = 0; i < marks.length; i++) {
      var parent = marks[i].parentNode;
      parent.replaceChild(document.createTextNode(marks[i].textContent), marks[i]);
      parent.normalize();
    }
  }
  function markQuote(el, quote) {
    if (!quote) return;
    var nodes = [];
    for (var n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 3) nodes.push(n);
    for (var i = 0; i < nodes.length; i++) {
      var at = nodes[i].data.indexOf(quote);
      if (at < 0) continue;
      var middle = nodes[i].splitText(at);
      middle.splitText(quote.length);
      var mark = document.createElement("mark");
      mark.className = "qa-quote";
      mark.textContent = middle.data;
      el.replaceChild(mark, middle);
      return;
    }
  }
  function whenShown(id, quotes, tries) {
    var el = document.getElementById(id);
    if (el && el.offsetParent !== null) {
      var old = document.querySelectorAll(".qa-cited");
      for (var i = 0; i < old.length; i++) old[i].classList.remove("qa-cited");
      el.classList.add("qa-cited");
      unmark();
      for (var q = 0; q < quotes.length; q++) markQuote(el, quotes[q]);
      flash(el);
      return;
    }
    if (tries > 0) setTimeout(function () { whenShown(id, quotes, tries - 1); }, 100);
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
      var card = go.closest(".qa-card");
      var marked = card ? card.querySelectorAll(".qa-para mark.qa-quote") : [];
      var quotes = [];
      for (var m = 0; m < marked.length; m++) quotes.push(marked[m].textContent);
      var tabs = document.querySelectorAll("button[role=tab]");
      for (var i = 0; i < tabs.length; i++) {
        if (/文档|Documents/.test(tabs[i].textContent)) tabs[i].click();
      }
      if (!document.getElementById(want)) {
        window.qaGotoTarget = want;
        var button = document.getElementById("qa-goto-button");
        if (button) button.click();
      }
      setTimeout(function () { whenShown(want, quotes, 100); }, 150);
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
.qa-flag { margin-bottom: 0.4em; padding: 0.3em 0.6em; border-radius: 6px; font-size: 0.9em;
  background: var(--color-accent-soft); }
details.qa-dropped { margin-top: 0.4em; font-size: 0.85em; color: var(--body-text-color-subdued); }
a.qa-cite { font-weight: 600; text-decoration: none; cursor: pointer; padding: 0 1px; }
.qa-cards { margin-top: 0.6em; display: flex; flex-direction: column; gap: 0.4em; }
details.qa-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.35em 0.7em; background: var(--background-fill-secondary); }
details.qa-card summary { cursor: pointer; font-size: 0.92em; }
.qa-source { display: block; margin-left: 1.6em; font-size: 0.85em; color: var(--body-text-color-subdued);
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.qa-para { margin: 0.4em 0; font-size: 0.92em; white-space: pre-wrap; }
mark.qa-quote { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.qa-error { color: var(--error-text-color, #b91c1c); }
.qa-flash { animation: qa-flash 1.6s ease-out; }
@keyframes qa-flash { from { box-shadow: 0 0 0 3px #f59e0b; } to { box-shadow: 0 0 0 0 transparent; } }
.qa-article { max-height: 70vh; overflow-y: auto; line-height: 1.7; }
.qa-article p { margin: 0.5em 0; border-radius: 4px; }
.qa-article p.qa-cited { background: #fef3c7; }
.qa-article .qa-pn { color: var(--body-text-color-subdued); font-size: 0.8em; margin-right: 0.4em; }
.qa-toc-list { columns: 2 14em; font-size: 0.9em; }
.qa-doc-head { margin-bottom: 0.5em; }
.qa-doc-head .qa-doc-title { font-size: 1.15em; font-weight: 600; display: block; }
.qa-doc-meta, .qa-doc-list td.qa-num { color: var(--body-text-color-subdued); font-size: 0.85em; }
.qa-doc-head .qa-doc-meta, .qa-doc-list .qa-doc-meta { display: block; }
.qa-doc-list { width: 100%; font-size: 0.88em; border-collapse: collapse; border: 0 !important; }
.qa-doc-list td { padding: 3px 6px !important; text-align: left; vertical-align: top;
  border: 0 !important; border-bottom: 1px solid var(--border-color-primary) !important;
  overflow-wrap: anywhere; }
.qa-ok { color: var(--color-green-600, #15803d); }
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


def where(chunk: Chunk, lang: str) -> str:
    """Section, paragraph and page of a chunk for a reader, escaped: "一、… · 第9段 · 第3页"."""
    numbers = "、".join(str(n) for n in chunk.paragraphs)
    parts = [
        html.escape(chunk.section),
        label(lang or "zh", "paragraph").format(n=numbers),
        label(lang or "zh", "page").format(n=chunk.page) if chunk.page else "",
    ]
    return " · ".join(part for part in parts if part)


def render_card(citation: Citation, key: str, lang: str, in_article: bool) -> str:
    """The card names its document on a second, quieter line: clean with one document, clear
    with many."""
    chunk = citation.chunk
    source = html.escape(chunk.title or chunk.doc_id)
    goto = (
        f'<a class="qa-goto" href="#{html.escape(paragraph_id(chunk))}">{label(lang, "goto")}</a>'
        if in_article
        else ""
    )
    return (
        f'<details class="qa-card" id="qa-{key}-{citation.n}">'
        f"<summary><b>[{citation.n}]</b> {where(chunk, lang)}"
        f'<span class="qa-source">{source}</span></summary>'
        f'<div class="qa-para">{highlight(chunk.text, citation.quote)}</div>{goto}</details>'
    )


def render_answer(answer: Answer, lang: str = "", in_article: bool = True, key: str = "") -> str:
    """One HTML block (no blank lines, so Markdown leaves it alone): the answer, then its cards."""
    key = key or uuid.uuid4().hex[:8]
    cards = "".join(render_card(c, key, lang, in_article) for c in answer.citations)
    body = f'<div class="qa-answer">{render_text(answer.answer, answer.citations, key)}</div>'
    if not answer.verified:
        body = f'<div class="qa-flag">{label(lang, "flagged")}</div>' + body
    if answer.unverified and answer.verified:
        items = "".join(
            f"<li>{html.escape(s.sentence)} <i>({html.escape(s.reason)})</i></li>" for s in answer.unverified
        )
        summary = label(lang, "dropped").format(n=len(answer.unverified))
        body += f'<details class="qa-dropped"><summary>{summary}</summary><ul>{items}</ul></details>'
    return body + (f'<div class="qa-cards">{cards}</div>' if cards else "")


def render_article(chunks: Sequence[Chunk], lang: str = "", document: StoredDocument | None = None) -> str:
    """A document (the chunks of one, in practice) section by section, paragraph by paragraph,
    escaped, with a contents list and, given its record, a heading with its title and numbers."""
    if not chunks:
        return f"<p>{label(lang, 'empty')}</p>"
    paragraphs: dict[tuple[str, int], list[Chunk]] = {}
    titles: dict[str, str] = {}
    for chunk in chunks:
        number = chunk.paragraphs[0] if chunk.paragraphs else 0
        paragraphs.setdefault((chunk.doc_id, number), []).append(chunk)
        titles.setdefault(chunk.doc_id, chunk.title)
    toc, body, section_ids = [], [], {}
    head = _document_head(document, lang) if document else ""
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
        if pieces[0].page:
            pn += " · " + label(lang or "zh", "page").format(n=pieces[0].page)
        body.append(f'<p id="{pid}"><span class="qa-pn">{pn}</span>{html.escape(text)}</p>')
    return (
        f'<div class="qa-article">{head}<b>{label(lang, "contents")}</b>'
        f'<ul class="qa-toc-list">{"".join(toc)}</ul>{"".join(body)}</div>'
    )


def _when(stamp: str) -> str:
    """An ISO time as '2025-05-01 09:30 UTC', short enough for a picker."""
    try:
        return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return stamp


def _document_head(document: StoredDocument, lang: str) -> str:
    meta = " · ".join(
        [
            html.escape(document.doc_id),
            label(lang or "zh", "chunks").format(n=document.chunks),
            label(lang or "zh", "ingested").format(t=_when(document.ingested_at)),
        ]
    )
    title = html.escape(document.title or document.doc_id)
    return (
        f'<div class="qa-doc-head"><span class="qa-doc-title">{title}</span>'
        f'<span class="qa-doc-meta">{meta}</span></div>'
    )


def document_choices(documents: Sequence[StoredDocument], lang: str = "") -> list[tuple[str, str]]:
    """(label, doc_id) for the picker: title, file, chunks and when it was ingested."""
    choices = []
    for document in documents:
        name = document.title or document.doc_id
        if document.title and document.title != document.doc_id:
            name += f" ({document.doc_id})"
        chunks = label(lang or "zh", "chunks").format(n=document.chunks)
        choices.append((f"{name} · {chunks} · {_when(document.ingested_at)[:10]}", document.doc_id))
    return choices


def render_document_list(documents: Sequence[StoredDocument], lang: str = "") -> str:
    """The collection as a small table, escaped, for the admin panel."""
    if not documents:
        return f"<p>{label(lang, 'empty')}</p>"
    rows = "".join(
        f"<tr><td>{html.escape(doc.title or doc.doc_id)}"
        f'<span class="qa-doc-meta">{html.escape(doc.doc_id)}</span></td>'
        f'<td class="qa-num">{label(lang or "zh", "chunks").format(n=doc.chunks)}</td>'
        f'<td class="qa-num">{_when(doc.ingested_at)}</td></tr>'
        for doc in documents
    )
    return f'<table class="qa-doc-list" id="qa-doc-table"><tbody>{rows}</tbody></table>'


def document_for_target(documents: Sequence[StoredDocument], target: str) -> str | None:
    """The doc id whose paragraph element id is `target` ("qa-para-<doc>:<n>"), if any."""
    anchor = target.rsplit(":", 1)[0] + ":"
    return next((doc.doc_id for doc in documents if _para_id(doc.doc_id, 0)[:-1] == anchor), None)


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


def _status(text: str, ok: bool) -> str:
    return f'<div class="{"qa-ok" if ok else "qa-error"}">{html.escape(text)}</div>'


def build_ui(
    pipeline: Pipeline,
    settings: Settings | None = None,
    compact: bool = False,
    library: DocumentLibrary | None = None,
) -> gr.Blocks:
    """The chat page (or, with compact=True, the widget's page); built, not launched."""
    settings = settings or pipeline.settings
    library = library or DocumentLibrary(pipeline, settings)
    admin = library.enabled and not compact
    delay_s = settings.stream_delay_ms / 1000
    feedback = FeedbackLog(settings.feedback_file)
    page_lang = "zh" if compact else ""

    def browse(doc_id: str | None, lang: str) -> tuple:
        """Picker, document view and (for the admin panel) the list, showing `doc_id`, or the
        first document when it is gone or not given. Only that one document's chunks are read."""
        documents = library.documents()
        known = {doc.doc_id: doc for doc in documents}
        chosen = doc_id if doc_id in known else (documents[0].doc_id if documents else None)
        if chosen:
            with pipeline.reading() as store:
                view = render_article(store.document_chunks(chosen), lang, known[chosen])
        else:
            view = render_article((), lang)
        choices = document_choices(documents, lang)
        picker = gr.Dropdown(choices=choices, value=chosen, label=label(lang, "picker"))
        scope = gr.Dropdown(choices=choices, label=label(lang, "scope"))  # keeps what is chosen
        return (
            (picker, view, scope, render_document_list(documents, lang)) if admin else (picker, view, scope)
        )

    def goto(target: str, lang: str) -> tuple:
        return browse(document_for_target(library.documents(), target or ""), lang)

    def upload(token: str, files: list[str] | None, current: str | None, lang: str) -> tuple:
        try:
            library.authorise(token)
            if not files:
                return (_status(label(lang, "no_file"), False), gr.File(), *browse(current, lang))
            with ExitStack() as stack:
                opened = [(Path(path).name, stack.enter_context(open(path, "rb"))) for path in files]
                result = library.add(opened)
            for path in files:  # Gradio's copy; the upload folder has the kept one
                Path(path).unlink(missing_ok=True)
        except QAError as exc:
            message = label(lang, "bad_token") if isinstance(exc, AccessError) else str(exc)
            return (_status(message, False), gr.File(), *browse(current, lang))
        names = "、".join(doc.doc_id for doc in result.documents)
        done = label(lang, "added").format(names=names, n=result.chunks_added)
        newest = result.documents[-1].doc_id if result.documents else current
        return (_status(done, True), gr.File(value=None), *browse(newest, lang))

    def remove(token: str, current: str | None, lang: str) -> tuple:
        try:
            library.authorise(token)
            if not current:
                return (_status(label(lang, "no_doc"), False), *browse(current, lang))
            result = library.remove(current)
        except QAError as exc:
            message = label(lang, "bad_token") if isinstance(exc, AccessError) else str(exc)
            return (_status(message, False), *browse(current, lang))
        done = label(lang, "removed").format(doc=result.doc_id, n=result.chunks_removed)
        return (_status(done, True), *browse(None, lang))

    def respond(
        message: str, display: list[dict], turns: list[dict], lang: str, scope: list[str] | None = None
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
        deadline = time.monotonic() + settings.answer_timeout_s
        pieces = answer_stream(pipeline, question, history, delay_s, scope or ())
        try:
            for item in pieces:
                if time.monotonic() > deadline:  # a slow answer gives its queue slot back
                    raise TimeLimitError(
                        f"The answer took longer than {settings.answer_timeout_s:g} s "
                        "(QA_ANSWER_TIMEOUT_S) and was stopped."
                    )
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
        finally:
            pieces.close()
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
        return (*updates, *browse(None, lang))

    title = label(page_lang, "title")
    # Files picked in the admin panel wait in Gradio's cache; drop those left there after a day.
    with gr.Blocks(
        title=title, fill_height=compact, analytics_enabled=False, delete_cache=(3600, 86400)
    ) as page:
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
                if not compact:  # the chat answers from the documents chosen here, or from all
                    scope = gr.Dropdown(
                        choices=[],
                        value=[],
                        multiselect=True,
                        label=label(page_lang, "scope"),
                        elem_id="qa-scope",
                        interactive=True,
                        allow_custom_value=True,  # ids for the /chat endpoint; the pipeline checks them
                    )
                examples = gr.Examples(
                    [[q] for q in EXAMPLES["zh"] + EXAMPLES["en"]],
                    inputs=[textbox],
                    label=label(page_lang, "examples"),
                )
            if not compact:
                with gr.Tab(label(page_lang, "article"), id="article"), gr.Row():
                    with gr.Column(scale=3, min_width=320):
                        picker = gr.Dropdown(
                            choices=[],
                            label=label(page_lang, "picker"),
                            elem_id="qa-doc-picker",
                            filterable=True,
                            interactive=True,
                        )
                        article = gr.HTML(elem_id="qa-article")
                    if admin:
                        with (
                            gr.Column(scale=2, min_width=300),
                            gr.Accordion(label(page_lang, "admin"), open=True, elem_id="qa-admin"),
                        ):
                            doc_list = gr.HTML(elem_id="qa-doc-list")
                            token_box = gr.Textbox(
                                label=label(page_lang, "token"),
                                type="password",
                                elem_id="qa-admin-token",
                                max_lines=1,
                            )
                            files = gr.File(
                                label=label(page_lang, "files") + " (.md .txt .pdf .docx .html)",
                                file_count="multiple",
                                file_types=sorted(SUPPORTED_SUFFIXES),
                                type="filepath",
                                elem_id="qa-upload",
                            )
                            add = gr.Button(label(page_lang, "add"), variant="primary", elem_id="qa-add")
                            drop = gr.Button(
                                label(page_lang, "remove"), variant="stop", size="sm", elem_id="qa-remove"
                            )
                            admin_status = gr.HTML(elem_id="qa-admin-status")
        if not compact:  # "View in document" clicks this, with the paragraph id in qaGotoTarget
            goto_target = gr.Textbox(visible="hidden", elem_id="qa-goto-target")
            goto_button = gr.Button(visible="hidden", elem_id="qa-goto-button")

        inputs = [textbox, chatbot, turns, lang_state, *([] if compact else [scope])]
        outputs = [textbox, chatbot, turns]
        textbox.submit(respond, inputs, outputs, api_name="chat")
        send.click(respond, inputs, outputs, api_visibility="private")
        clear.click(lambda: ("", [], []), None, outputs, api_visibility="private")
        chatbot.like(record_feedback, [turns], None, api_visibility="private")
        load_outputs = [lang_state, textbox, send, clear, examples.dataset]
        if not compact:
            browser_outputs = [picker, article, scope, *([doc_list] if admin else [])]
            load_outputs += browser_outputs
            picker.input(browse, [picker, lang_state], browser_outputs, api_visibility="private")
            goto_button.click(
                goto,
                [goto_target, lang_state],
                browser_outputs,
                js="(target, lang) => [window.qaGotoTarget || target, lang]",
                api_visibility="private",
            )
            if admin:
                add.click(
                    upload,
                    [token_box, files, picker, lang_state],
                    [admin_status, files, *browser_outputs],
                    api_visibility="private",
                )
                drop.click(
                    remove,
                    [token_box, picker, lang_state],
                    [admin_status, *browser_outputs],
                    api_visibility="private",
                )
        page.load(localise, None, load_outputs, api_visibility="private")
    page.queue(default_concurrency_limit=settings.concurrency_limit)
    return page
