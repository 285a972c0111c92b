"""The keyword side of retrieval: jieba tokens, a BM25 index, and English -> Chinese query terms.

What it does: builds a bm25s index at ingest from qa.text.terms' tokens (normalized, jieba's
search mode, no stop words or punctuation) and saves it, with the chunk ids and a bilingual map
restricted to the collection's own vocabulary (CC-CEDICT), in a versioned folder; at query time it
turns a question, Chinese or English, into weighted "concepts" and scores them through the
inverted index. What it does not do: dense search, fusion or the support decision
(retrieval.py does those).

bm25s builds and saves the index; a reading process loads the arrays bm25s saved with numpy
alone, because importing bm25s imports scipy.sparse (a tenth of a second of a cold `qa ask`)
for scoring code the reader never runs: it walks the posting lists itself.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import IndexMissingError
from qa.text.language import CJK, is_chinese
from qa.text.terms import (
    english_glosses,
    english_map,
    english_stem,
    english_words,
    stem_groups,
    stemmable,
    tokenize,
    translations,
    written_forms,
)

if TYPE_CHECKING:
    import bm25s

FORMAT_VERSION = 2  # 2: one stop-word list for index, answers and verification
META_FILE = "keywords.json"
EMPTY_TOKEN = "\x00empty"  # stands for a text without searchable words
BM25_DIR = "bm25"
# The files BM25.save writes into BM25_DIR (its `load`'s default names): the vocabulary, and the
# CSC matrix of precomputed scores, a column per term, as three arrays.
BM25_VOCAB = "vocab.index.json"
BM25_ARRAYS = {name: f"{name}.csc.index.npy" for name in ("data", "indices", "indptr")}

# The share of a collection's chunks written in English from which a Chinese question's words are
# glossed into English: one chunk in twenty (the Chinese manuals' untranslated paragraphs are one
# in six to eight, the article has none).
ENGLISH_TEXT = 0.05
ENGLISH_CHUNK = 0.8  # share of a chunk's words in Latin letters that makes it an English one
_PART = re.compile(r"第.{1,3}部分")
_LATIN_RUN = re.compile(r"[a-z0-9]+")
# Asked of a named part, these words ask for its heading; they are not a topic to match (the
# document's own title field says 标题 too, and would win on that word alone).
_SECTION_FRAME = {"标题", "题目", "名称", "主题", "内容", "讲", "讨论", "主要内容"}


@dataclass(frozen=True)
class Concept:
    """One thing a question asks about: alternative index terms with weights (a word, its translations)."""

    text: str
    terms: tuple[tuple[str, float], ...]
    # terms that count in a chunk as much as its document is written in English (glosses of a
    # Chinese word the collection uses itself)
    per_document: frozenset[str] = frozenset()
    # An English question's word, in a chunk of English inside a mostly Chinese document (an
    # untranslated paragraph), counts as much as that document is English, but at least as much
    # as the word's Chinese translations (`floor`): the Chinese text and the English stand level.
    english_form: str | None = None
    floor: float = 1.0
    # the terms are forms of one word ("configure", "configuration"): as rare as all of them
    # together, not as the rarest form
    one_word: bool = False

    def occurs_in(self, normalized_text: str) -> bool:
        return any(term in normalized_text for term, _ in self.terms)


class KeywordIndex:
    """BM25 over chunk search texts, addressed by chunk id; saved at ingest, loaded per process.

    `vocab` maps a term to its column and `scores` holds bm25s's CSC arrays (data, indices,
    indptr); `bm25` is bm25s's own object, kept when built here, else loaded on first use.
    """

    def __init__(
        self,
        vocab: dict[str, int],
        scores: dict[str, np.ndarray],
        chunk_ids: list[str],
        english: dict[str, list[str]],
        bm25: bm25s.BM25 | None = None,
        directory: Path | None = None,
        english_share: float = 1.0,
        document_english: dict[str, float] | None = None,
        english_chunks: Sequence[bool] | None = None,
    ) -> None:
        """`english_share`: the share of chunks written in English (an index saved before it was
        recorded is taken as all English, which only means glossing may be tried);
        `document_english`: the same share per document (an older index: the collection's);
        `english_chunks`: whether each chunk is written in English (an older index: none is)."""
        self.vocab = vocab
        self.scores = scores
        self.chunk_ids = chunk_ids
        self.english = english
        self.english_share = english_share
        self.document_english = document_english or {}
        self.english_chunks = np.array(english_chunks or [False] * max(1, len(chunk_ids)), dtype=bool)
        self._bm25 = bm25
        self._directory = directory
        self._positions = {chunk_id: index for index, chunk_id in enumerate(chunk_ids)}
        self._indptr = np.asarray(scores["indptr"])
        self._df = np.diff(self._indptr)
        self._n = max(1, len(chunk_ids))

    # --- building and persisting ----------------------------------------------------------

    @classmethod
    def build(cls, chunk_ids: Sequence[str], texts: Sequence[str]) -> KeywordIndex:
        return cls.from_tokens(chunk_ids, [tokenize(text) for text in texts])

    @classmethod
    def from_tokens(cls, chunk_ids: Sequence[str], tokens: Sequence[list[str]]) -> KeywordIndex:
        """The index of texts tokenized already (a host refreshing its index tokenizes only new chunks)."""
        # bm25s cannot index nothing: an empty collection (its last document removed) is one
        # placeholder document whose token no question can contain, and no chunk id.
        import bm25s

        corpus = [words or [EMPTY_TOKEN] for words in tokens] or [[EMPTY_TOKEN]]
        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        bm25.index(corpus, show_progress=False)
        vocabulary = {token for tokens in corpus for token in tokens}
        latin = [_mostly_latin(words) for words in tokens]
        by_document: dict[str, list[bool]] = {}
        for chunk_id, is_english in zip(chunk_ids, latin, strict=True):
            by_document.setdefault(document_of(chunk_id), []).append(is_english)
        return cls(
            bm25.vocab_dict,
            bm25.scores,
            list(chunk_ids),
            english_map(vocabulary),
            bm25=bm25,
            english_share=sum(latin) / max(1, len(latin)),
            document_english={doc: sum(flags) / len(flags) for doc, flags in by_document.items()},
            english_chunks=latin,
        )

    @property
    def bm25(self) -> bm25s.BM25:
        """bm25s's index object (to save it, or to score with bm25s itself)."""
        if self._bm25 is None:
            import bm25s

            assert self._directory is not None
            self._bm25 = bm25s.BM25.load(str(self._directory / BM25_DIR), mmap=False, show_progress=False)
        return self._bm25

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.bm25.save(str(directory / BM25_DIR), show_progress=False)
        meta = {
            "format": FORMAT_VERSION,
            "chunk_ids": self.chunk_ids,
            "english": self.english,
            "english_share": self.english_share,
            "document_english": self.document_english,
            "english_chunks": "".join("1" if flag else "0" for flag in self.english_chunks),
        }
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> KeywordIndex:
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise IndexMissingError(f"No keyword index in {directory}; run `qa ingest --rebuild`.")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise IndexMissingError(
                f"The keyword index in {directory} has format {meta.get('format')}; "
                "run `qa ingest --rebuild`."
            )
        folder = directory / BM25_DIR
        vocab = json.loads((folder / BM25_VOCAB).read_text(encoding="utf-8"))
        scores = {name: np.load(folder / file, allow_pickle=False) for name, file in BM25_ARRAYS.items()}
        return cls(
            vocab,
            scores,
            meta["chunk_ids"],
            meta["english"],
            directory=directory,
            english_share=meta.get("english_share", 1.0),
            document_english=meta.get("document_english"),
            english_chunks=[flag == "1" for flag in meta.get("english_chunks", "")] or None,
        )

    # --- querying -------------------------------------------------------------------------

    def position(self, chunk_id: str) -> int | None:
        return self._positions.get(chunk_id)

    def uses_latin(self, word: str) -> bool:
        """Whether some term of the vocabulary holds `word` (lower-case letters and digits), whole
        or inside: "udp" is used where the tokenizer kept "$udpserverrun" whole. One substring
        search, not a scan of every term per question: at 100,000 terms that scan took 15 ms."""
        if not _LATIN_RUN.fullmatch(word):
            return any(word in term for term in self.vocab)
        return word in self._latin_runs

    @cached_property
    def _latin_runs(self) -> str:
        """The vocabulary's runs of letters and digits, one a line, built once per index: a Latin
        word lies inside a term exactly when it lies inside one of that term's runs."""
        return "\n".join(dict.fromkeys(_LATIN_RUN.findall("\n".join(self.vocab))))

    def idf(self, term: str) -> float:
        """BM25's idf; a term the collection never uses gets the highest value."""
        index = self.vocab.get(term)
        return self._idf_of(int(self._df[index]) if index is not None else 0)

    def _idf_of(self, df: int) -> float:
        """BM25's idf of a term found in `df` chunks."""
        return math.log(1 + (self._n - df + 0.5) / (df + 0.5))

    def concepts(self, question: str) -> list[Concept]:
        """Chinese: one concept a token. English: one a word or phrase, with its Chinese terms."""
        if is_chinese(question):
            tokens = list(dict.fromkeys(tokenize(question)))
            if any(_PART.fullmatch(token) for token in tokens):  # "第二部分的标题": the heading itself
                tokens = [token for token in tokens if token not in _SECTION_FRAME] or tokens
            return [self._chinese_concept(token) for token in tokens]
        words = english_words(question)
        concepts = []
        used: set[int] = set()
        for size in (3, 2, 1):
            for start in range(len(words) - size + 1):
                span = set(range(start, start + size))
                phrase = " ".join(words[start : start + size])
                if span & used or phrase not in self.english:
                    if size == 1 and not span & used:
                        concepts.append(self._english_word(phrase))
                    continue
                found = self.english[phrase]
                weight = 1.0 / math.sqrt(len(found))
                terms = ((phrase, 1.0), *((term, weight) for term in found))
                concepts.append(Concept(phrase, terms, english_form=phrase, floor=weight))
                used |= span
        return concepts

    def _english_word(self, word: str) -> Concept:
        """An English word the bilingual map does not hold as written: its forms in the text, and
        the Chinese terms of the map's words of its stem ("stored" -> 存储, as "store"), so an
        inflected word reaches Chinese text as its dictionary form does."""
        forms = tuple((form, 1.0) for form in self.inflections(word))
        found = self.chinese_terms(word)
        if not found:
            return Concept(word, forms, one_word=True)
        weight = 1.0 / math.sqrt(len(found))
        return Concept(word, (*forms, *((term, weight) for term in found)), english_form=word, floor=weight)

    def chinese_terms(self, word: str) -> list[str]:
        """The collection's Chinese terms for an English word, as written or by its stem."""
        return translations(word, self.english, self._english_by_stem)

    @cached_property
    def _english_by_stem(self) -> dict[str, tuple[str, ...]]:
        """The bilingual map's words by stem, built on the first English question."""
        return stem_groups(self.english)

    def _chinese_concept(self, token: str) -> Concept:
        """A Chinese word, standing also for its English glosses that the collection uses ("导出"
        -> "export", "exports"), so a Chinese question reaches English documents. A word the
        collection uses itself reaches a chunk's English only as much as the chunk's document is
        English: fully in an English page beside Chinese ones, a sixth in a Chinese manual page
        whose untranslated paragraphs should not outrank its Chinese ones."""
        if not CJK.search(token) or self.english_share < ENGLISH_TEXT:
            return Concept(token, ((token, 1.0),))  # (no English to reach: no dictionary to load)
        found = list(
            dict.fromkeys(
                form
                for gloss in english_glosses(token)
                for written in written_forms(gloss)
                for form in self.inflections(written)
                if form in self.vocab
            )
        )
        # several glosses share the word's weight (an ambiguous word); one gloss's forms do not
        senses = len({english_stem(form) if stemmable(form) else form for form in found})
        weight = 1.0 / math.sqrt(senses) if found else 1.0
        per_document = frozenset(found) if token in self.vocab else frozenset()
        return Concept(token, ((token, 1.0), *((form, weight) for form in found)), per_document)

    def inflections(self, word: str) -> tuple[str, ...]:
        """The word and the collection's other words of its stem ("configures" -> "configuration",
        "configured"): an English word counts in whatever form the text writes it."""
        if not stemmable(word):
            return (word,)
        return (word, *(form for form in self._words_by_stem.get(english_stem(word), ()) if form != word))

    @cached_property
    def _words_by_stem(self) -> dict[str, tuple[str, ...]]:
        """The vocabulary's Latin words by stem, built on the first English question: 50,000 words
        take 0.17 s with PyStemmer's C stemmer, which snowballstemmer uses when installed (3.7 s
        in pure Python), once per opened index."""
        return stem_groups(self.vocab)

    @cached_property
    def _chunk_english(self) -> np.ndarray:
        """Each chunk's document's share of English chunks (the collection's, for an older index)."""
        shares = self.document_english
        return np.array(
            [shares.get(document_of(chunk_id), self.english_share) for chunk_id in self.chunk_ids] or [0.0]
        )

    def search(self, question: str) -> KeywordHits:
        """BM25 and coverage of the question over the chunks holding one of its concepts.

        Only the concepts' posting lists in the inverted index are read, so the work grows with
        how often the question's words occur, not with the size of the collection.
        """
        concepts = self.concepts(question)
        docs, scores, weights, idfs = [], [], [], []
        for concept in concepts:
            found, best = self._postings(concept)
            idf = self.concept_idf(concept, found)
            idfs.append(idf)
            docs.append(found)
            scores.append(best)
            weights.append(np.full(len(found), idf, dtype=np.float64))
        words = [c for c in concepts if len(c.text) >= 2]
        known = sum(any(term in self.vocab for term, _ in c.terms) for c in words)
        unknown = 1.0 - known / len(words) if words else 1.0
        if not docs or not sum(len(d) for d in docs):
            empty = np.zeros(0)
            return KeywordHits(tuple(concepts), tuple(idfs), empty.astype(np.int64), empty, empty, unknown)
        positions, inverse = _union(np.concatenate(docs))
        totals = np.bincount(inverse, weights=np.concatenate(scores), minlength=len(positions))
        share = np.bincount(inverse, weights=np.concatenate(weights), minlength=len(positions))
        coverage = share / sum(idfs)
        return KeywordHits(tuple(concepts), tuple(idfs), positions, totals, coverage, unknown)

    def _postings(self, concept: Concept) -> tuple[np.ndarray, np.ndarray]:
        """The chunks holding any of the concept's terms, each with its best weighted BM25 score."""
        indices, data, indptr = self.scores["indices"], self.scores["data"], self._indptr
        docs, scores = [], []
        for term, weight in concept.terms:
            index = self.vocab.get(term)
            if index is None:
                continue
            start, end = indptr[index], indptr[index + 1]
            docs.append(indices[start:end])
            if term in concept.per_document:
                weight = weight * self._chunk_english[indices[start:end]]
            elif term == concept.english_form:
                chunks = indices[start:end]
                share = np.maximum(self._chunk_english[chunks], concept.floor)
                weight = weight * np.where(self.english_chunks[chunks], share, 1.0)
            scores.append(data[start:end] * weight if np.any(weight != 1.0) else data[start:end])
        if not docs:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if len(docs) == 1:
            return docs[0], scores[0]
        order, ordered, first = _grouped(np.concatenate(docs))
        score = np.concatenate(scores)[order]
        return ordered[first], np.maximum.reduceat(score, np.flatnonzero(first))

    def unknown_within(self, concepts: Sequence[Concept], positions: np.ndarray) -> float:
        """Share of the question's words (two characters or more) that no chunk at `positions`
        uses: what `KeywordHits.unknown` is for the collection, for a scoped question's documents,
        so a question they do not speak of is refused even when other documents would answer it."""
        words = [concept for concept in concepts if len(concept.text) >= 2]
        if not words:
            return 1.0
        known = sum(bool(np.isin(self._postings(concept)[0], positions).any()) for concept in words)
        return 1.0 - known / len(words)

    def word_idf(self, word: str) -> float:
        """An English word's idf, counting the chunks that hold any of its forms ("configure",
        "configuration"); a word the collection never uses gets the highest value."""
        forms = tuple((form, 1.0) for form in self.inflections(word.lower()))
        return self.concept_idf(Concept(word, forms, one_word=True))

    def concept_idf(self, concept: Concept, found: np.ndarray | None = None) -> float:
        """The rarest of the concept's terms; the forms of one word, as rare as the chunks holding
        any of them (`found`: those chunks, when the caller has read the postings already)."""
        if concept.one_word and len(concept.terms) > 1:
            return self._idf_of(len(found if found is not None else self._postings(concept)[0]))
        return max(self.idf(term) for term, _ in concept.terms)


def _grouped(docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stable sort order of concatenated posting lists, the sorted positions, and a mask of
    each distinct position's first entry; the stable sort runs in about linear time on lists
    that are each sorted already."""
    order = np.argsort(docs, kind="stable")
    ordered = docs[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return order, ordered, first


def _union(docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct positions, sorted, and where each entry of `docs` went (like np.unique)."""
    order, ordered, first = _grouped(docs)
    inverse = np.empty(len(docs), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first].astype(np.int64), inverse


@dataclass(frozen=True)
class KeywordHits:
    """A question's keyword side: the chunks (by position) holding at least one of its concepts."""

    concepts: tuple[Concept, ...]
    idfs: tuple[float, ...]  # per concept, the rarest of its terms
    positions: np.ndarray  # sorted
    scores: np.ndarray  # BM25: per concept the best of its alternatives, summed
    coverage: np.ndarray  # idf-weighted share of the question's concepts the chunk holds
    unknown: float  # share of the question's words (two characters or more) the collection never uses

    def top(self, n: int) -> list[int]:
        """Positions of the n best-scoring chunks, best first (ties: earlier chunk first)."""
        if n <= 0 or not len(self.positions):
            return []
        chosen = np.arange(len(self.scores))
        if n < len(chosen):
            chosen = np.argpartition(-self.scores, n - 1)[:n]
        order = chosen[np.lexsort((self.positions[chosen], -self.scores[chosen]))]
        return [int(self.positions[i]) for i in order]

    def within(self, positions: np.ndarray) -> KeywordHits:
        """The hits among the chunks at `positions` only (a scoped question's documents)."""
        keep = np.isin(self.positions, positions)
        return replace(
            self, positions=self.positions[keep], scores=self.scores[keep], coverage=self.coverage[keep]
        )

    def lookup(self, position: int | None) -> tuple[float, float]:
        """(BM25 score, coverage) of the chunk at `position`; zeros when it holds no concept."""
        if position is None or not len(self.positions):
            return 0.0, 0.0
        i = int(np.searchsorted(self.positions, position))
        if i < len(self.positions) and self.positions[i] == position:
            return float(self.scores[i]), float(self.coverage[i])
        return 0.0, 0.0

    @property
    def best(self) -> float:
        return float(self.scores.max()) if len(self.scores) else 0.0

    def share(self, text: str) -> float:
        """idf-weighted share of the question's concepts that occur in `text` (normalized)."""
        total = sum(self.idfs)
        if not total:
            return 0.0
        held = sum(
            idf for concept, idf in zip(self.concepts, self.idfs, strict=True) if concept.occurs_in(text)
        )
        return held / total


def document_of(chunk_id: str) -> str:
    """The document a chunk id names: ids are `doc_id:digest`."""
    return chunk_id.rsplit(":", 1)[0]


def _mostly_latin(words: list[str]) -> bool:
    """Whether a chunk's words are English: nearly all in Latin letters (its title's label may not be)."""
    return bool(words) and sum(not CJK.search(word) for word in words) >= ENGLISH_CHUNK * len(words)
