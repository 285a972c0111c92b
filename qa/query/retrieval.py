"""Find the chunks that answer a question, best first, each with a calibrated support score.

Hybrid: dense (Chroma) and BM25 over jieba tokens (keywords.py), mixed as min-max scaled
scores plus the question's idf-weighted coverage (measured better than reciprocal rank fusion,
which stays as a mode beside dense-only and BM25-only). English questions also reach Chinese
text through the bilingual map, traditional ones through OpenCC. Near-duplicate overlap
windows do not crowd the top. Each result's score is the estimated probability that the
chunk supports an answer (similarity, coverage, unknown words, and whether it holds the kind
of fact asked for); `is_answerable` is that estimate for the best result. Per query the work
is the embedding, one vector-index query and the question's posting lists; chunk records are
cached. langchain_retriever.py puts the same `Retriever` behind LangChain's `BaseRetriever`.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from qa.errors import ConfigError
from qa.index.embeddings import Embeddings
from qa.index.keywords import Concept, KeywordHits, KeywordIndex
from qa.index.store import ChunkStore, chunks_from_records
from qa.query.support import FACT_SHARE, calibration_for, support
from qa.records import Chunk, Evidence, RetrievalResult
from qa.text.facts import asked_facts, holds_facts
from qa.text.language import is_chinese
from qa.text.normalize import normalize
from qa.text.sentences import marks_a_name, split_sentences, title_cased
from qa.text.terms import is_english_word, one_edit_away, quiet_jieba

MODES = ("hybrid", "dense", "bm25", "rrf")
RRF_K = 60
# The fusion weights are fitted by grid search on the tuning parts of all three dev corpora
# (article, handbook, edu: mean MRR@5 0.788 at the former 0.6/0.7/0.2, 0.824 here), never on
# their held-out parts; eval/fit_fusion.py repeats the search. With manual_en's tuning part added
# (English pages, Chinese questions through the glosses) the same triple still wins (0.820).
# With SENTENCE_WEIGHT in the grid (four corpora): 0.861 -> 0.874 at 0.4; the best, 0.877, differs
# only in a Chinese question's keyword weight (0.3), one question's rank, so the triple stays.
KEYWORD_WEIGHT = 0.4
KEYWORD_WEIGHT_EN = 0.5
CANDIDATES = 30
# A chunk holding every concept of the question beats one that repeats a single one (short
# headings win BM25 on one shared word).
COVERAGE_WEIGHT = 0.4
# Among the top k, a chunk whose single sentence covers the question (the support model's
# strongest evidence) moves up: chunk-level coverage cannot tell words gathered in one statement
# from words scattered over a paragraph about something else.
SENTENCE_WEIGHT = 0.4
AGREE = 5  # both searches' top this many: the two kinds of evidence point at the same chunk
NEAR_DUPLICATE = 0.5  # share of a chunk's text already shown above it that makes it a repeat
RECORD_CACHE = 8192  # chunk records (text, metadata, unit vector) kept in memory per open index


@dataclass(frozen=True)
class Candidate:
    chunk_id: str
    fused: float
    dense: float  # cosine similarity to the question
    coverage: float  # idf-weighted share of the question's concepts found in the chunk
    unknown: float = 0.0  # share of the question's words absent from the whole collection
    dense_z: float = 0.0  # the cosine in standard deviations above the candidate pool's mean
    keyword: float = 0.0  # BM25 over the idf mass of the question's concepts
    agree: float = 0.0  # 1 when both searches rank the chunk in their top AGREE


class Retriever:
    """Hybrid retrieval over one store; the other modes exist to measure the default against."""

    def __init__(
        self, store: ChunkStore, embeddings: Embeddings, mode: str = "hybrid", documents: Sequence[str] = ()
    ) -> None:
        """`documents`: search only their chunks (a scoped question); empty, the whole collection."""
        if mode not in MODES:
            raise ConfigError(f"Unknown retriever '{mode}'; choose one of: {', '.join(MODES)}.")
        self.store = store
        self.keywords = store.keywords  # one index for the whole question, even if a refresh swaps it
        self.embeddings = embeddings
        self.mode = mode
        self.documents = tuple(documents)
        manifest = store.manifest
        self.calibration = calibration_for(manifest.embedder if manifest else "")

    def query_text(self, question: str) -> str:
        """What the embedder is given: a Chinese question simplified, like the text it searches."""
        return normalize(question) if is_chinese(question) else question

    def retrieve(self, question: str, k: int) -> list[RetrievalResult]:
        candidates, hits = self._candidates(question, max(CANDIDATES, 4 * k))
        shortlist = candidates[: 3 * k]
        chunks = chunk_records(self.store).chunks([c.chunk_id for c in shortlist])
        top = spread(shortlist, chunks)[:k]
        facts = asked_facts(question)
        shares = {c.chunk_id: sentence_shares(facts, question, hits, chunks[c.chunk_id]) for c in top}
        ordered = top
        if self.mode == "hybrid":  # a chunk one of whose sentences says what the question asks moves up

            def rank_key(candidate: Candidate) -> float:
                return candidate.fused + SENTENCE_WEIGHT * shares[candidate.chunk_id][0]

            ordered = spread(sorted(top, key=rank_key, reverse=True), chunks)
        name = rarest_name(question, hits, self.keywords)
        stranger = unknown_name(question, self.keywords)
        results = []
        for rank, candidate in enumerate(ordered, start=1):
            chunk = chunks[candidate.chunk_id]
            sentence, bound = shares[candidate.chunk_id]
            if (name and not name.occurs_in(normalize(chunk.search_text))) or stranger:
                bound = False  # about something else, however well it matches the rest
            evidence = Evidence(
                dense=candidate.dense,
                dense_z=candidate.dense_z,
                coverage=candidate.coverage,
                sentence=sentence,
                keyword=candidate.keyword,
                agree=candidate.agree,
                unknown=candidate.unknown,
                lacks_fact=float(not bound),
            )
            results.append(RetrievalResult(rank, chunk, support(evidence, self.calibration), evidence))
        return results

    def missing_name(self, question: str) -> str | None:
        """A name the question uses and the collection never does: a refusal says which."""
        return unknown_name(question, self.keywords)

    def is_answerable(self, question: str, results: list[RetrievalResult]) -> bool:
        """Whether the collection answers the question at all; answering refuses when not."""
        return bool(results) and max(r.score for r in results) >= self.calibration.threshold

    # --- the two searches and their fusion -------------------------------------------------

    def _candidates(self, question: str, n: int) -> tuple[list[Candidate], KeywordHits]:
        """The union of both searches' top n with their cosines, ordered best first.

        Beyond embedding the question: the question's posting lists, one vector-index query,
        the vectors of keyword hits the vector index did not return (cached after a first
        fetch), and later the records of the few chunks shortlisted. No threads: the embedder's
        OpenMP threads already fill both cores (docs/retrieval.md has the measurements).
        """
        keywords = self.keywords
        hits = keywords.search(question)  # first: the embedder's threads spin a while after it
        if self.documents:  # both searches filtered inside, so a scope's top n is full
            scope = self._scope_positions()
            hits = replace(hits.within(scope), unknown=keywords.unknown_within(hits.concepts, scope))
        vector = np.asarray(self.embeddings.embed_query(self.query_text(question)), dtype=np.float32)
        n = min(n, len(keywords.chunk_ids))
        bm25_top = [keywords.chunk_ids[i] for i in hits.top(n)]
        dense_hits = self.store.search_ids(vector, n, self.documents)
        similarity = dict(dense_hits)
        keyword_only = [chunk_id for chunk_id in bm25_top if chunk_id not in similarity]
        similarity.update(chunk_records(self.store).cosines(keyword_only, vector))  # absent: deleted
        dense_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(dense_hits)}
        bm25_rank = {chunk_id: rank for rank, chunk_id in enumerate(bm25_top)}
        english = not is_chinese(question)
        top = hits.best or 1.0
        low, high = (min(similarity.values()), max(similarity.values())) if similarity else (0.0, 1.0)
        pool = np.fromiter(similarity.values(), dtype=np.float64)
        mean, deviation = (float(pool.mean()), float(pool.std()) or 1.0) if len(pool) else (0.0, 1.0)
        mass = sum(hits.idfs) or 1.0
        weight = KEYWORD_WEIGHT_EN if english else KEYWORD_WEIGHT
        candidates = []
        for chunk_id, cosine in similarity.items():
            keyword, coverage = hits.lookup(keywords.position(chunk_id))
            if self.mode == "hybrid":  # min-max scaled cosine and BM25, mixed, plus coverage
                dense = (cosine - low) / ((high - low) or 1.0)
                fused = (1 - weight) * dense + weight * keyword / top + COVERAGE_WEIGHT * coverage
            else:
                fused = self._fuse(dense_rank.get(chunk_id), bm25_rank.get(chunk_id), english)
            # a chunk sharing no word with the question is ranked by no keyword search, however
            # few chunks a small collection has: both searches must find it to agree
            agree = keyword > 0 and dense_rank.get(chunk_id, n) < AGREE and bm25_rank.get(chunk_id, n) < AGREE
            candidates.append(
                Candidate(
                    chunk_id,
                    fused,
                    cosine,
                    coverage,
                    hits.unknown,
                    dense_z=(cosine - mean) / deviation,
                    keyword=keyword / mass,
                    agree=float(agree),
                )
            )
        candidates.sort(key=lambda c: (-c.fused, -c.dense))
        return candidates, hits

    def _scope_positions(self) -> np.ndarray:
        """The keyword-index positions of the scope's chunks."""
        keywords = self.store.keywords
        positions = (keywords.position(chunk_id) for chunk_id in self.store.chunk_ids_in(self.documents))
        return np.array(sorted(p for p in positions if p is not None), dtype=np.int64)

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


