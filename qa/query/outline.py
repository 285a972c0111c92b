"""Outline answers: what a collection, a document or a section is made of, from its headings.

"这份手册讲了哪些内容" and "summarize these documents" are not answered by the one sentence that
best matches "内容"; "3.1 节下面有哪些小节" is not answered by the heading of 3.1 itself. Both
are questions about the documents' structure, which ingest keeps: every heading is a chunk with
its level. An overview lists each document's top sections with one cited key sentence (the
first sentence under the heading); a sections question lists the headings one level below the
heading it names. Every line quotes a heading or a sentence verbatim and cites it, so the
pipeline's verification passes it like any extractive answer.
What it does not do: decide that a question is answerable otherwise, or rank chunks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

from qa.index.store import ChunkStore, chunks_from_records
from qa.query.answerer import Draft
from qa.records import Chunk, RetrievalResult
from qa.text.language import CJK
from qa.text.normalize import normalize
from qa.text.sentences import split_sentences
from qa.text.terms import key_terms

# The words of an overview question: once they, the question words and the collection's own
# names for itself are gone, nothing is left ("这些文档主要讲了哪些内容" -> "").
_SUMMARY = r"内容|主题|概述|概要|概括|总结|大意|要点|\b(?:summari[sz]e|summary|overview|outline)\b"
_OVERVIEW = re.compile(
    rf"讲(了|的|述)?|介绍|涉及|包括|包含|谈(了|的)?|主要|{_SUMMARY}|\b(about|cover|covers|main|topics?|contents?)\b",
    re.IGNORECASE,
)
_ABOUT_ITSELF = re.compile(
    r"这份|这篇|这本|这些|本|该|整个|全部|文档|文件|文章|手册|资料|材料|书|集合|新闻|报道|网页|页面"
    r"|\b(this|these|the|whole|documents?|manuals?|articles?|collection|files?|book|guide|news|pages?|reports?)\b",
    re.IGNORECASE,
)
_ASKING = re.compile(r"哪些|什么|哪几|几个|\b(what|which|give|me|an?|of|is|are|do|does)\b", re.IGNORECASE)
# An overview asks what: "谁写的" or "哪一年" about the document is a fact, not its outline.
_ASKS_WHAT = re.compile(rf"什么|哪些|哪几|{_SUMMARY}|\bwhat\b", re.IGNORECASE)
# A question for the parts of a named section: "…下面有哪些小节", "…包括哪几部分", "what sections…".
_SECTIONS = re.compile(
    r"(哪些|哪几|(?<!第)几)(个)?(小节|子节|节|部分|章节|章)|(小节|子节|章节)(有|是)?(哪些|什么)"
    r"|\b(what|which) (sub)?(sections|parts|chapters)\b|\b(sub)?sections (of|under|in)\b",
    re.IGNORECASE,
)
# A question for the section that holds something: "讲 ldapvi 的是哪一节", "“系统升级”是第几节",
# "which chapter covers backups" (one section; "哪些小节" asks for its parts).
_LOCATE = re.compile(
    r"(哪一|哪个|哪|第几)个?(小节|子节|节|章节|章)|(第几|哪一)个?部分"
    r"|\b(which|what) (sub)?(section|chapter)\b",
    re.IGNORECASE,
)
# A part of a document, named in an overview question ("summarize chapter 3", "总结一下第三章").
_PART = re.compile(r"章节|小节|章|节|部分|\b(sections?|chapters?|parts?)\b", re.IGNORECASE)
_SECTION_NUMBER = re.compile(r"(?<![A-Za-z\d.])\d+(?:\.\d+)*(?![A-Za-z\d])")  # not in "asn1Decoding"
_HEADING_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)*)\.?(?=\s|[^\d.])")
_QUOTED = re.compile(r"[“\"「『《]([^”\"」』》]{2,})[”\"」』》]")
MAX_DOCUMENTS = 10  # an overview of a larger collection lists its first ten documents
MAX_LINES = 12  # sections listed under one heading or document
# A key sentence is quoted whole, never cut: a longer one is passed over for the next of its
# paragraph. Chinese is measured in characters, English in words (200 characters of English are
# only some 35 words: a manual's opening sentence is often longer).
KEY_SENTENCE_CHARS = 200
KEY_SENTENCE_WORDS = 60


def outline_kind(question: str) -> str:
    """ "sections" for a question about a section's parts, "locate" for one asking which section
    holds something, "overview" for one about what the documents (or a part of them) say as a
    whole, "" for every other question."""
    if _SECTIONS.search(question):
        return "sections"
    if _LOCATE.search(question):
        return "locate"
    text = normalize(question)
    if not (_OVERVIEW.search(text) and _ASKS_WHAT.search(text)):
        return ""
    rest = _ASKING.sub(" ", _ABOUT_ITSELF.sub(" ", _OVERVIEW.sub(" ", text)))
    return "overview" if not key_terms(rest) or _PART.search(rest) else ""


def subject_terms(question: str) -> list[str]:
    """What the question names, once the words of an outline question are gone: "Summarize the
    section about syslog" -> ["syslog"], "这些文档主要讲了哪些内容" -> []."""
    text = normalize(_QUOTED.sub(" ", question))
    for words in (_SECTIONS, _LOCATE, _OVERVIEW, _ABOUT_ITSELF, _ASKING, _PART):
        text = words.sub(" ", text)
    return [term for term in key_terms(text) if not _SECTION_NUMBER.fullmatch(term)]


