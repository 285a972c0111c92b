"""Answerers: turn a question and its retrieved chunks into an answer with `[n]` citations.

- `ExtractiveAnswerer` (the default, no LLM): scores the sentences of the retrieved chunks by
  the question's key terms, numbers and entities, how close together they stand (and embedding
  similarity when words cannot match, as for English questions), answers from one paragraph
  when it suffices, prefers the sentence that enumerates for a list question and gathers the
  items of an enumeration ("一是…二是…"), brings along the sentence a "这是…" points back to,
  and quotes every sentence behind its marker.
- `refusal`: the article does not say, in the question's language, with related paragraphs.
- `condense_extractive`: a follow-up question takes the previous question's subject along
  (a parallel term swapped in, "it" replaced by the subject, or the subject's words appended).

Markers are retrieval ranks: `[n]` is the n-th retrieved chunk, in every mode.
The LLM answerer lives in llm.py; the pipeline passes every answer through citations.Verifier,
whichever answerer drafted it (the answerer itself verifies nothing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from qa.query.answerer import Draft
from qa.query.citations import FRAME_FIRST, FRAME_NEXT, FRAME_SEVERAL, FRAME_TITLED
from qa.records import Answer, Chunk, Citation, RetrievalResult
from qa.text.facts import answers_kind, asked_facts, asks_explanation, names_new
from qa.text.language import CJK, language_of
from qa.text.markers import strip_markers
from qa.text.normalize import compact as normalize
from qa.text.normalize import normalize as spaced_form
from qa.text.numerals import DIGITS as NUMERALS
from qa.text.numerals import chinese_numeral as _numeral
from qa.text.sentences import (
    CLAUSE_END,
    CLOSERS,
    chunk_sentences,
    clauses,
    is_question,
    join_sentences,
    question_parts,
    split_sentences,
)
from qa.text.terms import (
    english_glosses,
    english_map,
    english_stem,
    english_words,
    key_terms,
    numbers,
    quiet_jieba,
    refers_back,
    stemmable,
    stemmed_words,
    tokenize,
    written_forms,
)

MAX_SENTENCES = 4
# A sentence holding the asked kind of fact (a number, a place) may stand in for the best-worded
# one that lacks it when it scores at least this share of the best.
KIND_FALLBACK = 0.8
# Retrieval ranks the right chunk first most of the time; its order breaks near-ties in wording.
RANK_PRIOR = 0.35
# A line of code answers a question for an explanation only when no prose comes near (facts.
# asks_explanation): it matches the commands the question names, word for word.
CODE_EXPLAINS = 0.5
# --- refusal ---------------------------------------------------------------------------------

# What a collection is called: one signed document is "the article" (an article carries its
# author's byline); one without is "the document" (a manual, a spec, a PDF chapter); more than
# one are "the documents".
REFUSAL = {
    ("zh", "article"): "文章没有提到这一点，我无法根据文章回答。",
    ("en", "article"): "The article does not say, so I cannot answer this from it.",
    ("zh", "document"): "文档中没有提到这一点，我无法根据文档回答。",
    ("en", "document"): "The document does not say, so I cannot answer this from it.",
    ("zh", "documents"): "文档中没有提到这一点，我无法根据这些文档回答。",
    ("en", "documents"): "The documents do not say, so I cannot answer this from them.",
}
# When the question names something the collection never mentions, the refusal says what.
REFUSAL_MISSING = {
    ("zh", "article"): "文章没有提到“{name}”，我无法根据文章回答。",
    ("en", "article"): "The article does not mention “{name}”, so I cannot answer this from it.",
    ("zh", "document"): "文档中没有提到“{name}”，我无法根据文档回答。",
    ("en", "document"): "The document does not mention “{name}”, so I cannot answer this from it.",
    ("zh", "documents"): "文档中没有提到“{name}”，我无法根据这些文档回答。",
    ("en", "documents"): "The documents do not mention “{name}”, so I cannot answer this from them.",
}
_SAYS_NOT_ANSWERED = re.compile(
    r"^\s*(文章没有提到|文档中?没有提到|the (article|documents?) do(es)? not (say|mention))", re.IGNORECASE
)


def says_not_answered(text: str) -> bool:
    """Whether a drafted answer opens by saying the documents do not answer (an LLM refusing)."""
    return bool(_SAYS_NOT_ANSWERED.match(text))


RELATED = {"zh": "相关的段落：{items}。", "en": "Related paragraphs: {items}."}


def _paragraph_label(result: RetrievalResult, language: str, titled: bool) -> str:
    """'《title》· section · 第3段' (or 'title · section · ¶3'); the title when documents differ."""
    chunk = result.chunk
    numbers_ = ("、" if language == "zh" else ", ").join(str(n) for n in chunk.paragraphs)
    title = chunk.title if titled else ""
    section = chunk.subsection if titled else chunk.section
    if language == "zh":
        parts = [f"《{title}》" if title else "", section, f"第{numbers_}段"]
    else:
        parts = [title, section, f"¶{numbers_}"]
    return " · ".join(part for part in parts if part)


def refusal(
    question: str,
    results: Sequence[RetrievalResult],
    language: str | None = None,
    related: int = 3,
    collection: str | None = None,
    missing: str | None = None,
) -> Answer:
    """Says the documents do not answer, names the nearest paragraphs by document, section and
    number, and states no fact. `collection`: what the collection is ("article", "document" or
    "documents"; of several documents it names each, even when the nearest are all from one);
    unknown, the nearest paragraphs decide. `missing`: a name the question uses and the collection never does,
    which the refusal then gives as the reason."""
    language = language or language_of(question)
    nearest: list[RetrievalResult] = []
    for result in results:
        if all(result.chunk.paragraphs != seen.chunk.paragraphs for seen in nearest):
            nearest.append(result)
    nearest = nearest[:related]
    collection = collection or _collection_of(results)
    key = (language, collection)
    text = REFUSAL_MISSING[key].format(name=missing) if missing else REFUSAL[key]
    if nearest:
        separator = "；" if language == "zh" else "; "
        titled = collection == "documents"
        items = separator.join(_paragraph_label(result, language, titled) for result in nearest)
        text += (" " if language == "en" else "") + RELATED[language].format(items=items)
    return Answer(
        question=question,
        answer=text,
        refused=True,
        mode="extractive",
        citations=(),
        retrieved=tuple(results),
        related=tuple(nearest),
    )


# --- sentence selection ----------------------------------------------------------------------

_ORDINAL_PART = re.compile(rf"第([{NUMERALS}\d])(?:部分|章|节)")
_ORDINAL_ITEM = re.compile(rf"第([{NUMERALS}\d])(?:项|点|条|个方面|方面)")
COUNT_QUESTION = re.compile(r"(?<!哪)(几个方面|几项|几点|几个部分)|多少项|多少个方面")
# "From which aspects": the answer is every "一是…二是…" item of the section, like a count.
ASPECTS_QUESTION = re.compile(
    r"哪几个方面|哪几方面|哪些方面|哪几个部分|(what|which|how many) (aspects|areas|parts|points)",
    re.IGNORECASE,
)
# "有哪三忌": a count stated with the items' own mark, which heads each item ("一忌…二忌…三忌…").
_COUNTED_ITEMS = re.compile(rf"哪[两{NUMERALS[1:]}]([^\s{NUMERALS}个种项点条大])")  # 哪一年 counts nothing
_LIST_QUESTION = re.compile(
    r"哪些|哪几|几大|三大|四大|五大|列举|分别|\bwhich \w+s\b|\bwhat are\b|\blist\b", re.IGNORECASE
)
_TITLE_QUESTION = re.compile(r"标题|题目|讲的是什么|讲了什么|主要讨论|主要内容|讲什么|title|about")
# The document's own title, not a part's heading (a part ordinal in the question wins).
_DOC_TITLE_QUESTION = re.compile(
    r"标题|题目|题名|叫什么名字|(?<!job )\btitle\b|name of (the|this) (article|paper)", re.IGNORECASE
)
_TITLE_ITEM = re.compile(r"《[^》]+》")
PROXIMITY_WEIGHT = 0.5
LIST_WEIGHT = 0.5
RESTATED_LIST = 0.9
EMBED_RESULTS = 2


def _term_weight(term: str) -> float:
    if numbers(term) and term.replace(".", "").isdigit():
        return 3.0
    if term.isascii():
        return 1.5
    return {2: 1.0, 3: 1.5}.get(len(term), 2.0)


def _by_rarity(weights: dict[str, float], rarity: Callable[[str], float] | None) -> dict[str, float]:
    """An English question's words weighed by how rare each is in the collection, relative to the
    question's others: in "Which file do I edit to change the default umask?" the sentence
    holding "umask" answers, not one holding "change", "default", "edit" and "file" about
    something else. (A Chinese word's length already says how specific it is; its idf, tried
    too, cost refusals.)"""
    if rarity is None or not weights:
        return weights
    idfs = {term: rarity(term) for term in weights}
    mean = sum(idfs.values()) / len(idfs)
    return {term: weight * idfs[term] / mean for term, weight in weights.items()} if mean > 0 else weights


def _in_english(chunk: Chunk) -> bool:
    """A chunk of a document written in English: neither its title nor its text holds Chinese."""
    return not CJK.search(chunk.title) and not CJK.search(chunk.text)


ALTERNATIVES = "|"  # joins the English forms that stand for one Chinese term


def _glossed(terms: Sequence[str]) -> dict[str, float]:
    """A Chinese question's terms as the English words an English document would use: each
    Chinese term becomes its CC-CEDICT glosses, as written ("mount|mounts|climb|climbs"), with
    the term's weight, so a sentence holding two of them ("mounts" holds "mount" too) earns the
    term once; Latin terms (names, commands) stay themselves."""
    english: dict[str, float] = {}
    for term in dict.fromkeys(terms):
        if not CJK.search(term):
            english[term] = _term_weight(term)
            continue
        forms = [form for gloss in english_glosses(term) for form in written_forms(gloss)]
        if forms:
            english[ALTERNATIVES.join(dict.fromkeys(forms))] = _term_weight(term)
    return english


# An English question's word found in a Chinese sentence as one of its translations counts as
# a two-character Chinese word does (a name or a number counts more).
TRANSLATED_WEIGHT = 1.0


def _translated(question: str, results: Sequence[RetrievalResult]) -> list[str]:
    """An English question's words as the Chinese words of the retrieved text that CC-CEDICT
    glosses with them, the alternatives of each word joined ("remove" -> "删除|移除"), so a Chinese
    sentence is weighed by what the question asks, not only by the names and numbers they share."""
    vocabulary = {token for result in results for token in tokenize(result.chunk.text) if CJK.search(token)}
    if not vocabulary:
        return []
    mapping = english_map(vocabulary)
    found = (mapping.get(word) for word in dict.fromkeys(english_words(question)))
    return [ALTERNATIVES.join(terms) for terms in found if terms]


def _density(text: str, terms: frozenset[str] | set[str]) -> float:
    """Characters of the terms over the shortest stretch of text holding them all (1.0: adjacent)."""
    events = sorted((m.start(), m.end(), term) for term in terms for m in re.finditer(re.escape(term), text))
    size = sum(len(term) for term in terms)
    best = 0.0
    for i, (start, _, _) in enumerate(events):
        seen: set[str] = set()
        end = start
        for _, stop, term in events[i:]:
            seen.add(term)
            end = max(end, stop)
            if len(seen) == len(terms):
                best = max(best, min(1.0, size / (end - start)))
                break
    return best


SHORT_NAME = 3  # characters: a Latin term this short is found only as a word of its own


@lru_cache(maxsize=4096)
def _as_word(term: str) -> re.Pattern[str] | None:
    """A short Latin term ("at", "ip", "ls") as a word of its own, not part of "data" or "tools"."""
    if term.isascii() and len(term) <= SHORT_NAME and term.isalnum():
        return re.compile(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])")
    return None


def occurs(term: str, text: str, spaced: str) -> bool:
    """Whether a question's term stands in a sentence: `text` normalized without whitespace,
    `spaced` with it (where a word's end is still visible)."""
    word = _as_word(term)
    return bool(word.search(spaced)) if word else term in text


def _list_items(sentence: str) -> int:
    """How many items the sentence enumerates: titles in 《》, or words set off by 、."""
    titles = len(_TITLE_ITEM.findall(sentence))
    enumerated = sentence.count("、") + 1 if "、" in sentence else 0
    return max(titles, enumerated)


def _bigram_share(term: str, haystack: str) -> float:
    grams = [term[i : i + 2] for i in range(len(term) - 1)]
    return sum(g in haystack for g in grams) / len(grams) if grams else 0.0


@dataclass(frozen=True)
class Candidate:
    """Sentence `index` of the n-th retrieved chunk; unscored when quoted only to complete another."""

    n: int
    result: RetrievalResult
    sentence: str
    index: int
    score: float = 0.0
    matched: frozenset[str] = frozenset()


class ExtractiveAnswerer:
    """Quotes the sentences that answer; needs no model beyond the embedder it may be given."""

    mode = "extractive"

    def __init__(
        self,
        embed: Callable[[list[str]], list[list[float]]] | None = None,
        collection: Callable[[], str] | None = None,
        rarity: Callable[[str], float] | None = None,
    ) -> None:
        """`collection`: what the collection is ("article", "document" or "documents"), asked per
        answer (uploads change it); but of one article, an English answer names the document it
        quotes. `rarity`: an English word's idf in the collection, asked per answer too."""
        self.embed = embed
        self.collection = collection
        self.rarity = rarity

    def draft(
        self, question: str, results: Sequence[RetrievalResult], language: str
    ) -> Iterator[str | Draft]:
        """The chosen sentences with their markers in one piece, and the quote of each marker;
        nothing when no sentence answers (the pipeline then refuses)."""
        chosen = self.select(question, results) if results else []
        if not chosen:
            yield Draft()
            return
        yield self.compose(chosen, language, results)
        yield Draft(quotes={citation.n: citation.quote for citation in citations_for(chosen, results)})

    # The steps.

    def select(self, question: str, results: Sequence[RetrievalResult]) -> list[Candidate]:
        """The sentences that answer; a question asking two things ("默认是多少？调大有什么代价？")
        also gets, for each later part, the best sentence it adds, asked with the first part's
        subject.
        A part never turns a refusal into an answer: the whole question must be answered first."""
        chosen = self._select(question, results)
        parts = question_parts(question)
        if not chosen or len(parts) < 2:
            return chosen
        for part in parts[1:]:
            places = {(c.n, c.index) for c in chosen}
            asked = self._select(with_terms(part, parts[0]), results)
            new = [c for c in asked if (c.n, c.index) not in places]
            chosen.extend(new[:1])  # what the part adds to the answer, its best sentence first
        return sorted(chosen, key=lambda c: (c.n, c.index))

    def _select(self, question: str, results: Sequence[RetrievalResult]) -> list[Candidate]:
        part = _ORDINAL_PART.search(question)
        item = _ORDINAL_ITEM.search(question)
        plain = _ORDINAL_ITEM.sub(" ", _ORDINAL_PART.sub(" ", question))
        terms = key_terms(plain)
        english: dict[str, float] = {}
        asked_in_english = language_of(question) == "en"
        translated: list[str] = []
        if asked_in_english:
            # Its words meet an English document's sentences; a Chinese one's by names and numbers,
            # and by the Chinese words of the retrieved text that translate the question's words.
            english = _by_rarity({term: _term_weight(term) for term in terms}, self.rarity)
            terms = [t for t in terms if re.search(r"\d", t)] + [
                w.lower() for w in re.findall(r"\b[A-Z][A-Z0-9]{1,}\b", question)
            ]
            translated = _translated(question, results)
        elif any(_in_english(result.chunk) for result in results):
            english = _glossed(terms)  # a Chinese question meets an English document's sentences
        weights = {term: _term_weight(term) for term in dict.fromkeys(terms)}
        weights.update({term: TRANSLATED_WEIGHT for term in translated if term not in weights})
        total = sum(weights.values())
        candidates = self._candidates(results, weights, total, part, item, question, english)
        if not candidates:
            return []
        candidates.sort(key=lambda c: -c.score)
        best = candidates[0]
        if best.score < 0.25:
            return []
        completion = None
        if is_question(best.sentence):  # an FAQ's question matches best; the sentence after answers
            answer = _sentence_after(best, results, past_questions=True)
            if answer is None:
                return []
            best = answer
            if best.result.chunk.kind != "code" and not _leads_in(best.sentence):
                # an FAQ answers in a paragraph: "The details are in the user manual. In short: …"
                completion = _sentence_after(best, results)
        counted = _COUNTED_ITEMS.search(question)
        if COUNT_QUESTION.search(question) or ASPECTS_QUESTION.search(question) or counted:
            marks = "是" + (counted.group(1) if counted else "")
            enumeration = self._enumeration(best, candidates, marks)  # the items themselves answer
            if enumeration:
                return enumeration
        if not answers_kind(question, best.sentence):
            # the best-worded sentence lacks the fact asked for; a close one that holds it answers,
            # else one of the next sentences of its paragraph that does, with it
            holding = [
                c
                for c in candidates[1:]
                if c.score >= KIND_FALLBACK * best.score and answers_kind(question, c.sentence)
            ]
            if holding:
                best = holding[0]
            else:
                best, completion = _lead_in_with_fact(best, candidates, question)
                if completion is None:
                    return []
        elif completion is None and not asked_facts(question) and not names_new(question, best.sentence):
            completion = _fact_after(best, question, names_new)  # it set up what the next names
        if completion is None:
            completion = _names_next(best, candidates, question)
        if item and re.match(rf"[“\"]?{_numeral(item.group(1))}是", best.sentence):
            return [best]  # the item asked for by its ordinal is the whole answer
        chosen = [best, *([completion] if completion else [])]
        covered = set(best.matched)
        wants_list = bool(_LIST_QUESTION.search(question))
        for candidate in candidates[1:]:
            if len(chosen) >= (MAX_SENTENCES if wants_list else 2):
                break
            if any(candidate.sentence == c.sentence for c in chosen) or is_question(candidate.sentence):
                continue
            new = candidate.matched - covered
            same_paragraph = candidate.result.chunk.paragraphs == best.result.chunk.paragraphs
            gain = sum(weights.get(t, 0) for t in new) / total if total else 0.0
            # the article may give the same list twice: a second enumeration as good as the first
            restated = (
                wants_list
                and not same_paragraph
                and candidate.matched >= best.matched
                and _list_items(candidate.sentence) >= 2
                and candidate.score >= RESTATED_LIST * best.score
            )
            close = candidate.score >= (0.6 if same_paragraph else 0.8) * best.score
            if restated or (gain >= 0.25 and close):
                chosen.append(candidate)
                covered |= candidate.matched
        chosen = self._with_antecedents(chosen, candidates)
        return completed(sorted(chosen, key=lambda c: (c.n, c.index)), results, gather=wants_list)

    def _with_antecedents(self, chosen: list[Candidate], candidates: list[Candidate]) -> list[Candidate]:
        """A chosen sentence that points back takes the sentence before it (`_antecedent`), as
        scored when it was a candidate."""
        by_place = {(c.n, c.index): c for c in candidates}
        out = list(chosen)
        for candidate in chosen:
            previous = _antecedent(candidate)
            if previous is None:
                continue
            place = (previous.n, previous.index)
            previous = by_place.get(place, previous)
            if all((c.n, c.index) != place and c.sentence != previous.sentence for c in out):
                out.append(previous)
        return out

    def _candidates(self, results, weights, total, part, item, question, english) -> list[Candidate]:
        """`weights`: the question's terms for any sentence; `english`: for an English question,
        its words, for the sentences of a document written in English (neither the sentence nor
        the document's title holds Chinese; a Chinese manual's untranslated paragraph keeps the
        names-and-numbers terms its Chinese sentences are scored by), else empty."""
        english_total = sum(english.values())
        seen: set[str] = set()
        out: list[Candidate] = []
        sentences: list[tuple[int, RetrievalResult, int, str, str]] = []
        headings_answer = bool(part or _TITLE_QUESTION.search(question))
        for n, result in enumerate(results, start=1):
            chunk = result.chunk
            context = normalize(chunk.search_text if chunk.kind == "metadata" else chunk.section)
            if chunk.kind == "metadata":  # match the field's label words, not the value's own "作者："
                context = context[: -len(normalize(chunk.text))] or context
            if chunk.kind == "heading" and not headings_answer:
                continue  # a heading names a topic and states nothing about it
            for index, sentence in enumerate(chunk_sentences(chunk)):
                key = normalize(sentence)
                if key in seen or not key:
                    continue
                seen.add(key)
                sentences.append((n, result, index, sentence.strip(), context))
        # A metadata value ("周国梅") means little alone; its label says what it is.
        compared = [r.chunk.search_text if r.chunk.kind == "metadata" else s for _, r, _, s, _ in sentences]
        near = [n <= EMBED_RESULTS for n, *_ in sentences]  # answers come from the top results
        similarity = self._similarities(question, compared, near)
        known = [sim for sim in similarity if sim is not None]
        floor = sorted(known)[len(known) // 2] if known else 0.0
        wants_list = bool(_LIST_QUESTION.search(question))
        doc_title = bool(_DOC_TITLE_QUESTION.search(question)) and not part
        explains = asks_explanation(question)
        # each term's written forms (a glossed Chinese term has several), split once, not per sentence
        forms_of = {term: term.split(ALTERNATIVES) for term in {**weights, **english}}
        for (n, result, index, sentence, context), sim in zip(sentences, similarity, strict=True):
            chunk = result.chunk
            spaced = spaced_form(sentence) if chunk.kind != "metadata" else ""
            text = "".join(spaced.split())
            matched: set[str] = set()  # the words found, as the sentence writes them
            held = 0.0  # the weight of the question's terms found
            lexical = 0.0
            in_english = english and not CJK.search(chunk.title) and not CJK.search(sentence)
            # an English sentence's words by stem, as the keyword index reads them: "configures"
            # finds "configuration"
            inflected = stemmed_words(spaced) if in_english else {}
            own, own_total = (english, english_total) if in_english else (weights, total)
            for term, weight in own.items():
                forms = forms_of[term]
                found = next((form for form in forms if occurs(form, text, spaced)), None)
                if not found and inflected and stemmable(term):
                    found = inflected.get(english_stem(term))
                if found:
                    matched.add(found)
                    held += weight
                    lexical += weight
                elif any(form in context for form in forms):
                    lexical += 0.6 * weight
                elif len(term) >= 3 and not term.isascii():
                    lexical += 0.5 * weight * _bigram_share(term, text)
            score = lexical / own_total if own_total else 0.0
            if len(matched) >= 2 and own_total:  # the question's words close together: "发展是人类社会的…"
                score += PROXIMITY_WEIGHT * held / own_total * _density(text, matched)
            if wants_list:
                items = _list_items(sentence)
                if chunk.structured and _leads_in(sentence):
                    items = max(items, chunk.text.count("\n"))  # the lines it leads in to
                score += LIST_WEIGHT * min(items, 5) / 5 if items >= 2 else 0.0
            if doc_title and chunk.kind == "metadata" and normalize(chunk.text) == normalize(chunk.title):
                score += 1.0
            if sim is not None:
                score += 4 * max(0.0, sim - floor)
            score += RANK_PRIOR * max(0, 4 - n) / 3
            if part and chunk.section.startswith(_numeral(part.group(1)) + "、"):
                score += 0.5
                if chunk.kind == "heading" and _TITLE_QUESTION.search(question) and not item:
                    score += 0.5
            if item and re.match(rf"[“\"]?{_numeral(item.group(1))}是", sentence):
                score += 1.0  # an explicit ordinal ("第五项") is a surer locator than shared words
            if explains and _code_line(chunk, sentence):
                score *= CODE_EXPLAINS
            out.append(Candidate(n, result, sentence, index, score, frozenset(matched)))
        return out

    def _similarities(self, question: str, sentences: list[str], wanted: list[bool]) -> list[float | None]:
        """Embedding similarity, only where words cannot decide (an English question, or a
        Chinese question and English sentences).

        Each sentence embedded costs about as much as the whole retrieval, so only the sentences
        of the top results are compared; the others keep None (no similarity bonus).
        """
        if language_of(question) == "zh":  # a Chinese question's words cannot meet English text
            wanted = [want and not CJK.search(text) for text, want in zip(sentences, wanted, strict=True)]
        if self.embed is None or not any(wanted):
            return [None] * len(sentences)
        from qa.query.citations import _cosine

        picked = [text for text, want in zip(sentences, wanted, strict=True) if want]
        vectors = iter(self.embed([question, *picked]))
        query = next(vectors)
        return [_cosine(query, next(vectors)) if want else None for want in wanted]

    def _enumeration(self, best: Candidate, candidates: list[Candidate], marks: str) -> list[Candidate]:
        """For "几个方面/几项/哪三忌" questions: the opening sentence of each "一是…二是…" item of that
        section (or of items headed by the mark the question counts: "一忌…二忌…")."""
        section = best.result.chunk.section
        items: dict[str, Candidate] = {}
        for candidate in sorted(candidates, key=lambda c: (c.n, c.index)):
            head = re.match(rf"[{NUMERALS}][{marks}]", candidate.sentence.strip())
            if head and candidate.result.chunk.section == section and head.group(0) not in items:
                items[head.group(0)] = candidate
        return sorted(items.values(), key=lambda c: NUMERALS.index(c.sentence[0])) if len(items) >= 2 else []

    def compose(
        self, chosen: Sequence[Candidate], language: str, results: Sequence[RetrievalResult] = ()
    ) -> str:
        lines = []
        collection = self.collection() if self.collection is not None else _collection_of(results)
        for i, candidate in enumerate(chosen):
            if language == "zh":
                lines.append(f"{candidate.sentence} [{candidate.n}]")
            else:
                # one quotation: its lines (an option's signature and what it does) run on
                quoted = " ".join(line.strip() for line in candidate.sentence.splitlines() if line.strip())
                lines.append(f"{_frame(candidate, i, collection)} “{quoted}” [{candidate.n}]")
        if language != "zh":
            return " ".join(lines)
        # an item of a list starts its own line, as in the document
        text = ""
        for i, line in enumerate(lines):
            broken = i and _line_break_between(chosen[i - 1], chosen[i])
            if broken:
                text = f"{text}\n{line.strip()}"
            else:
                text = join_sentences([text, line]) if text else line.strip()
        return text


# A sentence that announces what follows (ends in "：" or ";", as a lead-in to its items does)
# is not complete without it: the items, or the command a definition introduces.
_LEAD_IN = ("：", ":", "；", ";")
MAX_CONTINUATION = 16  # sentences (a list's items are one each)
MAX_CONTINUATION_CHARS = 600


def completed(
    chosen: Sequence[Candidate], results: Sequence[RetrievalResult], gather: bool = False
) -> list[Candidate]:
    """Each chosen sentence that leads in to more, followed by what completes it: the rest of its
    list within the chunk (items ending in ；/; up to the one that ends the sentence, or every line
    of a list, table or code chunk), or, when it is the chunk's last sentence, the start of the
    next paragraph of the same document if that was retrieved too. `gather` (a list question):
    any sentence of a list chunk's lead-in takes the list along, as the lead-in itself would."""
    out: list[Candidate] = []
    taken: set[tuple[int, int]] = set()
    for candidate in chosen:
        if (candidate.n, candidate.index) in taken:
            continue  # already quoted, in its place, as part of a list before it
        taken.add((candidate.n, candidate.index))
        out.append(candidate)
        leads_in = _leads_in(candidate.sentence) and not _statement(candidate)
        if not (leads_in or (gather and _in_lead_in(candidate))):
            continue
        for more in _continuation(candidate, results):
            if (more.n, more.index) not in taken:
                taken.add((more.n, more.index))
                out.append(more)
    return out


def _statement(candidate: Candidate) -> bool:
    """Whether the sentence is a line of code ending in ; (not its code chunk's lead-in): a
    statement, which leads in to nothing ("default-lease-time 600;"); a key ending in : ("exclude:")
    still leads in to the values under it."""
    chunk = candidate.result.chunk
    line = candidate.sentence.strip()
    return chunk.kind == "code" and line.endswith((";", "；")) and line not in chunk.text.split("\n", 1)[0]


def _in_lead_in(candidate: Candidate) -> bool:
    """Whether the sentence belongs to the first line of a list chunk whose first line leads in."""
    chunk = candidate.result.chunk
    first = chunk.text.split("\n", 1)[0]
    return chunk.structured and _leads_in(first) and candidate.index < len(split_sentences(first))


def _leads_in(sentence: str) -> bool:
    return sentence.rstrip().rstrip(CLOSERS).endswith(_LEAD_IN)


def _continuation(candidate: Candidate, results: Sequence[RetrievalResult]) -> list[Candidate]:
    chunk = candidate.result.chunk
    sentences = chunk_sentences(chunk)
    following = [
        (candidate.n, candidate.result, i, sentences[i]) for i in range(candidate.index + 1, len(sentences))
    ]
    if not following and (after := _next_chunk(chunk, results)) is not None:
        n, result = after
        following = [(n, result, i, part) for i, part in enumerate(chunk_sentences(result.chunk))]
    out: list[Candidate] = []
    size = 0
    for n, result, index, sentence in following[:MAX_CONTINUATION]:
        sentence = sentence.strip()
        size += len(sentence)
        if out and size > MAX_CONTINUATION_CHARS:
            break
        out.append(Candidate(n, result, sentence, index))
        if not _leads_in(sentence) and not (result.chunk.structured and n == candidate.n):
            break  # the sentence that closes the list (a list chunk's lines all belong to it)
    return out


FACT_AFTER = 2  # sentences
# The sentence after the best naming what to use completes it when it scores at least this share of
# the best (fitted on the tuning parts: lower, it adds a neighbouring sentence's aside).
NAMES_NEXT = 0.55


def _code_line(chunk: Chunk, sentence: str) -> bool:
    """Whether a piece of a chunk holds a line of code, not only the lead-in above it (the
    paragraph whose number the code's lines do not share)."""
    if chunk.kind != "code":
        return False
    lines = chunk.lines()
    lead = [text for number, text in lines if number == lines[0][0]] if lines[0][0] != lines[-1][0] else []
    pieces = [line.strip() for line in sentence.split("\n") if line.strip()]
    return any(not any(piece in text for text in lead) for piece in pieces)


def _sentence_after(
    candidate: Candidate, results: Sequence[RetrievalResult], past_questions: bool = False
) -> Candidate | None:
    """The sentence after `candidate`, scored as it was: in its chunk, or where that holds no more
    (or only the code a question leads in to: "Why doesn't Memcheck find the array overruns in
    this program?" and the program) the one opening the next paragraph, if that was retrieved. An
    FAQ's question is answered by the next sentence that is no question (`past_questions`); an
    answer goes on up to the next question. None when nothing follows."""
    n, result, start = candidate.n, candidate.result, candidate.index + 1
    if result.chunk.kind == "code" or start >= len(chunk_sentences(result.chunk)):
        following = _next_chunk(result.chunk, results)
        if following is None:
            return None
        (n, result), start = following, 0
    sentences = chunk_sentences(result.chunk)
    for index in range(start, len(sentences)):
        if not is_question(sentences[index]):
            return replace(candidate, n=n, result=result, sentence=sentences[index].strip(), index=index)
        if not past_questions:
            return None
    return None


def _next_chunk(chunk: Chunk, results: Sequence[RetrievalResult]) -> tuple[int, RetrievalResult] | None:
    """The retrieved chunk (its marker and result) that opens with the paragraph after `chunk`."""
    last = max(chunk.paragraphs, default=0)
    for n, result in enumerate(results, start=1):
        if result.chunk.doc_id == chunk.doc_id and result.chunk.paragraphs[:1] == (last + 1,):
            return n, result
    return None


def _fact_after(best: Candidate, question: str, holds: Callable[[str, str], bool]) -> Candidate | None:
    """The first of the next FACT_AFTER sentences of the best one's chunk that `holds` (question,
    sentence) what the best one lacks: the kind of fact asked for, or any name: a manual says what
    a command does, then names it ("…清除不再需要的软件包。apt-get autoremove 会清除该软件包。")."""
    sentences = chunk_sentences(best.result.chunk)
    for index in range(best.index + 1, min(len(sentences), best.index + 1 + FACT_AFTER)):
        if holds(question, sentences[index]):
            return Candidate(best.n, best.result, sentences[index].strip(), index)
    return None


def _antecedent(candidate: Candidate) -> Candidate | None:
    """The sentence before one that points back ("这是…", "使用此命令…", "this behavior"), which
    names what it points at; None when the sentence points at nothing or opens its chunk, or when
    it spans lines: its first line names what it points at ("--ignore-fn=<name>" before "…specified
    by this option…"), not the list's lead-in before it."""
    if candidate.index == 0 or "\n" in candidate.sentence.strip() or not refers_back(candidate.sentence):
        return None
    before = chunk_sentences(candidate.result.chunk)[candidate.index - 1]
    return Candidate(candidate.n, candidate.result, before.strip(), candidate.index - 1)


def _antecedent_with_fact(best: Candidate, question: str) -> Candidate | None:
    """The sentence the best one points back at, when it holds the fact asked for: the two state
    one thing."""
    before = _antecedent(best)
    return before if before is not None and answers_kind(question, before.sentence) else None


def _names_next(best: Candidate, candidates: Sequence[Candidate], question: str) -> Candidate | None:
    """The sentence right after the best one in its chunk, when it names something the question
    does not (a command, a file, an option) and scores near it: a manual states the situation the
    question describes, then what to use ("apt-get 不能用 full-upgrade 命令。反而，您应使用 apt-get
    dist-upgrade"; "…use the nftables kernel API, by default. If one requires the classic
    commands, … update-alternatives")."""
    place = (best.n, best.index + 1)
    following = next((c for c in candidates if (c.n, c.index) == place), None)
    if following is None or is_question(following.sentence) or following.score < NAMES_NEXT * best.score:
        return None
    return following if names_new(question, following.sentence) else None


def _lead_in_with_fact(
    best: Candidate, candidates: Sequence[Candidate], question: str
) -> tuple[Candidate, Candidate | None]:
    """The best sentence and the next one of its chunk holding the fact asked for, or the one
    before when the best points back at it ("…point your web browser to https://www.intern:631.
    This is the normal CUPS management interface…"); else, in a list, table or code chunk, a key
    the question names (a line ending in a colon: "Runall:") with the line under it when that
    holds the fact ("root 22:00")."""
    completion = _fact_after(best, question, answers_kind) or _antecedent_with_fact(best, question)
    if completion is not None or not best.result.chunk.structured:
        return best, completion
    terms = [normalize(term) for term in key_terms(question)]
    pieces = chunk_sentences(best.result.chunk)
    for index, (key, value) in enumerate(zip(pieces, pieces[1:], strict=False)):
        named = any(term in normalize(key.rsplit("\n", 1)[-1]) for term in terms)
        if key.rstrip().endswith((":", "：")) and named and answers_kind(question, value):
            return (
                Candidate(best.n, best.result, key.strip(), index),
                Candidate(best.n, best.result, value.strip(), index + 1),
            )
    return best, None


def _line_break_between(before: Candidate, after: Candidate) -> bool:
    """Whether a line break separates two quoted sentences of one list, table or code chunk."""
    chunk = before.result.chunk
    if not chunk.structured or after.result.chunk.chunk_id != chunk.chunk_id:
        return False
    end = chunk.text.find(before.sentence)
    start = chunk.text.find(after.sentence, end + len(before.sentence)) if end >= 0 else -1
    return start >= 0 and "\n" in chunk.text[end + len(before.sentence) : start]


def _collection_of(results: Sequence[RetrievalResult]) -> str:
    """What to call a collection nothing else describes: by the documents of its nearest results."""
    return "documents" if len({result.chunk.doc_id for result in results}) > 1 else "article"


def _frame(candidate: Candidate, i: int, collection: str) -> str:
    """'The article says:' for one article; else the document by its title."""
    if collection == "article":
        return FRAME_FIRST if i == 0 else FRAME_NEXT
    title = candidate.result.chunk.title
    return FRAME_TITLED.format(title=title) if title else FRAME_SEVERAL


def citations_for(chosen: Sequence[Candidate], results: Sequence[RetrievalResult]) -> tuple[Citation, ...]:
    quotes: dict[int, list[str]] = {}
    for candidate in chosen:
        quotes.setdefault(candidate.n, []).append(candidate.sentence)
    return tuple(Citation(n, results[n - 1].chunk, "".join(quotes[n])) for n in sorted(quotes))


# --- prompt injection ---------------------------------------------------------------------------

# An injection is a clause that addresses the assistant, not the documents: it dismisses the
# assistant's instructions or sources (a dismissing verb and what it dismisses, in one clause),
# opens by giving the assistant a role, or poses as the system channel. A dismissing verb alone
# ("dpkg 忽略覆盖错误", "can I disregard this warning?") is an ordinary question.
_DISMISS = re.compile(r"忽略|无视|不要理会|别管|抛开|忘记|忘掉|\b(ignore|disregard|forget)\b", re.IGNORECASE)
_DISMISSED = re.compile(
    r"指令|指示|规则|提示|限制|设定|文章|手册|文档|资料"
    r"|\b(instructions?|rules|prompts?|guidelines|restrictions|context|article|manual|documents?)\b",
    re.IGNORECASE,
)
_ROLE = re.compile(
    r"^(请|你|please |now )*(扮演|假装|你现在是|从现在起|\bact as\b|\bpretend|role-?play|you are now)"
    r"|\byou are an? [^,.]* now\b",
    re.IGNORECASE,
)
_CHANNEL = re.compile(
    r"系统提示|提示词|系统消息|开发者模式|越狱|不受任何限制|当作(文章|手册|文档)|你自己的观点"
    r"|system (prompt|message|override)|developer mode|hidden instructions|(respond|reply) only with"
    r"|</?\s*(context|system)\s*>|^\s*system\s*:|\bDAN\b|jailbreak|write (me )?an? (poem|story|song|essay)",
    re.IGNORECASE,
)
# "直接告诉我…" / "just tell me…": the imperative around the question, once the instruction is gone.
_FILLER = re.compile(
    r"^(然后|那么|那|then|and|so)?\s*[，,]?\s*(请|麻烦)?(你)?(直接|马上|只)?(告诉我|说出|回答)\s*[：:，,]?"
    r"|^(then |and |so )?(just |now )?tell me:?\s*|^(然后|那么|那|then|and|so)\s*[，,]?\s*",
    re.IGNORECASE,
)


def injected(clause: str) -> bool:
    """Whether the clause instructs the assistant rather than asks about the documents."""
    return bool(
        (_DISMISS.search(clause) and _DISMISSED.search(clause))
        or _ROLE.search(clause.strip())
        or _CHANNEL.search(clause)
    )


def strip_injection(question: str) -> tuple[str, bool]:
    """Set aside the clauses that instruct the assistant; what remains is the question, if any.

    Returns (the question to answer, whether an injection was flagged). Only flagged clauses go,
    never single words, so an ordinary question that says 忽略 or "disregard" is kept whole. Once
    an instruction is found, long quoted passages go too: text the user asks us to treat as the
    documents is not them.
    """
    pieces = clauses(question)
    if not any(injected(piece) for piece in pieces):
        return question, False
    text = re.sub(r"“[^”]{10,}”|\"[^\"]{10,}\"", " ", question)
    kept = [piece for piece in clauses(text) if not injected(piece)]
    clean = "".join(kept).strip(" ，,。.：:")
    clean = _FILLER.sub("", clean).strip()
    return clean, True


# --- follow-ups ------------------------------------------------------------------------------

_FOLLOW_UP = re.compile(
    r"^(那|那么|还有|另外|and\b|what about|how about|then\b)|(呢[？?]?$)"
    r"|它|他们|她|这些|这位|这个|其中|该|此|\b(it|its|they|them|he|she|his|her|this|that|those)\b"
    # a relation to what was just asked: "at 对应的是哪两个文件？" after a question on cron's
    r"|对应|相应|同样的|\b(corresponding|likewise|similarly|the same)\b",
    re.IGNORECASE,
)


def is_follow_up(question: str, history: Sequence[dict]) -> bool:
    return bool(last_user_question(history)) and bool(_FOLLOW_UP.search(question.strip()))


def last_user_question(history: Sequence[dict]) -> str:
    for turn in reversed(history or ()):
        if turn.get("role") == "user" and str(turn.get("content", "")).strip():
            return str(turn["content"]).strip()
    return ""


def last_answer(history: Sequence[dict]) -> str:
    for turn in reversed(history or ()):
        if turn.get("role") == "assistant" and str(turn.get("content", "")).strip():
            return str(turn["content"]).strip()
    return ""


_POINTER = re.compile(r"它|他|她|这位|该|提到的那|\b(it|its|they|them|he|she|his|her)\b", re.IGNORECASE)
_NAME_TAGS = ("nr", "ns", "nt", "nz", "eng")


def _answer_subject(answer: str, previous: str) -> str:
    """The first name the previous answer gives that its question did not: a command, a
    program, a person ("有，ldapvi。" -> ldapvi), which a following "它" most likely means."""
    import jieba.posseg

    quiet_jieba()
    asked = normalize(previous)
    for pair in jieba.posseg.cut(normalize(strip_markers(answer))):
        word = pair.word.strip()
        if len(word) >= 2 and word not in asked and pair.flag.startswith(_NAME_TAGS):
            return word
    return ""


def condense_extractive(question: str, history: Sequence[dict]) -> str:
    """Carry the previous turn's subject into a follow-up, without a model.

    "那第二阶段呢？" after "COP15第一阶段会议通过了什么？" becomes "COP15第二阶段会议通过了什么？"
    (the parallel term is swapped in); other follow-ups get the previous question's key terms
    appended that they lack, so retrieval and sentence choice see the subject; a follow-up that
    points back ("它的配置文件在哪？") takes first the name the previous answer gave.
    """
    question = question.strip()
    if not is_follow_up(question, history):
        return question
    previous = last_user_question(history)
    core = re.sub(r"^(那么|那|还有|另外)|呢?[？?]$", "", question).strip(" ，,")
    swapped = (
        _swap_parallel(core, previous) if question.rstrip("？?").endswith("呢") or len(core) <= 6 else ""
    )
    if swapped:
        return swapped
    resolved = _resolve_pronoun(question, previous)
    if resolved:
        return resolved
    own = normalize(question)
    carried = lacking_terms(question, previous)
    if _POINTER.search(question):  # "它/this one" may be what the previous answer named
        subject = _answer_subject(last_answer(history), previous)
        if subject and subject not in own:
            carried = [subject, *(term for term in carried if term != subject)]
    return with_terms(question, previous, carried)


def lacking_terms(question: str, previous: str) -> list[str]:
    """The key terms of an earlier question this one does not hold; one-character words are too
    often a split name (马克龙 -> 马克 + 龙) to carry alone."""
    own = normalize(question)
    return [term for term in key_terms(previous) if term not in own and len(term) > 1]


def with_terms(question: str, previous: str, carried: Sequence[str] | None = None) -> str:
    """The question with the terms it lacks of an earlier question (by default all of its key
    terms the question does not hold) set after it in brackets, so retrieval and sentence choice
    see the subject: "设成 low 的话要匹配几层？（memcheck，leak，resolution）"."""
    carried = lacking_terms(question, previous) if carried is None else carried
    if not carried:
        return question
    separator = " " if language_of(question) == "en" else ""
    joined = "，".join(carried) if language_of(previous) == "zh" else " ".join(carried)
    return f"{question}{separator}（{joined}）"


_EN_PRONOUN = re.compile(r"\b(it|its|they|them|their)\b", re.IGNORECASE)
# "What is the title of this article?": a question about an attribute of a named subject.
_EN_SUBJECT = re.compile(
    r"^(?:what|who|which)(?:'s|\s+is|\s+was|\s+are|\s+were)\s+the\s+[\w\- ]+?\s+of\s+"
    r"((?:(?:the|this|that)\s+)?[\w\- ]*[\w\-])\s*[?.!]*$",
    re.IGNORECASE,
)


def _resolve_pronoun(question: str, previous: str) -> str:
    """English: after "What is the X of <subject>?", "it" is the subject ("and who wrote it?" ->
    "Who wrote this article?"); other shapes are left to the other rules."""
    if language_of(question) != "en" or language_of(previous) != "en":
        return ""
    subject = _EN_SUBJECT.search(previous.strip())
    pronoun = _EN_PRONOUN.search(question)
    if not subject or not pronoun:
        return ""
    phrase = subject.group(1).strip()
    if pronoun.group(1).lower() in ("its", "their"):
        phrase += "'s"
    resolved = question[: pronoun.start()] + phrase + question[pronoun.end() :]
    resolved = re.sub(r"^(and|so|then|but)\s+", "", resolved.strip(), flags=re.IGNORECASE)
    return resolved[:1].upper() + resolved[1:]


_LATIN = re.compile(r"[A-Za-z0-9_.-]{2}")  # two characters of one Latin word or number


def _swap_parallel(core: str, previous: str) -> str:
    """Put `core` in place of the term of `previous` it parallels (shares a 2+ character suffix)."""
    if not core or not CJK.search(core):
        return ""
    best = ""
    for size in range(len(core), 1, -1):
        suffix = core[-size:]
        if suffix in previous and suffix != core:
            best = suffix
            break
    if not best:
        return ""
    head = core[: -len(best)]
    position = previous.find(best)
    # extend the replaced span left over as many characters as `core` has in front of the suffix,
    # within its clause and never into half a Latin name ("dirvish 配置中，普通的每日备份" with
    # "每个月第一个星期日做的备份" keeps "dirvish 配置中，")
    clause = max(previous.rfind(mark, 0, position) for mark in CLAUSE_END + "、") + 1  # 、 parts items too
    start = max(position - len(head), clause)
    while 0 < start < position and _LATIN.match(previous[start - 1 : start + 1]):
        start += 1
    replaced = previous[:start] + core + previous[position + len(best) :]
    return replaced if replaced != previous else ""
