"""Find the chunks that answer a question, best first, each with a calibrated support score.

Hybrid: dense (Chroma) and BM25 over jieba tokens (keywords.py), fused by reciprocal rank;
English questions also reach Chinese text through the bilingual map, traditional ones
through OpenCC. Overlap windows of one paragraph do not crowd the top. Each result's score
is the estimated probability that the chunk supports an answer, from its similarity and
how much of the question it covers; `is_answerable` is that estimate for the best result.
Exposed both as a plain `Retriever` and as a LangChain `BaseRetriever`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from qa.chunking import Chunk
from qa.keywords import is_chinese, normalize
from qa.store import ChunkStore

RRF_K = 60
KEYWORD_WEIGHT = 0.6
KEYWORD_WEIGHT_EN = 0.7
CANDIDATES = 30
# A chunk holding every concept of the question beats one that repeats a single one (short
# headings win BM25 on one shared word); flat from 0.1 to 0.3 on the dev set.
COVERAGE_WEIGHT = 0.2


@dataclass(frozen=True)
class RetrievalResult:
    rank: int
    chunk: Chunk
    score: float

    def as_json(self) -> dict:
        return {"rank": self.rank, **self.chunk.as_json(), "score": round(self.score, 4)}


@dataclass(frozen=True)
class _Candidate:
    chunk_id: str
    fused: float
    dense: float  # cosine similarity to the question
    coverage: float  # idf-weighted share of the question's concepts found in the chunk
    unknown: float = 0.0  # share of the question's words absent from the whole collection


class Retriever:
    """Hybrid retrieval over one store; `mode` rrf, dense or bm25 exist to measure the default against."""

    def __init__(self, store: ChunkStore, embeddings: Embeddings, mode: str = "weighted") -> None:
        self.store = store
        self.embeddings = embeddings
        self.mode = mode

    def retrieve(self, question: str, k: int) -> list[RetrievalResult]:
        found, candidates = self._candidates(question, max(CANDIDATES, 4 * k))
        chunks = {chunk_id: chunk for chunk_id, (chunk, _) in found.items()}
        ordered = _spread(candidates[: 3 * k], chunks)[:k]
        return [
            RetrievalResult(rank, chunks[c.chunk_id], support(found[c.chunk_id][1], c.coverage, c.unknown))
            for rank, c in enumerate(ordered, start=1)
        ]

    def is_answerable(self, question: str, results: list[RetrievalResult]) -> bool:
        """Whether the collection answers the question at all; answering refuses when not."""
        return bool(results) and max(r.score for r in results) >= SUPPORT_THRESHOLD

    # --- the two searches and their fusion -------------------------------------------------

    def _candidates(self, question: str, n: int) -> tuple[dict[str, tuple[Chunk, float]], list[_Candidate]]:
        """The union of both searches' top n, fetched with their cosines, and ordered best first."""
        simplified = normalize(question) if is_chinese(question) else question
        vector = np.asarray(self.embeddings.embed_query(simplified), dtype=np.float32)
        keywords = self.store.keywords
        n = min(n, len(keywords.chunk_ids))
        dense_hits = self.store.search_ids(vector, n)
        dense_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(dense_hits)}

        concepts = keywords.concepts(question)
        rows = keywords.term_scores(concepts)
        idfs = np.array([keywords.concept_idf(c) for c in concepts], dtype=np.float32)
        bm25 = np.sum(rows, axis=0) if rows else np.zeros(len(keywords.chunk_ids), dtype=np.float32)
        top = np.argpartition(-bm25, min(n, len(bm25)) - 1)[:n] if len(bm25) else np.array([], int)
        top = [int(i) for i in top[np.argsort(-bm25[top], kind="stable")] if bm25[i] > 0]
        bm25_rank = {keywords.chunk_ids[i]: rank for rank, i in enumerate(top)}
        position = {keywords.chunk_ids[i]: i for i in top}

        pool = set(dense_rank) | set(bm25_rank)
        found = self.store.get_chunks(sorted(pool), vector)  # one round trip: texts and cosines
        dense_sim = {chunk_id: similarity for chunk_id, (_, similarity) in found.items()}
        english = not is_chinese(question)
        words = [c for c in concepts if len(c.text) >= 2]
        known = sum(any(term in keywords.vocab for term, _ in c.terms) for c in words)
        unknown = 1.0 - known / len(words) if words else 1.0
        candidates = []
        raw = []
        for chunk_id in pool:
            index = position.get(chunk_id)
            if index is None:
                index = keywords.position(chunk_id)
            coverage = _coverage(rows, idfs, index)
            raw.append((chunk_id, dense_rank.get(chunk_id), bm25_rank.get(chunk_id), coverage, index))
        if self.mode == "weighted":  # the default: measured better than rank fusion
            return found, self._weighted(raw, dense_sim, bm25, english, unknown)
        for chunk_id, d_rank, b_rank, coverage, _ in raw:
            fused = self._fuse(d_rank, b_rank, english)
            candidates.append(_Candidate(chunk_id, fused, dense_sim.get(chunk_id, 0.0), coverage, unknown))
        candidates.sort(key=lambda c: (-c.fused, -c.dense))
        return found, candidates

    def _fuse(self, dense_rank: int | None, bm25_rank: int | None, english: bool) -> float:
        """Reciprocal rank fusion (mode rrf), or one side alone (dense, bm25)."""
        dense = 1.0 / (RRF_K + dense_rank) if dense_rank is not None else 0.0
        keyword = 1.0 / (RRF_K + bm25_rank) if bm25_rank is not None else 0.0
        if self.mode == "dense":
            return dense
        if self.mode == "bm25":
            return keyword
        weight = KEYWORD_WEIGHT_EN if english else KEYWORD_WEIGHT
        return (1 - weight) * dense + weight * keyword

    def _weighted(
        self, raw: list, dense_sim: dict[str, float], bm25: np.ndarray, english: bool, unknown: float
    ) -> list[_Candidate]:
        """Min-max scaled cosine and BM25 over the candidates, mixed, plus the question's coverage."""
        top = float(bm25.max()) or 1.0
        sims = [dense_sim.get(r[0], 0.0) for r in raw]
        low, high = min(sims), max(sims)
        weight = KEYWORD_WEIGHT_EN if english else KEYWORD_WEIGHT
        out = []
        for (chunk_id, _, _, coverage, index), sim in zip(raw, sims, strict=True):
            keyword = float(bm25[index]) / top if index is not None else 0.0
            dense = (sim - low) / ((high - low) or 1.0)
            fused = (1 - weight) * dense + weight * keyword + COVERAGE_WEIGHT * coverage
            out.append(_Candidate(chunk_id, fused, sim, coverage, unknown))
        out.sort(key=lambda c: (-c.fused, -c.dense))
        return out