# The verbs of a "which section" question: they say that a section holds something, not what.
_ABOUT_VERB = re.compile(
    r"讲了|讲述|讲|介绍|讨论|说明|涉及|描述"
    r"|\b(describes?|covers?|explains?|discuss(es)?|talks? about|deals? with"
    r"|is about|mentions?)\b",
    re.IGNORECASE,
)


def section_numbers(question: str) -> list[str]:
    """The section numbers a question names ("3.1 节", "chapter 2"); a digit inside a name
    ("asn1Decoding", "x86") is none."""
    return _SECTION_NUMBER.findall(question)


def content_question(question: str) -> str:
    """What a "which section" question asks about, for retrieval: "讲 ldapvi 的是哪一节？" ->
    "ldapvi 的是 ？" (the section words and the verb name no content). Others as they are."""
    if outline_kind(question) != "locate":
        return question
    return _ABOUT_VERB.sub(" ", _LOCATE.sub(" ", question))


def heading_depth(chunk: Chunk) -> int:
    """A heading's depth: its section number's parts when numbered ("3.1.2." is 3), which is
    consistent across a manual's files; else the level its format gave it; else 1."""
    match = _HEADING_NUMBER.match(chunk.text)
    if match:
        return match.group(1).count(".") + 1
    return chunk.level or 1


