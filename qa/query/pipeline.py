"""ask(question, history) -> Answer: the one place that wires the steps together.

condense (follow-ups become standalone questions) -> retrieve -> is_answerable -> answer
(extractive, or LLM when one is configured) -> every sentence verified against its citation.
The CLI, the HTTP API, the web page and the eval runner all call this object, so they answer
identically; `ask_stream` yields the same answer's text in pieces, then the Answer itself.
It reopens the index when an ingest has committed a new generation.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from langchain_core.embeddings import Embeddings

from qa.config import Settings
from qa.errors import InputError
from qa.index.embeddings import embedder_identity, make_embeddings
from qa.index.store import ChunkStore, index_version, open_for_query
from qa.query.answering import ExtractiveAnswerer, condense_extractive, language_of, refusal, strip_injection
from qa.query.citations import Verifier, key_terms
from qa.query.retrieval import Retriever
from qa.records import Answer, RetrievalResult


@dataclass(frozen=True)
class Retrieval:
    question: str
    results: tuple[RetrievalResult, ...]
    latency_ms: float

    def as_json(self) -> dict:
        return {
            "question": self.question,
            "latency_ms": round(self.latency_ms, 1),
            "results": [result.as_json() for result in self.results],
        }


class CachedEmbeddings(Embeddings):
    """Remembers query vectors, so the answerer and verifier reuse what retrieval computed."""

    def __init__(self, inner: Embeddings, size: int = 4096) -> None:
        self.inner = inner
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        vector = self.inner.embed_query(text)
        with self._lock:
            self._cache[text] = vector
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return vector

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        """Symmetric sentence vectors (E5 'query:' on both sides) for similarity checks."""
        return [self.embed_query(text) for text in texts]


class Pipeline:
    def __init__(self, settings: Settings) -> None:
        from qa.query.llm import LLMAnswerer, LLMCondenser, make_chat

        self.settings = settings
        self.embeddings = CachedEmbeddings(make_embeddings(settings))
        self.identity = embedder_identity(settings)
        self.verifier = Verifier(embed=self.embeddings.embed_texts)
        self.extractive = ExtractiveAnswerer(embed=self.embeddings.embed_texts, verifier=self.verifier)
        self.chat = make_chat(settings)
        if self.chat is None:
            self.answerer = self.extractive
            self.condense = condense_extractive
        else:
            self.answerer = LLMAnswerer(self.chat, settings, self.verifier, self.extractive)
            self.condense = LLMCondenser(self.chat)
        self._lock = threading.Lock()
        self._store: ChunkStore | None = None
        self._version = ""

    @property
    def store(self) -> ChunkStore:
        """The index, reopened when an ingest has switched generations since the last call."""
        version = index_version(self.settings)
        with self._lock:
            if self._store is None or version != self._version:
                self._store = open_for_query(self.settings, self.embeddings, self.identity)
                self._version = version
            return self._store

    def check_question(self, question: str) -> str:
        question = (question or "").strip()
        if not question:
            raise InputError("The question is empty.")
        if len(question) > self.settings.max_question_chars:
            raise InputError(
                f"The question is {len(question)} characters long; the limit is "
                f"{self.settings.max_question_chars} (QA_MAX_QUESTION_CHARS)."
            )
        return question

    def retrieve(self, question: str, k: int | None = None, mode: str = "hybrid") -> Retrieval:
        """The top k chunks; `mode` other than hybrid (dense, bm25, rrf) is for measuring it."""
        question = self.check_question(question)
        started = time.perf_counter()
        retriever = Retriever(self.store, self.embeddings, mode)
        results = retriever.retrieve(question, k or self.settings.top_k)
        return Retrieval(question, tuple(results), (time.perf_counter() - started) * 1000)

    def ask(self, question: str, history: Sequence[dict] = ()) -> Answer:
        final = None
        for piece in self.ask_stream(question, history):
            if isinstance(piece, Answer):
                final = piece
        assert final is not None
        return final

    def ask_stream(self, question: str, history: Sequence[dict] = ()) -> Iterator[str | Answer]:
        """Text pieces as they are verified, then the final Answer (whose text they add up to)."""
        question = self.check_question(question)
        started = time.perf_counter()
        language = language_of(question)
        clean, injected = strip_injection(question)
        standalone = self.condense(clean, list(history or ())) if history and clean else clean
        retriever = Retriever(self.store, self.embeddings)
        results = retriever.retrieve(standalone or question, self.settings.top_k)
        answerable = bool(key_terms(standalone)) and retriever.is_answerable(standalone, results)
        if injected and not answerable:
            answer = replace(refusal(question, results, language), extra={"injection": True})
            yield answer.answer
        elif self.chat is None:
            answer = self.extractive.answer(standalone, results, answerable, language)
            answer = self._verified(answer)
            yield answer.answer
        else:
            answer = None
            for piece in self.answerer.answer_stream(standalone, results, answerable, language):
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    yield piece
            assert answer is not None
        extra = dict(answer.extra)
        if injected:
            extra["injection"] = True
        if standalone and standalone != question:
            extra["standalone_question"] = standalone
        yield replace(
            answer, question=question, extra=extra, latency_ms=(time.perf_counter() - started) * 1000
        )

    def _verified(self, answer: Answer) -> Answer:
        """The extractive answer passes the same gate as the LLM's; a failure is reported, not shown."""
        if answer.refused:
            return answer
        chunks = {c.n: c.chunk for c in answer.citations}
        report = self.verifier.verify(answer.answer, chunks)
        if not report.removed:
            return answer
        extra = {
            **answer.extra,
            "unverified": [{"sentence": s.text, "reason": s.reason} for s in report.removed],
        }
        cited = set(report.cited)
        citations = tuple(c for c in answer.citations if c.n in cited)
        if not report.kept:
            return answer
        return replace(answer, answer=report.text, citations=citations, extra=extra)

    def health(self) -> dict:
        return {"status": "ok", "chunks": self.store.count(), "embedder": self.identity}
