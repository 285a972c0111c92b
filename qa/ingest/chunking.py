"""Paragraphs -> Chunks: paragraph-aligned, sized in tokens, never cutting a sentence.

A paragraph that fits becomes one chunk, so a citation points at exactly one paragraph.
A longer one is split at sentence ends (。！？；) into windows that overlap by whole
sentences. Each chunk carries the paragraph numbers it covers and the text we search on
(the section heading or metadata label in front of the paragraph's own words, and the
ordinal a reader would use: a heading "二、..." is "第二部分", a paragraph "三是..." the
"第三项" of its list), so "what does part two say" finds its heading and paragraphs.

List items, table rows and code blocks are short fragments that would rank alone on one shared
word: a run of them travels with its lead-in (the body paragraph before it, whole when it is
short, else its last sentence) as one chunk of kind list, table or code, one item a line, as
many as the budget holds (the lead-in repeated in each). `line_paragraphs` keeps each line's
paragraph number, so a citation can still name the exact item.

A paragraph that asks a question (an FAQ's, an interview's) is answered by the paragraph after
it: the two travel as one chunk, question and answer a line each, so the chunk that matches a
user's question holds its answer too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from qa.ingest.documents import FIELD_LABELS
from qa.records import Chunk, Document, Paragraph
from qa.text.numerals import DIGITS as _NUMERAL
from qa.text.sentences import is_question, split_sentences
from qa.text.tokens import ENCODING_NAME, count_tokens

# 17: a definition list's term stays in one chunk with its description ("--ignore-fn=<name>" and
# what the option does); 16: a word a PDF breaks at a line's end is whole again ("recommended"), a
# hyphenated one keeps its hyphen ("Debian-Edu"); 15: an abbreviation's full stop ("e.g.", "Fig. 3")
# ends no sentence, an HTML table of contents is not read, a table laying out a page is read as its
# blocks; 14: fragments right under a heading take the paragraph after them, a Markdown file's
# paragraphs read as its rendered page; 13: a PDF line set in a monospace font its file does not
# flag is code; 12: a question paragraph travels with the paragraph answering it; 11: a byline in
# Latin letters reads as names, an English document's metadata section is in English, a web page's
# banner is dropped; 10: traditional text normalised with Taiwan phrases; 9: heading levels
CHUNKING_VERSION = 17
# The kind of a chunk made of a lead-in and a run of fragments: a list if it has an item or a
# definition list's term, else a table if it has a row, else code.
FRAGMENT_KINDS = {"item": "list", "term": "list", "row": "table", "code": "code"}
LEAD_IN_SHARE = 0.5  # a lead-in up to this share of the token budget joins its fragments whole
_ABOUT_AUTHOR = {"position", "affiliation"}
_HEADING_ORDINAL = re.compile(rf"^(?:第)?([{_NUMERAL}]{{1,3}}|\d{{1,2}})(?:部分)?\s*[、.．]")
_ITEM_ORDINAL = re.compile(rf"^(?:第)?([{_NUMERAL}]{{1,3}})(?:是|要|、)")


def chunking_signature(max_tokens: int, overlap_sentences: int) -> str:
    """Recorded in the index: a different signature means the chunks must be rebuilt."""
    return f"paragraph-v{CHUNKING_VERSION}:{ENCODING_NAME}:{max_tokens}:{overlap_sentences}"


@dataclass(frozen=True)
class _Run:
    """Fragments in a row (items, rows, code) and the lead-in line that introduces them."""

    lead: Paragraph | None
    lead_text: str
    fragments: tuple[Paragraph, ...]


def chunk_document(document: Document, max_tokens: int, overlap_sentences: int) -> list[Chunk]:
    """Chunk ids hash the chunk's own text (and the how many-th repeat of it), not its position,
    so editing one paragraph of a document leaves every other chunk, and its citations, alone."""
    made: list[Chunk] = []
    author = document.metadata.get("author", "")
    for unit in _units(document.paragraphs, max_tokens):
        if isinstance(unit, _Run):
            made.extend(_run_chunks(document, unit, max_tokens, overlap_sentences))
        else:
            made.extend(
                _make_chunk(document, unit, window, author)
                for window in _windows(unit.text, max_tokens, overlap_sentences)
            )
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for chunk in made:
        repeat = seen.get(chunk.chunk_id, 0)
        seen[chunk.chunk_id] = repeat + 1
        chunks.append(replace(chunk, chunk_id=f"{chunk.chunk_id}.{repeat}") if repeat else chunk)
    return chunks


def _units(paragraphs: tuple[Paragraph, ...], max_tokens: int) -> list[Paragraph | _Run]:
    """Paragraphs in order, each run of fragments of one section gathered with its lead-in."""
    units: list[Paragraph | _Run] = []
    index = 0
    while index < len(paragraphs):
        paragraph = paragraphs[index]
        answer = paragraphs[index + 1] if index + 1 < len(paragraphs) else None
        if answer is not None and _answered_by(paragraph, answer):
            units.append(_Run(paragraph, paragraph.text, (answer,)))
            index += 2
            continue
        if paragraph.kind not in FRAGMENT_KINDS:
            units.append(paragraph)
            index += 1
            continue
        end = index + 1
        while (
            end < len(paragraphs)
            and paragraphs[end].section == paragraph.section
            and (paragraphs[end].kind in FRAGMENT_KINDS or _answers(paragraphs[end - 1], paragraphs[end]))
        ):
            end += 1
        before = units[-1] if units else None
        lead, lead_text = None, ""
        if isinstance(before, Paragraph) and before.kind == "body" and before.section == paragraph.section:
            lead = before
            if count_tokens(before.text) <= LEAD_IN_SHARE * max_tokens:
                units.pop()  # the lead-in lives in the run's chunks only
                lead_text = before.text
            else:
                lead_text = (split_sentences(before.text) or [before.text])[-1].strip()
        if lead is None and _follows(paragraphs, end, paragraph):
            end += 1  # nothing leads in: the paragraph after the fragments says what they are
        units.append(_Run(lead, lead_text, paragraphs[index:end]))
        index = end
    return units


def _follows(paragraphs: tuple[Paragraph, ...], end: int, first: Paragraph) -> bool:
    """Whether the paragraph at `end` is body text of the same section as the fragments before
    it: under a heading straight away, an API page lists a function's parameters ("* flag
    {boolean}") and then says what it does; alone, such a fragment would rank by itself."""
    return (
        end < len(paragraphs) and paragraphs[end].kind == "body" and paragraphs[end].section == first.section
    )