@dataclass(frozen=True)
class Outline:
    """The headings of the collection (or of a scope), read from the store when asked."""

    store: ChunkStore
    documents: tuple[str, ...] = ()
    translate: Callable[[str], list[str]] = lambda word: []  # an English word's Chinese terms

    def results(self, question: str) -> list[RetrievalResult]:
        """The chunks an outline answer quotes, in answer order. Empty, so that the question is
        answered as any other, when it is no outline question, when the documents have no
        headings, or when it names a part that no heading matches or that has no sections below it
        (a "which section" question that does not name its heading outright: see `located`)."""
        kind = outline_kind(question)
        if not kind:
            return []
        by_document = self._headings
        named = self._named(question, by_document)
        chunks: list[Chunk]
        if kind == "locate":  # named outright: "“系统升级”是第几节", "讲 ldapvi 的是哪一节"
            chunks = [named[0][named[1]]] if named and self._names_outright(question, *named) else []
        elif named:
            headings, i = named
            children = _children(headings, i)
            if not children and kind == "overview" and self._names_outright(question, headings, i):
                chunks = [headings[i], *self._body(headings, i)[:MAX_PARAGRAPHS]]  # a leaf: its paragraphs
            elif not children:
                chunks = []
            elif kind == "sections":
                chunks = children[:MAX_LINES]
            else:  # an overview of one part: its heading, then each section with its first sentence
                chunks = [headings[i], *self._with_key_sentences(children[:MAX_LINES])]
        elif subject_terms(question):
            chunks = []  # names something, but no heading: not a question about the outline
        else:  # "文章包括哪几个部分", "这些文档讲了什么": the top sections of every document
            chunks = self._overview(by_document)
        return [RetrievalResult(rank, chunk, 1.0) for rank, chunk in enumerate(chunks, start=1)]

    def located(self, question: str, results: Sequence[RetrievalResult]) -> list[RetrievalResult]:
        """For a "which section" question its content answers (`results`, retrieved for
        `content_question`): the heading of the section holding the best result, then that
        result. Within a section the question names ("“自动升级”一节里…的是哪一小节") the best
        result in one of its sections. Empty for other questions, or when no result lies under a heading."""
        if outline_kind(question) != "locate" or not results:
            return []
        by_document = self._headings
        named = self._named(question, by_document)
        if named and _names(question, [], named[0][named[1]]) < 2.0:
            named = None  # only a section named by number or quoted title bounds the search
        scope = _span(*named) if named else None
        container = named[0][named[1]] if named and _children(*named) else None
        for result in results:
            chunk = result.chunk
            if chunk.kind == "heading" or not chunk.paragraphs or (scope and not scope.holds(chunk)):
                continue
            above = [
                h
                for h in by_document.get(chunk.doc_id, [])
                if h.paragraphs and h.paragraphs[-1] < chunk.paragraphs[0]
            ]
            if above and above[-1] is not container:  # a section within the one named, not its lead
                return [RetrievalResult(1, above[-1], 1.0), RetrievalResult(2, chunk, result.score)]
        return []

    def _names_outright(self, question: str, headings: list[Chunk], i: int) -> bool:
        """Whether the question names the heading itself, not a section around what it asks: by
        number or quoted title with nothing else named, or by every term it names."""
        terms = [[term, *self.translate(term)] for term in subject_terms(question)]
        score = _names(question, terms, headings[i])
        return (score >= 2.0 and not terms) or NAMED_OUTRIGHT <= score < 2.0

    def _body(self, headings: list[Chunk], i: int) -> list[Chunk]:
        """The paragraphs of headings[i]'s section before the next heading (no code or tables)."""
        span = _span(headings, i, any_depth=True)
        chunks = self.store.document_chunks(headings[i].doc_id)
        return [c for c in chunks if c.kind not in _NOT_BODY and span.holds(c)]

    @cached_property
    def _headings(self) -> dict[str, list[Chunk]]:
        """Each document's headings in reading order, fetched once: a which-section question reads
        them for its outline and again to locate its answer."""
        where: dict = {"kind": "heading"}
        if self.documents:
            where = {"$and": [where, {"doc_id": {"$in": list(self.documents)}}]}
        records = self.store.collection.get(where=where, include=["metadatas", "documents"])
        by_document: dict[str, list[Chunk]] = {}
        for chunk in sorted(chunks_from_records(records), key=lambda c: (c.doc_id, c.paragraphs)):
            by_document.setdefault(chunk.doc_id, []).append(chunk)
        return by_document

    def _named(self, question: str, by_document: dict[str, list[Chunk]]) -> tuple[list[Chunk], int] | None:
        """The heading the question names (its document's headings and its index there): by
        section number or quoted title, or holding at least half of the question's subject."""
        terms = [[term, *self.translate(term)] for term in subject_terms(question)]
        best: tuple[float, tuple[list[Chunk], int] | None] = (NAMED, None)
        for headings in by_document.values():
            for i, heading in enumerate(headings):
                score = _names(question, terms, heading)
                if score >= best[0] and (best[1] is None or score > best[0] or _children(headings, i)):
                    best = (score, (headings, i))
        return best[1]

    def _overview(self, by_document: dict[str, list[Chunk]]) -> list[Chunk]:
        """Per document, its top sections (a document with one top heading: that heading when
        the collection has several documents, its own sections when it is the only one), each
        followed by the chunk holding its first sentence. A document without headings (plain
        text, a news story) gives its opening paragraph, or its first few when it is the only one."""
        out: list[Chunk] = []
        documents = list(self.documents) or [document.doc_id for document in self.store.documents()]
        alone = len(documents) == 1
        for doc_id in documents[:MAX_DOCUMENTS]:
            headings = by_document.get(doc_id)
            if not headings:
                body = [c for c in self.store.document_chunks(doc_id) if c.kind not in _NOT_BODY]
                out += body[: MAX_PARAGRAPHS if alone else 1]
                continue
            top = min(heading_depth(h) for h in headings)
            tops = [h for h in headings if heading_depth(h) == top]
            if len(tops) == 1 and alone:
                tops = _children(headings, headings.index(tops[0])) or tops
            out += self._with_key_sentences(tops[: MAX_LINES if alone else 1])
        return out

    def _with_key_sentences(self, headings: Sequence[Chunk]) -> list[Chunk]:
        """Each heading followed by the chunk holding the first sentence under it."""
        bodies: dict[str, list[Chunk]] = {}
        out: list[Chunk] = []
        for heading in headings:
            if heading.doc_id not in bodies:
                chunks = self.store.document_chunks(heading.doc_id)
                bodies[heading.doc_id] = [c for c in chunks if c.kind not in ("heading", "metadata")]
            out.append(heading)
            lead = _first_after(bodies[heading.doc_id], heading)
            if lead is not None:
                out.append(lead)
        return out


