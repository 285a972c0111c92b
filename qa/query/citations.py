"""Citations: which chunk a `[n]` marker points at, and the check that a sentence rests on it.

Every answer passes one gate (Pipeline._verified): its draft streams through a VerifiedStream,
which cuts it into sentences, drops markers that point outside the retrieved set, checks each
sentence against the chunks it cites and shows only those that hold; the others are reported.
There are two checks, one per kind of draft, and each gives a CheckedSentence:
  - Verifier (here), for drafts in the chunks' own words (the extractive answerer's): the
    claim's key terms and numbers must be in the cited text, with an embedding similarity as
    the second opinion on a small paraphrase.
  - FactVerifier (verify.py, through QuotedStream), for an LLM's draft, which paraphrases and
    translates: each sentence is checked through the `[n: quote]` it cites, the quote must be in
    the chunk and the sentence's facts must agree with it, whatever the wording.
A question is a claim for neither (qa.text.sentences.is_question).
What it does not do: choose sentences (answering.py), read a model's markers (markers.py) or
call a model (llm.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from qa.records import Chunk, Citation, RetrievalResult
from qa.text.language import CJK
from qa.text.markers import marker_numbers, strip_markers
from qa.text.normalize import compact as normalize
from qa.text.sentences import (
    SENTENCE_WITH_MARKERS,
    ends_sentence,
    is_question,
    join_sentences,
    sentences_with_markers,
    split_sentences,
)
from qa.text.terms import key_terms, numbers, word_tags

# The frames an English extractive answer puts around the sentence it quotes (answering.py writes
# them from these): the check is of the quote inside, not of the frame's own English words, which
# in a claim holding Chinese would count as names the source does not hold.
FRAME_FIRST = "The article says:"
FRAME_NEXT = "It also says:"
FRAME_SEVERAL = "The documents say:"
FRAME_TITLED = "“{title}” says:"
_FRAME_OPENS = "(?:{})\\s*“".format(
    "|".join(
        [re.escape(frame) for frame in (FRAME_FIRST, FRAME_NEXT, FRAME_SEVERAL)]
        + [re.escape(FRAME_TITLED).replace(re.escape("{title}"), "[^”\\n]*")]
    )
)
# One framed quote, up to the next frame or the end: a claim may hold several (a list's items
# end in ";", which does not end a sentence).
_FRAMED = re.compile(rf"\s*{_FRAME_OPENS}(?P<quote>.*?)”\s*(?={_FRAME_OPENS}|$)", re.S)


def unframed(claim: str) -> str:
    """The quotes of a claim made of framed quotes ("The article says: “…”"), joined; any other
    claim as it is."""
    quotes, position = [], 0
    while position < len(claim):
        match = _FRAMED.match(claim, position)
        if match is None:
            return claim
        quotes.append(match["quote"])
        position = match.end()
    return " ".join(quotes) if quotes else claim


@dataclass(frozen=True)
class CheckedSentence:
    """One answer sentence after verification; `markers` are the ones that survived."""

    text: str
    markers: tuple[int, ...]
    supported: bool
    reason: str = ""
    overlap: float = 0.0
    similarity: float | None = None
    quotes: tuple[str, ...] = ()  # per marker, the source's words the sentence rests on

    def rendered(self) -> str:
        return self.text + "".join(f" [{n}]" for n in self.markers)


@dataclass(frozen=True)
class Verification:
    kept: tuple[CheckedSentence, ...]
    removed: tuple[CheckedSentence, ...] = field(default=())

    @property
    def text(self) -> str:
        return join_sentences([sentence.rendered() for sentence in self.kept])

    @property
    def cited(self) -> tuple[int, ...]:
        return tuple(sorted({n for sentence in self.kept for n in sentence.markers}))


def lexical_overlap(claim: str, source: str) -> float:
    """Share of the claim's key terms found in the source (1.0 when the claim has none)."""
    terms = key_terms(claim)
    if not terms:
        return 1.0
    haystack = normalize(source)
    return sum(term.replace(" ", "") in haystack for term in terms) / len(terms)


def split_claims(answer: str) -> list[tuple[str, tuple[int, ...]]]:
    """Answer text -> (sentence without markers, markers) pairs; a marker binds to the sentence before it."""
    claims: list[tuple[str, tuple[int, ...]]] = []
    for line in answer.splitlines():
        for piece in sentences_with_markers(line):
            markers = marker_numbers(piece)
            text = strip_markers(piece).strip()
            if text:
                claims.append((text, markers))
            elif markers and claims:
                previous, old = claims[-1]
                claims[-1] = (previous, tuple(dict.fromkeys(old + markers)))
    return claims


Embed = Callable[[list[str]], list[list[float]]]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = (sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5)
    return dot / norm if norm else 0.0