def _answered_by(question: Paragraph, paragraph: Paragraph) -> bool:
    """A body paragraph asking a question, the next one of its section stating something."""
    return (
        question.kind == "body"
        and paragraph.kind == "body"
        and question.section == paragraph.section
        and is_question(question.text)
        and not is_question(paragraph.text)
    )


def _answers(fragment: Paragraph, paragraph: Paragraph) -> bool:
    """Body text right after an item that ends in a colon is what the item announced."""
    return (
        fragment.kind in ("item", "term")
        and paragraph.kind == "body"
        and fragment.text.rstrip().endswith(("：", ":"))
    )


def _run_chunks(document: Document, run: _Run, max_tokens: int, overlap_sentences: int) -> list[Chunk]:
    """The lead-in and as many whole fragments as fit, one a line; a definition list's term and
    its description count as one fragment, so a chunk never ends on a term whose meaning the
    next chunk holds. A fragment too long for the budget on its own is chunked like a paragraph
    (a term with a long description: split as its paragraphs)."""
    author = document.metadata.get("author", "")
    lead = [(run.lead, run.lead_text)] if run.lead is not None else []
    room = max_tokens - (count_tokens(run.lead_text) if lead else 0)
    chunks: list[Chunk] = []
    batch: list[Paragraph] = []
    used = 0

    def flush() -> None:
        if batch:
            chunks.append(_lines_chunk(document, lead + [(p, p.text) for p in batch], author))
            batch.clear()

    for entry in _entries(run.fragments):
        sizes = [count_tokens(fragment.text) for fragment in entry]  # counted once per fragment
        pieces = list(zip(([fragment] for fragment in entry), sizes, strict=True))
        for piece, size in [(entry, sum(sizes))] if sum(sizes) <= room else pieces:
            if size > room:
                flush()
                used = 0
                chunks.extend(
                    _make_chunk(document, piece[0], window, author)
                    for window in _windows(piece[0].text, max_tokens, overlap_sentences)
                )
                continue
            if batch and used + size > room:
                flush()
                used = 0
            batch.extend(piece)
            used += size
    flush()
    return chunks


