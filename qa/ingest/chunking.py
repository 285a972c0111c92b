"""Paragraphs -> Chunks: paragraph-aligned, sized in tokens, never cutting a sentence.

A paragraph that fits becomes one chunk, so a citation points at exactly one paragraph.
A longer one is split at sentence ends (。！？；) into windows that overlap by whole
sentences. Each chunk carries the paragraph numbers it covers and the text we search on
(the section heading or metadata label in front of the paragraph's own words, and the
ordinal a reader would use: a heading "二、..." is "第二部分", a paragraph "三是..." the
"第三项" of its list), so "what does part two say" finds its heading and paragraphs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from qa.ingest.documents import FIELD_LABELS
from qa.records import Chunk, Document, Paragraph
from qa.text.numerals import DIGITS as _NUMERAL
from qa.text.sentences import split_sentences
from qa.text.tokens import ENCODING_NAME, count_tokens

CHUNKING_VERSION = 6
_ABOUT_AUTHOR = {"position", "affiliation"}
_HEADING_ORDINAL = re.compile(rf"^(?:第)?([{_NUMERAL}]{{1,3}}|\d{{1,2}})(?:部分)?\s*[、.．]")
_ITEM_ORDINAL = re.compile(rf"^(?:第)?([{_NUMERAL}]{{1,3}})(?:是|要|、)")


def chunking_signature(max_tokens: int, overlap_sentences: int) -> str:
    """Recorded in the index: a different signature means the chunks must be rebuilt."""
    return f"paragraph-v{CHUNKING_VERSION}:{ENCODING_NAME}:{max_tokens}:{overlap_sentences}"


def chunk_document(document: Document, max_tokens: int, overlap_sentences: int) -> list[Chunk]:
    """Chunk ids hash the chunk's own text (and the how many-th repeat of it), not its position,
    so editing one paragraph of a document leaves every other chunk, and its citations, alone."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for paragraph in document.paragraphs:
        for window in _windows(paragraph.text, max_tokens, overlap_sentences):
            chunk = _make_chunk(document, paragraph, window)
            repeat = seen.get(chunk.chunk_id, 0)
            seen[chunk.chunk_id] = repeat + 1
            chunks.append(replace(chunk, chunk_id=f"{chunk.chunk_id}.{repeat}") if repeat else chunk)
    return chunks


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


def _make_chunk(document: Document, paragraph: Paragraph, text: str) -> Chunk:
    search_text = _search_text(paragraph, text, document.metadata.get("author", ""))
    digest = hashlib.sha1(f"{text}\x00{search_text}".encode()).hexdigest()[:16]
    return Chunk(
        chunk_id=f"{document.doc_id}:{digest}",
        doc_id=document.doc_id,
        title=document.title,
        section=paragraph.section,
        paragraphs=(paragraph.number,),
        text=text,
        search_text=search_text,
        kind=paragraph.kind,
        page=paragraph.page,
        paragraph_ids=(paragraph.paragraph_id,),
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
