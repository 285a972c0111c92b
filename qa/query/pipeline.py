"""ask(question, history) -> Answer: the one place that wires the steps together.

condense (follow-ups become standalone questions) -> retrieve -> is_answerable -> draft (the
extractive answerer, or an LLM when one is configured; qa/query/answerer.py is their contract)
-> every sentence verified against its citation, here and only here.
The CLI, the HTTP API, the web page and the eval runner all call this object, so they answer
identically; `ask_stream` yields the same answer's text in pieces, then the Answer itself.
It reopens the index when an ingest has committed a new generation; with a Chroma server the
store follows the collection's content version itself (server.py, followed.py).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from qa.config import Settings
from qa.errors import InputError
from qa.index.backend import index_backend
from qa.index.embeddings import Embeddings, embed_queries, embedder_identity, make_embeddings
from qa.index.keywords import document_of
from qa.index.sentence_vectors import SentenceVectors
from qa.index.store import ChunkStore, StoredDocument
from qa.ingest.documents import FIELD_LABELS
from qa.query.answerer import Answerer, Draft
from qa.query.answering import (
    ExtractiveAnswerer,
    condense_extractive,
    refusal,
    says_not_answered,
    strip_injection,
)
from qa.query.citations import VerifiedStream, Verifier, citations_for_markers
from qa.query.cost import LongQuestions
from qa.query.outline import Outline, OutlineAnswerer, content_question
from qa.query.retrieval import Retriever
from qa.query.verify import FactVerifier, QuotedStream
from qa.records import Answer, Citation, RetrievalResult, Unverified
from qa.text.language import language_of
from qa.text.terms import key_terms

Condenser = Callable[[str, Sequence[dict]], str]


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
    """Remembers query vectors, so the answerer and verifier reuse what retrieval computed, and
    takes the chunks' sentence vectors from those ingest stored (`stored`) instead of embedding them."""

    def __init__(self, inner: Embeddings, size: int = 4096, stored: SentenceVectors | None = None) -> None:
        self.inner = inner
        self.stored = stored
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return embed_queries(self.inner, texts)

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        vector = self.inner.embed_query(text)
        self._remember(text, vector)
        return vector

    def _remember(self, text: str, vector: list[float]) -> None:
        with self._lock:
            self._cache[text] = vector
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        """Symmetric sentence vectors (E5 'query:' on both sides) for similarity checks."""
        if self.stored is not None:
            with self._lock:
                unseen = [text for text in dict.fromkeys(texts) if text not in self._cache]
            for text, vector in zip(unseen, self.stored.get(unseen), strict=True):
                if vector is not None:
                    self._remember(text, vector)
        return [self.embed_query(text) for text in texts]