@dataclass(frozen=True)
class Verifier:
    """The check of a sentence in a chunk's own words (see the module docstring for the other);
    `embed` (texts -> vectors) adds the semantic opinion.

    A claim is supported when every key term and number of it is in the cited text. A paraphrase
    may add at most `max_new_words` common words of its own ("以视频方式出席"), and then needs
    `min_overlap` of its terms and an embedding similarity of `min_similarity`: similarity alone
    is no proof (a small model's garbled sentences score 0.87-0.94 with E5), so a new name, place
    or number ("河南") or a garbled word ("住赫素") fails the sentence. A question is never a
    claim. English glossing Chinese that is all in the source ("Kunming Declaration (《昆明宣言》)")
    is its translation; an English-only claim about Chinese text can only be checked semantically.
    """

    embed: Embed | None = None
    min_overlap: float = 0.75
    max_new_words: int = 1
    min_similarity: float = 0.9
    cross_lingual_similarity: float = 0.88
    translation_similarity: float = 0.8

    def supports(self, claim: str, source: str) -> tuple[bool, str, float, float | None]:
        claim = unframed(claim)
        missing_numbers = numbers(claim) - numbers(source)
        overlap = lexical_overlap(claim, source)
        if missing_numbers:
            return False, f"number {sorted(missing_numbers)[0]} is not in the cited text", overlap, None
        if is_question(claim):
            return False, "a question, not an answer", overlap, None
        terms = key_terms(claim)
        haystack = normalize(source)
        new_words = [term for term in terms if term.replace(" ", "") not in haystack]
        if terms and not new_words:
            return True, "", overlap, None
        chinese_new = [word for word in new_words if CJK.search(word)]
        if not CJK.search(claim):  # English about Chinese text: only the meaning can be compared
            needed = self.cross_lingual_similarity
        elif not chinese_new and _glossed(claim):
            needed = self.translation_similarity  # "The Kunming Declaration (《昆明宣言》)"
        elif (
            len(new_words) <= self.max_new_words
            and overlap >= self.min_overlap
            and all(_ordinary_word(word) for word in new_words)
        ):
            needed = self.min_similarity
        else:
            return False, f"the cited text does not say “{new_words[0]}”", overlap, None
        similarity = self._similarity(claim, source)
        if similarity is None and needed == self.translation_similarity:
            return True, "", overlap, None  # its Chinese is all in the source; nothing to compare with
        if similarity is not None and similarity >= needed:
            return True, "", overlap, similarity
        return False, "the cited text does not say this", overlap, similarity

    def _similarity(self, claim: str, source: str) -> float | None:
        if self.embed is None:
            return None
        best = 0.0
        sentences = [source, *split_sentences(source)]
        vectors = self.embed([claim, *sentences])
        for vector in vectors[1:]:
            best = max(best, _cosine(vectors[0], vector))
        return best

    def check(self, claim: str, markers: Sequence[int], chunks: dict[int, Chunk]) -> CheckedSentence:
        """Keep the markers whose chunk supports the claim; uncited claims may borrow any chunk's support."""
        valid = [n for n in markers if n in chunks]
        candidates = valid or list(chunks)
        kept: list[int] = []
        reason, overlap, similarity = "no citation", 0.0, None
        for n in candidates:
            ok, why, lap, sim = self.supports(claim, evidence(chunks[n]))
            overlap, similarity = max(overlap, lap), sim if sim is not None else similarity
            if ok:
                kept.append(n)
                if not valid:
                    break
            else:
                reason = why
        if not valid and markers:
            reason = f"cites [{', '.join(map(str, markers))}], which is not among the retrieved paragraphs"
        return CheckedSentence(claim, tuple(kept), bool(kept), "" if kept else reason, overlap, similarity)

    def verify(self, answer: str, chunks: dict[int, Chunk]) -> Verification:
        kept: list[CheckedSentence] = []
        removed: list[CheckedSentence] = []
        for claim, markers in split_claims(answer):
            checked = self.check(claim, markers, chunks)
            (kept if checked.supported else removed).append(checked)
        return Verification(tuple(kept), tuple(removed))


def evidence(chunk: Chunk) -> str:
    """What a claim citing the chunk is checked against (`Chunk.evidence`)."""
    return chunk.evidence


# English glossing Chinese in brackets, "Kunming Declaration (《昆明宣言》)" or "周国梅 (Zhou Guomei)".
_GLOSS = re.compile(
    r"[A-Za-z][A-Za-z0-9 ,'\-]*\s*[（(][^（）()]*[\u4e00-\u9fff][^（）()]*[）)]"
    r"|[\u4e00-\u9fff》”]\s*[（(]\s*[A-Za-z][A-Za-z0-9 ,'\-]*[）)]"
)


def _glossed(claim: str) -> bool:
    """Whether every English word of a Chinese-quoting claim glosses the Chinese beside it."""
    return bool(_GLOSS.search(claim)) and not re.search(r"[A-Za-z]{2,}", _GLOSS.sub(" ", claim))


_PROPER_TAGS = ("nr", "ns", "nt", "nz", "m", "eng")


def _ordinary_word(term: str) -> bool:
    """A real, common Chinese word (jieba's dictionary), not a name, place, number or a garbled
    run of characters: the only kind of word a paraphrase may add to what its source says."""
    tag = word_tags().get(term)
    return bool(CJK.search(term)) and tag is not None and not tag.startswith(_PROPER_TAGS)


