"""The plain records passed between the stages: a document's paragraphs, the chunks made of them,
what retrieval found, the citations an answer makes, and the answer itself. They print well,
compare in tests and serialise to the JSON of docs/interfaces.md in one place (`as_json`).
Nothing here imports another part of qa."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    """One paragraph after repair; `number` is 1-based in document order."""

    doc_id: str
    number: int
    section: str
    text: str
    start: int
    end: int
    kind: str = "body"  # body | heading | metadata | item (list item) | term (its label) | row | code
    field: str = ""  # for metadata: title, author, position, serial, doi, ...
    page: int = 0  # 1-based page of a paged source (PDF) where the paragraph starts; 0 if none
    level: int = 0  # a heading's level as its format gives it (1-6); 0 when not a heading or unknown

    @property
    def paragraph_id(self) -> str:
        """Stable across re-ingests while the paragraph's text and position are unchanged."""
        digest = hashlib.sha1(self.text.encode("utf-8")).hexdigest()[:10]
        return f"{self.doc_id}#{digest}"


@dataclass(frozen=True)
class Document:
    doc_id: str
    source: str
    title: str
    content_hash: str
    paragraphs: tuple[Paragraph, ...]
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    section: str
    paragraphs: tuple[int, ...]
    text: str
    search_text: str
    kind: str = "body"  # a paragraph's kind, or list | table | code for a lead-in and its fragments
    page: int = 0  # page of a paged source where the paragraph starts; 0 when unpaged
    paragraph_ids: tuple[str, ...] = ()
    # For a list, table or code chunk: the paragraph number of each line of `text`, so an answer
    # that quotes one item cites that item. Empty for a chunk of one paragraph.
    line_paragraphs: tuple[int, ...] = ()
    level: int = 0  # a heading chunk's level (Paragraph.level), for outlines; 0 otherwise

    @property
    def structured(self) -> bool:
        """A list, table or code chunk: a lead-in and its lines, each line an item."""
        return bool(self.line_paragraphs)

    @property
    def evidence(self) -> str:
        """What a claim citing the chunk is checked against: its text, and a metadata field's label
        too ("作者…：周国梅" says who the author is; the value alone does not)."""
        return self.search_text if self.kind == "metadata" else self.text

    def lines(self) -> list[tuple[int, str]]:
        """(paragraph number, line) for each line of the text; one pair for a plain chunk."""
        if not self.line_paragraphs:
            return [(self.paragraphs[0] if self.paragraphs else 0, self.text)]
        return list(zip(self.line_paragraphs, self.text.split("\n"), strict=False))

    def as_json(self) -> dict:
        """The chunk fields every retrieve result and citation carries (docs/interfaces.md), plus the
        document's title and page so a citation names its source among many documents."""
        return {
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "title": self.title,
            "section": self.section,
            "paragraphs": list(self.paragraphs),
            "paragraph_ids": list(self.paragraph_ids),
            "page": self.page or None,
            "text": self.text,
        }

    @property
    def subsection(self) -> str:
        """The section, unless it only repeats the document's title (a page's opening section is
        often named as the page is): a citation then says '9.9. 配额 · ¶14', not it twice."""
        return "" if self.section.split() == self.title.split() else self.section  # any spaces, NBSP too

    def location(self) -> str:
        """How a citation names its place for a reader: 'title · section · ¶12 · p. 3'."""
        paragraphs = "¶" + ",".join(str(number) for number in self.paragraphs)
        page = f"p. {self.page}" if self.page else ""
        return " · ".join(filter(None, [self.title, self.subsection, paragraphs, page]))


@dataclass(frozen=True)
class Evidence:
    """What retrieval measured about one chunk as an answer to one question (qa/query/support.py
    turns it into the score); every field means the same in any collection."""

    dense: float  # cosine similarity to the question
    dense_z: float  # that cosine in standard deviations above the question's candidate pool's mean
    coverage: float  # idf-weighted share of the question's concepts found in the chunk
    sentence: float  # the same share, for the chunk's best single sentence
    keyword: float  # BM25 over the idf mass of the question's concepts
    agree: float  # 1 when the dense and the keyword search both rank the chunk near the top
    unknown: float  # share of the question's words absent from the whole collection
    lacks_fact: float  # 1 when no sentence covering enough of the question holds the asked fact

    def features(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class RetrievalResult:
    rank: int
    chunk: Chunk
    score: float  # estimated probability that the chunk supports an answer
    evidence: Evidence | None = None  # what the score was made from (None: not scored by support)

    def as_json(self) -> dict:
        return {"rank": self.rank, **self.chunk.as_json(), "score": round(self.score, 4)}


@dataclass(frozen=True)
class Citation:
    n: int
    chunk: Chunk
    quote: str

    def as_json(self) -> dict:
        return {"n": self.n, **self.chunk.as_json(), "quote": self.quote}


@dataclass(frozen=True)
class Unverified:
    """A sentence an answerer proposed that its cited paragraph does not support, and why."""

    sentence: str
    reason: str

    def as_json(self) -> dict:
        return {"sentence": self.sentence, "reason": self.reason}


@dataclass(frozen=True)
class Answer:
    """What a question gets: the text with `[n]` markers and the citations they open. The fields
    after `latency_ms` say how it came about; `as_json` writes each only when it says something,
    so the JSON of docs/interfaces.md stays as it was."""

    question: str
    answer: str
    refused: bool
    mode: str
    citations: tuple[Citation, ...]
    retrieved: tuple[RetrievalResult, ...]
    latency_ms: float = 0.0
    standalone_question: str = ""  # a follow-up rewritten with the history, when it was rewritten
    related: tuple[RetrievalResult, ...] = ()  # a refusal's nearest paragraphs, named, not quoted
    unverified: tuple[Unverified, ...] = ()  # proposed sentences removed by verification
    verified: bool = True  # False: every proposed sentence failed and the text is shown flagged
    injection: bool = False  # the question held instructions, which were not obeyed
    llm: str = ""  # the chat backend that wrote the draft
    llm_raw_answer: str | None = None  # the LLM's reply before verification
    fallback: str = ""  # why another answerer's answer is shown instead
    documents: tuple[str, ...] = ()  # the documents a scoped question was answered from

    def as_json(self) -> dict:
        out = {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [citation.as_json() for citation in self.citations],
            "retrieved": [result.as_json() for result in self.retrieved],
            "latency_ms": round(self.latency_ms, 1),
        }
        optional = {
            "standalone_question": self.standalone_question,
            "related": [result.as_json() | {"text": ""} for result in self.related],
            "unverified": [sentence.as_json() for sentence in self.unverified],
            "verified": None if self.verified else False,
            "injection": self.injection or None,
            "llm": self.llm,
            "llm_raw_answer": self.llm_raw_answer,
            "fallback": self.fallback,
            "documents": list(self.documents),
        }
        return out | {key: value for key, value in optional.items() if value not in ("", None, [])}