def check_encodable(text: str, what: str) -> None:
    """Text that is not valid Unicode (a lone surrogate such as \\ud800, which JSON can carry)
    is refused here, before jieba, OpenCC or the embedder fail on it deep inside."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"{what} holds an invalid character (a lone surrogate at position {exc.start}); "
            "send valid UTF-8 text."
        ) from None


# Seconds a replaced index generation stays open for a reader that took `store` without
# `reading()` (which keeps it open however long it reads: retrieval, health, listings). Closing
# soon matters: at two switches a second (an upload/removal loop) a 30 s grace kept ~50
# generations open, with 600 file handles and 400 MB more RSS that stayed after they closed.
RETIRED_GRACE_S = 1.0


class Pipeline:
    def __init__(self, settings: Settings) -> None:
        from qa.query.llm import LLMAnswerer, LLMCondenser, LLMSecondOpinion, make_chat

        self.settings = settings
        self.index = index_backend(settings)
        self.identity = embedder_identity(settings)
        self.sentences = SentenceVectors(settings.vectorstore_dir, self.identity)
        self.embeddings = CachedEmbeddings(make_embeddings(settings), stored=self.sentences)
        self.verifier = Verifier(embed=self.embeddings.embed_texts)
        self.extractive = ExtractiveAnswerer(
            embed=self.embeddings.embed_texts,
            collection=self.collection,
            rarity=self.word_idf,
        )
        self.chat = make_chat(settings)
        second = (
            LLMSecondOpinion(self.chat, settings.prompts_dir)
            if self.chat is not None and settings.verify_with_llm
            else None
        )
        self.facts = FactVerifier(
            embed=self.embeddings.embed_texts, translate=self._translate, second_opinion=second
        )
        self.answerer: Answerer = self.extractive
        self.condense: Condenser = condense_extractive
        if self.chat is not None:
            self.answerer = LLMAnswerer(self.chat, settings)
            self.condense = LLMCondenser(self.chat, settings.prompts_dir)
        self._lock = threading.Lock()
        self._store: ChunkStore | None = None
        self._version = ""
        # Stores of earlier generations, kept open for answers still reading them, then closed:
        # each holds a Chroma client with its threads and file handles.
        self._retired: list[tuple[float, ChunkStore]] = []
        self._readers: dict[int, int] = {}  # id(store) -> retrievals reading it now
        self.retired_grace_s = RETIRED_GRACE_S
        self._described: tuple[object, str] | None = None  # what collection() calls it, per keyword index
        self.long_questions = LongQuestions(settings)

    def _translate(self, word: str) -> list[str]:
        """The collection's Chinese terms for an English word (the keyword index's term map)."""
        store = self.store
        return store.keywords.english.get(word, []) if store.has_keywords() else []

    def _translate_any_form(self, word: str) -> list[str]:
        """The same, for the word's other forms too ("printing" as "print"): loose enough to find
        the heading an outline question names, too loose to check a claim or choose a sentence."""
        store = self.store
        return store.keywords.chinese_terms(word) if store.has_keywords() else []

    @property
    def store(self) -> ChunkStore:
        """The index, reopened when an ingest has switched generations since the last call (or,
        with a server, made the collection anew); the server's keyword index follows by itself."""
        version = self.index.version()
        with self._lock:
            return self._current(version)

    def _current(self, version: str) -> ChunkStore:
        """The current store (the lock held), the replaced one retired, old idle ones closed."""
        if self._store is None or version != self._version or self._store.replaced():
            fresh = self.index.open_for_query(self.embeddings, self.identity)
            if self._store is not None:
                self._retired.append((time.monotonic(), self._store))
            self._store, self._version = fresh, version
        self._close_retired()
        return self._store

    @contextmanager
    def reading(self) -> Iterator[ChunkStore]:
        """The current store, kept open until the block ends even if an ingest replaces it
        meanwhile: retrieval for a long question can take many seconds."""
        version = self.index.version()
        with self._lock:
            store = self._current(version)
            self._readers[id(store)] = self._readers.get(id(store), 0) + 1
        try:
            yield store
        finally:
            with self._lock:
                left = self._readers.pop(id(store)) - 1
                if left:
                    self._readers[id(store)] = left
                self._close_retired()

    def word_idf(self, word: str) -> float:
        """An English word's idf in the collection now (0 before anything is ingested)."""
        store = self.store
        return store.keywords.word_idf(word) if store.has_keywords() else 0.0

    def collection(self) -> str:
        """What answers and refusals call the collection: "documents" when it holds several (so
        they name each), else "article" when its document is signed (an author's byline), else
        "document". Decided once per keyword index: chunk ids start with their document's id."""
        store = self.store
        keywords = store.keywords if store.has_keywords() else None
        described = self._described
        if described is None or described[0] is not keywords:
            documents = {document_of(chunk_id) for chunk_id in keywords.chunk_ids} if keywords else set()
            if len(documents) > 1:
                kind = "documents"
            else:
                with self.reading() as reading:
                    texts = reading.metadata_texts()
                kind = (
                    "article"
                    if any(text.startswith(FIELD_LABELS["author"]) for text in texts)
                    else "document"
                )
            described = self._described = (keywords, kind)
        return described[1]

    def several_documents(self) -> bool:
        """Whether the collection holds more than one document."""
        return self.collection() == "documents"

    def _close_retired(self) -> None:
        """Close the replaced stores no retrieval reads and retired longer ago than the grace
        (for quick readers that took the store without `reading()`). An answer reads the store
        only while it retrieves; generating the text does not touch it. Past the answer time
        limit a store is closed whoever still holds it: that reader's answer was given up."""
        grace = min(self.retired_grace_s, self.settings.answer_timeout_s + 1)
        now = time.monotonic()
        kept = []
        for retired_at, old in self._retired:
            idle = id(old) not in self._readers and now - retired_at > grace
            if old is not self._store and (idle or now - retired_at > self.settings.answer_timeout_s + 1):
                old.close()
            else:
                kept.append((retired_at, old))
        self._retired = kept

    def check_question(self, question: str) -> str:
        question = (question or "").strip()
        if not question:
            raise InputError("The question is empty.")
        check_encodable(question, "The question")
        if len(question) > self.settings.max_question_chars:
            raise InputError(
                f"The question is {len(question)} characters long; the limit is "
                f"{self.settings.max_question_chars} (QA_MAX_QUESTION_CHARS)."
            )
        return question

    def check_scope(self, documents: Sequence[str]) -> tuple[str, ...]:
        """The document ids a question is scoped to (none: the whole collection); an id the
        collection does not hold is refused, so a typo never silently widens or empties a scope."""
        scope = tuple(dict.fromkeys(str(doc_id).strip() for doc_id in documents or ()))
        if "" in scope:
            raise InputError("A document id in the scope is empty.")
        if not scope:
            return scope
        with self.reading() as store:
            missing = store.missing_documents(scope)
        if missing:
            names = ", ".join(repr(doc_id) for doc_id in missing)
            raise InputError(
                f"The collection holds no document {names}; the ids are those `qa docs list` shows."
            )
        return scope

    def retrieve(
        self, question: str, k: int | None = None, mode: str = "hybrid", documents: Sequence[str] = ()
    ) -> Retrieval:
        """The top k chunks, of `documents` only when given; `mode` other than hybrid (dense,
        bm25, rrf) is for measuring it."""
        question = self.check_question(question)
        scope = self.check_scope(documents)
        started = time.perf_counter()
        with self.long_questions.admit(question), self.reading() as store:
            outline = Outline(store, scope, self._translate_any_form)
            results = outline.results(question)[: k or self.settings.top_k] if mode == "hybrid" else []
            if not results:
                retriever = Retriever(store, self.embeddings, mode, documents=scope)
                results = retriever.retrieve(content_question(question), k or self.settings.top_k)
                if mode == "hybrid":
                    results = outline.located(question, results) or results
        return Retrieval(question, tuple(results), (time.perf_counter() - started) * 1000)

    def ask(self, question: str, history: Sequence[dict] = (), documents: Sequence[str] = ()) -> Answer:
        """The answer from the whole collection, or from `documents` only (ids)."""
        final = None
        for piece in self.ask_stream(question, history, documents):
            if isinstance(piece, Answer):
                final = piece
        assert final is not None
        return final

    def ask_stream(
        self, question: str, history: Sequence[dict] = (), documents: Sequence[str] = ()
    ) -> Iterator[str | Answer]:
        """Text pieces as they are verified, then the final Answer (whose text they add up to).
        With `documents`, retrieval, the refusal and so the citations keep to those documents."""
        question = self.check_question(question)
        for turn in history or ():
            check_encodable(str(turn.get("content", "")), "A turn of the history")
        scope = self.check_scope(documents)
        started = time.perf_counter()
        language = language_of(question)
        clean, injected = strip_injection(question)
        standalone = self.condense(clean, list(history or ())) if history and clean else clean
        with self.long_questions.admit(standalone or question):  # until the answer is done or dropped
            with self.reading() as store:
                outlines = Outline(store, scope, self._translate_any_form)
                outline = outlines.results(standalone)
                retriever = Retriever(store, self.embeddings, documents=scope)
                asked = content_question(standalone)
                results = outline or retriever.retrieve(asked or question, self.settings.top_k)
                answerable = bool(key_terms(asked)) and retriever.is_answerable(asked, results)
                missing = None if answerable else retriever.missing_name(asked or question)
                if answerable and not outline:  # "讲 ldapvi 的是哪一节": the section holding the answer
                    outline = outlines.located(standalone, results)
            if outline:
                answer = yield from self._verified(OutlineAnswerer(), standalone, outline, language)
            elif answerable and results:
                answer = yield from self._verified(self.answerer, standalone, results, language)
            else:
                answer = refusal(question, results, language, collection=self.collection(), missing=missing)
                yield answer.answer
        yield replace(
            answer,
            question=question,
            standalone_question=standalone if standalone and standalone != question else "",
            injection=injected,
            documents=scope,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _verified(
        self, answerer: Answerer, question: str, results: Sequence[RetrievalResult], language: str
    ) -> Generator[str, None, Answer]:
        """The one gate every answer passes: the answerer's draft, sentence by sentence, checked
        against the paragraphs it cites, shown as it holds. A draft that says the documents do not
        answer is a refusal; an LLM draft of which nothing holds gives way to the extractive
        answer; an extractive draft of which nothing holds is shown flagged as unverified."""
        chunks = {n: result.chunk for n, result in enumerate(results, start=1)}
        # an LLM's draft is checked through its quotes, the extractive one by its chunk's words
        quoted = answerer.mode != "extractive"
        stream = QuotedStream(self.facts, chunks) if quoted else VerifiedStream(self.verifier, chunks)
        draft = Draft()
        for piece in answerer.draft(question, results, language):
            if isinstance(piece, Draft):
                draft = piece
            else:
                yield from stream.feed(piece)
        yield from stream.finish(may_be_cut=draft.may_be_cut)
        unverified = tuple(Unverified(s.text, s.reason) for s in stream.removed)
        about = {"llm": draft.backend, "llm_raw_answer": draft.raw, "unverified": unverified}
        if stream.kept:
            quotes = {**draft.quotes, **(stream.quotes if isinstance(stream, QuotedStream) else {})}
            citations = citations_for_markers(stream.cited, results, quotes)
            return Answer(question, stream.shown, False, answerer.mode, citations, tuple(results), **about)
        if not stream.removed or says_not_answered(draft.raw or ""):
            answer = refusal(question, results, language, collection=self.collection())
            yield answer.answer
            return replace(answer, mode=answerer.mode, **about)
        if quoted:
            fallback = yield from self._verified(self.extractive, question, results, language)
            reason = "extractive: no sentence of the LLM's answer was supported"
            return replace(
                fallback,
                llm=draft.backend,
                llm_raw_answer=draft.raw,
                fallback=reason,
                unverified=unverified + fallback.unverified,
            )
        yield stream.raw.strip()
        citations = tuple(
            Citation(n, results[n - 1].chunk, quote) for n, quote in sorted(draft.quotes.items())
        )
        return Answer(
            question,
            stream.raw.strip(),
            False,
            answerer.mode,
            citations,
            tuple(results),
            unverified=unverified,
            verified=False,
        )

    def documents(self) -> list[StoredDocument]:
        """What the collection holds, per document."""
        with self.reading() as store:
            return store.documents()

    def health(self) -> dict:
        with self.reading() as store:
            return {"status": "ok", "chunks": store.count(), "embedder": self.identity}