class ChunkRecords:
    """Chunk records and unit vectors by id, kept after the first fetch (least recently used go).

    A warm query on a collection that fits then fetches nothing but its vector-index query;
    the caches are bounded, so memory does not grow with the collection. Chunk ids hash their
    text, so an id never names other words; each opened store (one index generation) has its
    own caches. Vectors and records are fetched apart: a vector is cheap to fetch, a record
    (text and metadata) is not, and only the shortlist needs records.
    """

    def __init__(self, collection: Any, size: int = RECORD_CACHE) -> None:
        self.collection = collection  # not the store: the cache must not keep its store alive
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._chunks: OrderedDict[str, Chunk] = OrderedDict()
        self._lock = threading.Lock()

    def cosines(self, chunk_ids: Sequence[str], vector: np.ndarray) -> dict[str, float]:
        """Each chunk's cosine similarity to `vector`; ids no longer in the store are left out."""
        vectors = self._cached(self._vectors, chunk_ids, self._fetch_vectors)
        if not vectors:
            return {}
        query = vector / (np.linalg.norm(vector) or 1.0)
        similarities = np.stack(list(vectors.values())) @ query
        return {key: float(s) for key, s in zip(vectors, similarities, strict=True)}

    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        return self._cached(self._chunks, chunk_ids, self._fetch_chunks)

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()
            self._chunks.clear()

    def _cached(self, cache: OrderedDict, chunk_ids: Sequence[str], fetch: Callable) -> dict:
        with self._lock:
            found = {key: cache[key] for key in chunk_ids if key in cache}
            for key in found:
                cache.move_to_end(key)
        missing = [key for key in chunk_ids if key not in found]
        if missing:
            fetched = fetch(missing)
            found.update(fetched)
            with self._lock:
                cache.update(fetched)
                while len(cache) > self.size:
                    cache.popitem(last=False)
        return {key: found[key] for key in chunk_ids if key in found}

    def _fetch_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        records = self.collection.get(ids=chunk_ids, include=["embeddings"])
        if not records["ids"]:  # removed since the keyword index named them (another host's change)
            return {}
        matrix = np.asarray(records["embeddings"], dtype=np.float32).reshape(len(records["ids"]), -1)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        return dict(zip(records["ids"], matrix, strict=True))

    def _fetch_chunks(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        records = self.collection.get(ids=chunk_ids, include=["metadatas", "documents"])
        return {chunk.chunk_id: chunk for chunk in chunks_from_records(records)}


_RECORDS: weakref.WeakKeyDictionary[ChunkStore, ChunkRecords] = weakref.WeakKeyDictionary()
_RECORDS_LOCK = threading.Lock()


def chunk_records(store: ChunkStore) -> ChunkRecords:
    """The record cache of an opened store; it goes when the store does."""
    with _RECORDS_LOCK:
        if store not in _RECORDS:
            _RECORDS[store] = ChunkRecords(store.collection)
        return _RECORDS[store]


def spread(candidates: list[Candidate], chunks: dict[str, Chunk]) -> list[Candidate]:
    """Best first, but a near-duplicate of a chunk already shown waits until the distinct ones are out.

    A near-duplicate is an overlap window of a paragraph already shown that repeats more than
    half of its text; a window of the same paragraph with other sentences is new to the reader.
    """
    shown: dict[tuple[str, int], set[str]] = {}
    first, later = [], []
    for candidate in candidates:
        chunk = chunks.get(candidate.chunk_id)
        if chunk is None:
            continue
        sentences = set(split_sentences(chunk.text))
        keys = [(chunk.doc_id, p) for p in chunk.paragraphs]
        seen = set().union(*(shown.get(key, set()) for key in keys))
        repeated = sum(len(s) for s in sentences & seen)
        (later if repeated > NEAR_DUPLICATE * len(chunk.text) else first).append(candidate)
        for key in keys:
            shown.setdefault(key, set()).update(sentences)
    return first + later


_NAME_TAGS = {"ns", "nt", "nz", "nr"}  # jieba: place, organisation, other proper noun, person
_CAPITALISED = re.compile(r"[A-Z][A-Za-z0-9]+")


def rarest_name(question: str, hits: KeywordHits, index: KeywordIndex) -> Concept | None:
    """When a question names two or more things (capitalised English words after the first; in
    a Chinese question its Latin words, names copied from the documents, else the place,
    organisation and proper names jieba tags), the rarest one the collection knows. A chunk
    without it is about something else: "How much did China pledge to the Kunming fund?" is not
    answered by a chunk about a donation to a school, however well it matches "how much" and
    "pledge"; "如何配置 rsyslog 通过 TCP 并用 TLS 加密转发日志" not by one on ssh's TCP tunnels.
    (jieba tags technical words as names too, 补丁 among them: among Latin ones they do not count.)"""
    if is_chinese(question):
        import jieba.posseg

        quiet_jieba()
        words = list(jieba.posseg.cut(normalize(question)))
        latin = {w.word for w in words if w.flag == "eng" and len(w.word) >= 2 and not w.word.isdigit()}
        names = {w.word for w in words if w.flag in _NAME_TAGS}
        named = [i for i, c in enumerate(hits.concepts) if c.text in latin]
        if len(named) < 2:  # jieba's tags when the question writes fewer than two Latin names
            named = [i for i, c in enumerate(hits.concepts) if c.text in names]
    else:
        words = [word.strip("?,.!;:'\"()") for word in question.split()[1:]]
        names = {word.lower() for word in words if _CAPITALISED.fullmatch(word)}
        named = [i for i, c in enumerate(hits.concepts) if names & set(c.text.lower().split())]
    # A name's rarity is that of its commonest known term: "China" is as common as 我国 is.
    if len(named) < 2:
        return None
    idfs = {i: [index.idf(term) for term, _ in hits.concepts[i].terms if term in index.vocab] for i in named}
    rarity = {i: min(values) for i, values in idfs.items() if values}
    return hits.concepts[max(rarity, key=rarity.__getitem__)] if rarity else None


# A name as people write one: an acronym or a capitalised or alphanumeric word ("TLS", "Samba",
# "COP28"); or a lower-case word of letters and digits that is not English ("debootstrap",
# "fail2ban"), unless it is one slip from a word the collection or English knows: a typo
# ("upgarde") is not a new name. Words joined by "-", "." or "_" are not read whole: the tokenizer
# splits "apt-get" and "sshd_config", so the vocabulary cannot tell whether the collection writes
# them; an identifier is read by its parts instead (_IDENTIFIER).
_NAME_LIKE = re.compile(r"(?<![\w-])(?=[A-Za-z0-9]*[A-Z])[A-Za-z][A-Za-z0-9]+(?![\w-])")
_LOWER_NAME = re.compile(r"(?<![\w.-])[a-z][a-z0-9]{3,}(?![\w.-])")
_MARKUP = re.compile(r"<[^<>]*>")  # pasted HTML: its tag and attribute names ("onerror") ask nothing
# An identifier joined by "_" or "." ("no_subtree_check", "dhcpd.conf"): the tokenizer splits it,
# but a collection that never uses one of its parts never writes the identifier either.
_IDENTIFIER = re.compile(r"(?<![\w.-])[a-z0-9]+(?:[_.][a-z0-9]+)+(?![\w-])", re.IGNORECASE)
_PART = re.compile(r"[a-z][a-z0-9]{3,}")


# An English collection writes a proper name as an English question does: a capitalised word
# past the question's opening that such a collection never uses ("Does Valgrind run on Windows?")
# names what it does not cover, though the word is English too (a Chinese collection would write
# "French" as 法国, so there only a name that is not English counts).
ENGLISH_COLLECTION = 0.5  # share of the collection's chunks written in English


def unknown_name(question: str, index: KeywordIndex) -> str | None:
    """A name the question uses and the collection never does, if any: the question is about a
    thing its documents do not mention ("用 TLS 加密转发日志" of a collection without TLS, "怎么用
    debootstrap 装系统" of one without debootstrap, "no_subtree_check 是什么意思" of one that
    never writes "subtree"), so no chunk answers it, however well the rest matches. In an English
    question only a name that is not English ("RDP", "UEFI"): a Chinese collection writes "French"
    as 法国, but not OpenBSD in characters."""
    text = _MARKUP.sub(" ", question)
    chinese = is_chinese(question)

    def known(name: str) -> bool:
        # known inside an identifier too: UDP in "$UDPServerRun", which the tokenizer keeps whole
        return name in index.vocab or index.uses_latin(name)

    def new_name(word: str) -> bool:  # not a typo ("upgarde") of a word the collection or English knows
        return not (known(word) or is_english_word(word)) and not any(
            near in index.vocab or is_english_word(near) for near in one_edit_away(word)
        )

    english = not chinese and index.english_share >= ENGLISH_COLLECTION and not title_cased(text)
    for match in _NAME_LIKE.finditer(text):
        word, name = match.group(0), normalize(match.group(0))
        proper = english and marks_a_name(word, text[: match.start()])
        if not known(name) and (chinese or proper or not is_english_word(name)):
            return word
    for identifier in _IDENTIFIER.findall(text):
        if any(new_name(part) for part in _PART.findall(identifier.lower())):
            return identifier
    if not chinese:
        return None
    return next((word for word in _LOWER_NAME.findall(text) if new_name(word)), None)


def sentence_shares(
    facts: Sequence[str], question: str, hits: KeywordHits, chunk: Chunk
) -> tuple[float, bool]:
    """The largest share of the question one of the chunk's sentences covers, and whether a
    sentence holding a fact of every asked kind binds it to the question (always, when no fact
    is asked; numbers the question itself names do not count)."""
    best = 0.0
    holding: list[tuple[float, int]] = []  # (share, concepts held) of the sentences holding the fact
    text = chunk.search_text if chunk.kind == "metadata" else chunk.text
    for sentence in split_sentences(text) or [text]:
        normalized = normalize(sentence)
        share = hits.share(normalized)
        best = max(best, share)
        if facts and holds_facts(facts, sentence, question):
            holding.append((share, sum(concept.occurs_in(normalized) for concept in hits.concepts)))
    return best, not facts or any(binds(share, held, best) for share, held in holding)


def binds(share: float, concepts: int, best: float) -> bool:
    """Whether a sentence holding the asked fact is about what the question asks: it covers
    FACT_SHARE of the question, or, when the question is worded otherwise than the text and no
    sentence covers that much, it is the chunk's best-covering sentence and shares more than one
    of the question's words (one shared word is a coincidence: "昆明" in a sentence about COP15
    does not give 昆明's population)."""
    return share >= FACT_SHARE or (share >= best and concepts >= 2)