def _entries(fragments: tuple[Paragraph, ...]) -> list[list[Paragraph]]:
    """The fragments grouped as a reader reads them: a definition list's term with the
    description paragraphs after it, every other fragment alone."""
    entries: list[list[Paragraph]] = []
    for fragment in fragments:
        if entries and entries[-1][0].kind == "term" and fragment.kind == "item":
            entries[-1].append(fragment)
        else:
            entries.append([fragment])
    return entries


def _lines_chunk(document: Document, lines: list[tuple[Paragraph, str]], author: str) -> Chunk:
    numbers = [paragraph.number for paragraph, text in lines for _ in text.split("\n")]
    text = "\n".join(text for _, text in lines)
    paragraphs = list(dict.fromkeys(paragraph for paragraph, _ in lines))
    kinds = {paragraph.kind for paragraph in paragraphs}
    kind = next((FRAGMENT_KINDS[k] for k in FRAGMENT_KINDS if k in kinds), "body")  # a question, its answer
    first = paragraphs[0]
    search_text = _search_text(replace(first, kind="body"), text, author)
    return Chunk(
        chunk_id=chunk_id(document.doc_id, text, search_text),
        doc_id=document.doc_id,
        title=document.title,
        section=first.section,
        paragraphs=tuple(paragraph.number for paragraph in paragraphs),
        text=text,
        search_text=search_text,
        kind=kind,
        page=first.page,
        paragraph_ids=tuple(paragraph.paragraph_id for paragraph in paragraphs),
        line_paragraphs=tuple(numbers),
    )


def chunk_id(doc_id: str, text: str, search_text: str) -> str:
    """Ids hash the text, not its place, so an edit elsewhere leaves a chunk's id (and citations
    of it) unchanged."""
    digest = hashlib.sha1(f"{text}\x00{search_text}".encode()).hexdigest()[:16]
    return f"{doc_id}:{digest}"


def _windows(text: str, max_tokens: int, overlap_sentences: int) -> list[str]:
    """Greedy packing of whole sentences; a sentence longer than the limit stays whole."""
    if count_tokens(text) <= max_tokens:
        return [text]
    sentences = split_sentences(text)
    sizes = [count_tokens(sentence) for sentence in sentences]
    windows: list[str] = []
    start = 0
    while start < len(sentences):
        end, used = start, 0
        while end < len(sentences) and (end == start or used + sizes[end] <= max_tokens):
            used += sizes[end]
            end += 1
        windows.append("".join(sentences[start:end]).strip())
        if end >= len(sentences):
            break
        start = max(end - overlap_sentences, start + 1)
    return windows


def _make_chunk(document: Document, paragraph: Paragraph, text: str, author: str = "") -> Chunk:
    search_text = _search_text(paragraph, text, author)
    return Chunk(
        chunk_id=chunk_id(document.doc_id, text, search_text),
        doc_id=document.doc_id,
        title=document.title,
        section=paragraph.section,
        paragraphs=(paragraph.number,),
        text=text,
        search_text=search_text,
        kind=paragraph.kind,
        page=paragraph.page,
        paragraph_ids=(paragraph.paragraph_id,),
        level=paragraph.level,
    )


def _search_text(paragraph: Paragraph, text: str, author: str = "") -> str:
    """What is embedded and keyword-indexed: context in front, the paragraph's words after.

    A field about the author (position, affiliation) names the author, so "where does <name>
    work" finds it; a heading is its section's title, so it says so.
    """
    if paragraph.kind == "metadata":
        about = f"{author} " if author and paragraph.field in _ABOUT_AUTHOR else ""
        return f"{FIELD_LABELS.get(paragraph.field, paragraph.field)}：{about}{text}"
    part = _part_alias(paragraph.section)
    if paragraph.kind == "heading":
        return f"{part} 章节 主要内容：{text}" if part else f"章节：{text}"
    item = _ITEM_ORDINAL.match(text)
    item_alias = f"第{item.group(1)}项：" if item else ""
    if not paragraph.section:
        return f"{item_alias}{text}"
    return (
        f"{paragraph.section}（{part}）\n{item_alias}{text}"
        if part
        else f"{paragraph.section}\n{item_alias}{text}"
    )


def _part_alias(heading: str) -> str:
    """ "二、标题" -> "第二部分"; headings without an ordinal have none."""
    match = _HEADING_ORDINAL.match(heading or "")
    return f"第{match.group(1)}部分" if match else ""
