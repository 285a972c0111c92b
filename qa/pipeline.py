"""ask(question, history) -> Answer: the one place that wires the steps together.

The CLI, the HTTP API, the web page and the eval runner all call this object, so they
answer identically. It reopens the index when an ingest has committed a new generation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.answering import Answer, EvidenceAnswerer
from qa.config import Settings
from qa.embeddings import embedder_identity, make_embeddings
from qa.errors import InputError
from qa.retrieval import RetrievalResult, Retriever
from qa.store import ChunkStore, index_version, open_for_query


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


class Pipeline:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embeddings = make_embeddings(settings)
        self.identity = embedder_identity(settings)
        self.answerer = EvidenceAnswerer()
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

    def retrieve(self, question: str, k: int | None = None) -> Retrieval:
        question = self.check_question(question)
        started = time.perf_counter()
        results = Retriever(self.store, self.embeddings).retrieve(question, k or self.settings.top_k)
        return Retrieval(question, tuple(results), (time.perf_counter() - started) * 1000)

    def ask(self, question: str, history: Sequence[dict] = ()) -> Answer:
        question = self.check_question(question)
        started = time.perf_counter()
        retriever = Retriever(self.store, self.embeddings)
        results = retriever.retrieve(question, self.settings.top_k)
        answer = self.answerer.answer(question, results, retriever.is_answerable(question, results))
        return replace(answer, latency_ms=(time.perf_counter() - started) * 1000)

    def health(self) -> dict:
        return {"status": "ok", "chunks": self.store.count(), "embedder": self.identity}