def best_quote(claim: str, chunk: Chunk) -> str:
    """The sentence(s) of the chunk that most support the claim: the citation's `quote`."""
    sentences = split_sentences(chunk.text) or [chunk.text]
    scored = [
        (lexical_overlap(claim, sentence) + 0.01 * (numbers(claim) <= numbers(sentence)), sentence)
        for sentence in sentences
    ]
    return max(scored, key=lambda pair: pair[0])[1].strip()


class VerifiedStream:
    """Checks a streamed answer sentence by sentence, whichever answerer wrote it: a sentence is
    let through once it is complete (the text after it has begun, so its closing quote and
    markers are in) and its cited paragraph supports it; a removed one never reaches the screen.

    A sentence that keeps all its markers is shown as written; one that lost some, or borrowed a
    citation it lacked, is shown with the markers that held. At the end of a draft that may be
    cut off (an LLM at its token limit) an unfinished sentence is no claim, and a sentence already
    shown is not shown twice (small models loop)."""

    shows_as_written = True  # a sentence that kept its markers is shown exactly as drafted

    def __init__(self, verifier: Verifier, chunks: dict[int, Chunk]) -> None:
        self.verifier = verifier
        self.chunks = chunks
        self.kept: list[CheckedSentence] = []
        self.removed: list[CheckedSentence] = []
        self.shown = ""
        self.raw = ""
        self._buffer = ""
        # A draft's line breaks (an outline, a list) are kept: once the stream has passed one,
        # the next sentence shown starts a new line, even if the first of its line was removed.
        self._newline_due = False

    def feed(self, text: str) -> Iterator[str]:
        """The newly verified text (to append to what was shown) after `text` arrives."""
        self.raw += text
        self._buffer += text
        *lines, rest = self._buffer.split("\n")
        ongoing = list(SENTENCE_WITH_MARKERS.finditer(rest))
        ongoing = [match for match in ongoing if match.group(0).strip()]
        # the last piece may still grow; a piece of bare markers may still bind to the one before
        waiting = 2 if ongoing and ongoing[-1].group(0).lstrip().startswith("[") else 1
        done, waiting_from = ongoing[:-waiting], ongoing[-waiting:] if ongoing else []
        self._buffer = rest[waiting_from[0].start() :] if waiting_from else rest
        # the complete lines, then the finished sentences of the line still arriving
        segments = [sentences_with_markers(line) for line in lines] + [[m.group(0) for m in done]]
        for i, pieces in enumerate(segments):
            self._newline_due |= i > 0
            for piece in pieces:
                yield from self._check(piece, final=False)

    def finish(self, may_be_cut: bool = False) -> Iterator[str]:
        """Whatever is left once the draft has ended."""
        rest, self._buffer = self._buffer, ""
        for i, line in enumerate(rest.split("\n")):
            self._newline_due |= i > 0
            for piece in sentences_with_markers(line):
                yield from self._check(piece, final=may_be_cut)

    def _check(self, piece: str, final: bool) -> Iterator[str]:
        claims = self._claims(piece)
        for claim, markers in claims:
            if final and not ends_sentence(claim):
                self.removed.append(CheckedSentence(claim, (), False, "unfinished sentence"))
                continue
            if any(normalize(claim) == normalize(sentence.text) for sentence in self.kept):
                self.removed.append(CheckedSentence(claim, (), False, "repeats a sentence already shown"))
                continue
            checked = self._verify(claim, markers)
            if not checked.supported:
                self.removed.append(checked)
                continue
            self.kept.append(checked)
            as_written = self.shows_as_written and checked.markers == markers and len(claims) == 1
            text = piece.strip() if as_written else checked.rendered()
            if self.shown and self._newline_due:
                joined = f"{self.shown}\n{text}"
            else:
                joined = join_sentences([self.shown, text]) if self.shown else text
            self._newline_due = False
            new, self.shown = joined[len(self.shown) :], joined
            yield new

    def _claims(self, piece: str) -> list[tuple[str, tuple]]:
        """The piece's sentences without markers, each with what its markers say."""
        return split_claims(piece)

    def _verify(self, claim: str, markers: tuple) -> CheckedSentence:
        return self.verifier.check(claim, markers, self.chunks)

    @property
    def cited(self) -> dict[int, list[str]]:
        """Per marker, the kept sentences that cite it."""
        by_marker: dict[int, list[str]] = {}
        for sentence in self.kept:
            for n in sentence.markers:
                by_marker.setdefault(n, []).append(sentence.text)
        return by_marker


def citations_for_markers(
    cited: dict[int, list[str]], results: Sequence[RetrievalResult], quotes: dict[int, str]
) -> tuple[Citation, ...]:
    """A citation per marker that verified sentences kept: the quote the answerer gave for it, or
    else the chunk's sentences that best match the sentences citing it."""
    citations = []
    for n in sorted(cited):
        chunk = results[n - 1].chunk
        quote = quotes.get(n) or "".join(dict.fromkeys(best_quote(claim, chunk) for claim in cited[n]))
        citations.append(Citation(n, chunk, quote))
    return tuple(citations)