def _coverage(rows: list[np.ndarray], idfs: np.ndarray, index: int | None) -> float:
    if not rows or index is None or idfs.sum() <= 0:
        return 0.0
    present = np.array([row[index] > 0 for row in rows], dtype=np.float32)
    return float((present * idfs).sum() / idfs.sum())


def _spread(candidates: list[_Candidate], chunks: dict[str, Chunk]) -> list[_Candidate]:
    """Best first, but a window of a paragraph already shown waits until the distinct ones are out."""
    seen: set[tuple[str, int]] = set()
    first, later = [], []
    for candidate in candidates:
        chunk = chunks.get(candidate.chunk_id)
        if chunk is None:
            continue
        keys = {(chunk.doc_id, p) for p in chunk.paragraphs}
        (later if keys & seen else first).append(candidate)
        seen |= keys
    return first + later


# Logistic model of "the collection answers this", fitted on the dev set (answerable vs not):
# dense cosine of the chunk, its idf-weighted coverage of the question, and the share of the
# question's words (two characters or more) that the collection never uses.
SUPPORT_WEIGHTS = (-7.26, 11.00, 1.29, -3.71)  # bias, dense, coverage, unknown
SUPPORT_THRESHOLD = 0.55  # at most 5% of the dev set's answerable questions fall below


def support(dense: float, coverage: float, unknown: float) -> float:
    bias, w_dense, w_coverage, w_unknown = SUPPORT_WEIGHTS
    logit = bias + w_dense * dense + w_coverage * coverage + w_unknown * unknown
    return 1.0 / (1.0 + math.exp(-logit))


class LangChainRetriever(BaseRetriever):
    """The same retrieval behind LangChain's interface; metadata keeps rank, score and paragraphs."""

    retriever: Retriever
    k: int = 5

    model_config = {"arbitrary_types_allowed": True}

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        return [
            LCDocument(page_content=result.chunk.text, metadata=result.as_json())
            for result in self.retriever.retrieve(query, self.k)
        ]