def _children(headings: Sequence[Chunk], i: int) -> list[Chunk]:
    """The headings one level below headings[i], up to the next heading at its level or above."""
    depth = heading_depth(headings[i])
    below: list[Chunk] = []
    for heading in headings[i + 1 :]:
        if heading_depth(heading) <= depth:
            break
        below.append(heading)
    if not below:
        return []
    level = min(heading_depth(h) for h in below)
    return [h for h in below if heading_depth(h) == level]


NAMED = 0.5  # the share of the question's subject a heading must hold to be the one it names
NAMED_OUTRIGHT = 1.0  # ... to be the answer to "which section": all of it
MAX_PARAGRAPHS = 3  # paragraphs an overview of a section (or a document) without sections quotes
# What an overview does not quote a sentence of: headings and metadata are no body text, and the
# first line of code or of a table sums nothing up.
_NOT_BODY = ("heading", "metadata", "code", "table")


@dataclass(frozen=True)
class _Span:
    """The paragraphs of one section of one document: after its heading, before the next."""

    doc_id: str
    start: int
    end: int | None

    def holds(self, chunk: Chunk) -> bool:
        first = chunk.paragraphs[0] if chunk.paragraphs else -1
        return chunk.doc_id == self.doc_id and first > self.start and (self.end is None or first < self.end)


def _span(headings: Sequence[Chunk], i: int, any_depth: bool = False) -> _Span:
    """headings[i]'s section: up to the next heading at its level or above (at any level when
    `any_depth`: the text before its first subsection)."""
    heading = headings[i]
    depth = heading_depth(heading)
    following = (h for h in headings[i + 1 :] if any_depth or heading_depth(h) <= depth)
    end = next((h.paragraphs[0] for h in following if h.paragraphs), None)
    return _Span(heading.doc_id, heading.paragraphs[-1] if heading.paragraphs else 0, end)


def _names(question: str, terms: Sequence[Sequence[str]], heading: Chunk) -> float:
    """How surely the question names this heading: its section number (3), a quoted title it
    contains (2), or the share of the subject's terms (each with its translations) in it."""
    text = normalize(heading.text).replace(" ", "")
    number = _HEADING_NUMBER.match(heading.text)
    if number and number.group(1) in section_numbers(question):
        return 3.0
    for quoted in _QUOTED.findall(question):
        if normalize(quoted).replace(" ", "") in text:
            return 2.0
    found = [any(variant.replace(" ", "") in text for variant in term) for term in terms]
    return sum(found) / len(found) if found else 0.0


def _first_after(body: Sequence[Chunk], heading: Chunk) -> Chunk | None:
    """The first chunk of body text after the heading, within its document."""
    after = heading.paragraphs[-1] if heading.paragraphs else 0
    for chunk in body:
        if chunk.paragraphs and chunk.paragraphs[0] > after:
            return chunk
    return None


def _short_enough(sentence: str) -> bool:
    if CJK.search(sentence):
        return len(sentence) <= KEY_SENTENCE_CHARS
    return len(sentence.split()) <= KEY_SENTENCE_WORDS


def _key_sentence(question: str, sentences: Sequence[str]) -> str:
    """The sentence holding most of the question's terms, the first on a tie: under a heading
    the first sentence sums up, unless the question names what it asks about ("which section
    explains the default shell" quotes the sentence on the shell)."""
    terms = key_terms(question)
    held = [sum(term in normalize(sentence) for term in terms) for sentence in sentences]
    return sentences[held.index(max(held))] if sentences else ""


class OutlineAnswerer:
    """Drafts an outline from Outline.results: one line per heading, its key sentence after it."""

    mode = "extractive"

    def draft(
        self, question: str, results: Sequence[RetrievalResult], language: str
    ) -> Iterator[str | Draft]:
        quotes: dict[int, str] = {}
        lines: list[str] = []
        for n, result in enumerate(results, start=1):
            chunk = result.chunk
            if chunk.kind == "heading":
                quote = chunk.text.strip()
                lines.append(f"{quote} [{n}]")
            else:
                sentences = [s.strip() for s in split_sentences(chunk.text) if s.strip()] or [
                    chunk.text.strip()
                ]
                quote = _key_sentence(question, [s for s in sentences if _short_enough(s)])
                if not quote:
                    continue
                lines.append(f"{quote} [{n}]")
            quotes[n] = quote
        if lines:
            yield "\n".join(lines)
        yield Draft(quotes=quotes, backend="")
