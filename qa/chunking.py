"""Paragraphs -> Chunks: paragraph-aligned, sized in tokens, never cutting a sentence.

A paragraph that fits becomes one chunk, so a citation points at exactly one paragraph.
A longer one is split at sentence ends (。！？；) into windows that overlap by whole
sentences. Each chunk carries the paragraph numbers it covers and the text we search on
(the section heading or metadata label in front of the paragraph's own words).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from qa.documents import CLOSERS, FIELD_LABELS, Document, Paragraph
from qa.tokens import ENCODING_NAME, count_tokens

CHUNKING_VERSION = 1
_SENTENCE = re.compile(rf"[^。！？!?；;]*?(?:[。！？!?；;…]+[{re.escape(CLOSERS)}]*|\.(?=\s)|$)", re.DOTALL)


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    section: str
    paragraphs: tuple[int, ...]
    text: str
    search_text: str
    kind: str = "body"


def chunking_signature(max_tokens: int, overlap_sentences: int) -> str:
    """Recorded in the index: a different signature means the chunks must be rebuilt."""
    return f"paragraph-v{CHUNKING_VERSION}:{ENCODING_NAME}:{max_tokens}:{overlap_sentences}"


def split_sentences(text: str) -> list[str]:
    return [piece for piece in (m.group(0) for m in _SENTENCE.finditer(text)) if piece.strip()]


def chunk_document(document: Document, max_tokens: int, overlap_sentences: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for paragraph in document.paragraphs:
        for window in _windows(paragraph.text, max_tokens, overlap_sentences):
            chunks.append(_make_chunk(document, paragraph, window))
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
    digest = hashlib.sha1(f"{paragraph.number}\x00{text}".encode()).hexdigest()[:16]
    return Chunk(
        chunk_id=f"{document.doc_id}:{digest}",
        doc_id=document.doc_id,
        title=document.title,
        section=paragraph.section,
        paragraphs=(paragraph.number,),
        text=text,
        search_text=_search_text(paragraph, text),
        kind=paragraph.kind,
    )


def _search_text(paragraph: Paragraph, text: str) -> str:
    """What is embedded and keyword-indexed: context in front, the paragraph's words after."""
    if paragraph.kind == "metadata":
        return f"{FIELD_LABELS.get(paragraph.field, paragraph.field)}：{text}"
    if paragraph.kind == "heading" or not paragraph.section:
        return text
    return f"{paragraph.section}\n{text}"
