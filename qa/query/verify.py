"""The check of an LLM's sentence against the quote it cites: facts must agree, wording may not.

A strong model paraphrases, frames ("文中提到", "According to the article") and writes English
about Chinese text; a wrong sentence of it keeps the words and changes one fact. So the check
works through the quote (the `[n: quote]` the prompt asks for, or, without one, the chunk's
sentence that best matches the claim):
  1. the quote must occur in the cited chunk (whitespace, punctuation and traditional/simplified
     insensitive, a little fuzz allowed); a marker pointing at the wrong chunk is re-pointed;
  1b. identifiers (paths, options, addresses, `code`) are compared whole, a command or path
     against the quote's sentence, and what the claim says beside a name is what the chunk says
     beside that name (eth0 / eth1, sec=krb5 / sec=krb5i), whatever the claim's language;
  2. numbers, dates, 《》 titles, ranks and negations of the claim must agree with the quote's
     sentence: every number is there and counts the same thing ("160家机构" is not "160个国家"),
     a title is bound to the same name, 不/未/不再 is in both or neither of the clauses the claim
     covers, and a fact the quote's sentence binds to another phase or year is not claimed for
     this one;
  3. content words new to the chunk (a swapped organisation, place or thing) fail the sentence;
     framing and connectives never do;
  4. English claims are compared through the English->Chinese term map (names, numbers, titles,
     negation, phases and years, each item of a list) and, for meaning, an embedding of claim
     against quote with thresholds fitted on the tune split of tests/fixtures/llm_replay.jsonl;
     Chinese claims about English text (a manual's English pages) by what survives translation:
     Latin words, numbers, negation and an embedding of claim against quote (the tune splits of
     tests/fixtures/llm_replay_<corpus>.jsonl);
  5. a sentence the checks cannot decide (meaning too far from the quote) is removed, or with
     QA_VERIFY_WITH_LLM put to the model as a yes/no question (the `second_opinion` hook).
FactVerifier is one of the two checks behind the pipeline's one gate; citations.py tells how it
and citations.Verifier (for extractive drafts, in the chunks' own words) divide the work.
What it does not do: parse markers (markers.py) or verify extractive answers (citations.Verifier).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from qa.query.citations import (
    CheckedSentence,
    Embed,
    VerifiedStream,
    Verifier,
    _cosine,
    evidence,
    key_terms,
    normalize,
)
from qa.query.markers import Cite, claims, next_sentence
from qa.records import Chunk
from qa.text.normalize import normalize as normal_form
from qa.text.normalize import t2s
from qa.text.sentences import is_question
from qa.text.terms import is_english_word, quiet_jieba, word_tags

Translate = Callable[[str], list[str]]
SecondOpinion = Callable[[str, str], bool | None]

_CJK = re.compile(r"[\u4e00-\u9fff]")
_DROP = re.compile(r"[^\w\u4e00-\u9fff]+")
_SENTENCE = re.compile(r"[^。！？!?；;\n]*(?:[。！？!?；;\n]+|$)")
_CLAUSE = re.compile(r"[^，,。！？!?；;：:\n]+")
_ZH_DIGITS = dict(zip("零〇一二两三四五六七八九", (0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_MEASURES = "个家次年项大方面阶段届期位种条点批倍名部国岁月日"
_NUMBER = re.compile(
    rf"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千]+)(?=\s*(?:[{_MEASURES}]|%|％))"
    r"|(?<![A-Za-z0-9\-/,])(?<!\d\.)(\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?)(?![A-Za-z\d]|\.\d)"
)
_EN_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "hundred": 100, "thousand": 1000,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "twice": 2, "once": 1,
}  # fmt: skip
_NEGATION_TEXT = (
    "不 不再 未 尚未 并未 没有 没 无 非 并非 不能 不会 不是 未能 并不 不宜 难以 "
    "不用 不需要 不必 无需 无须 无法 不可 不要 不够 不足 没法"
)
_NEGATIONS = frozenset(_NEGATION_TEXT.split())
_EN_NEGATION = re.compile(
    r"\b(not(?!-)|no|never|no longer|without|nor|cannot|unlikely|yet to|fails?|failed)\b|n't", re.IGNORECASE
)
_TITLE = re.compile(
    r"(?:常务)?副?(?:司长|部长|主席|总理|总统|主任|秘书长|局长|处长|首相|院长|会长|委员长|大使)(?!国|团)"
)
_EN_TITLES = {
    "deputy": ["副"], "vice": ["副"], "prime minister": ["总理"], "chancellor": ["总理"], "premier": ["总理"],
    "president": ["主席", "总统"], "director-general": ["司长"], "director general": ["司长"],
    "minister": ["部长", "总理"], "secretary-general": ["秘书长"], "ambassador": ["大使"],
}  # fmt: skip
_PHASE = re.compile(r"第([一二三四五六七八九十\d]{1,3})(阶段|次|届|期)")
_YEAR = re.compile(r"((?:19|20)\d\d)\s*年?")
# The vocabulary of describing a text and of linking sentences: never a claim about the world.
_FRAMING_TEXT = (
    "文中 文章 本文 作者 提到 提及 指出 认为 写道 说 称 表示 强调 介绍 "
    "列出 列为 列 列举 提出 谈到 文末 署名 此外 另外 同时 因此 因为 所以 "
    "由于 总体 总体而言 总之 综上 可见 具体 来说 具体来说 也 还 并 而且 "
    "其中 按照 根据 据 说法 看来 这 那 这一 该 此 其 它 她 他 这些 "
    "这样 这项 这份 这次 这位 之一 一起 一并 方面 内容 问题 工作 做法 "
    "举措 承诺 项目 目的 方式 形式 角度 意义 身份 职务 名称 名字 简称 "
    "全称 旨在 以便 为了 从而 进而 才能 可以 能够 就是 即 指 叫 叫做 "
    "称为 被 把 将 与 和 及 以及 或 或者 中国 我国 重点 领导人 双方 "
    "各方 "
    # what a document is called, whatever its genre: "根据手册" frames as "文章提到" does
    "手册 文档 指南 教程 资料 说明 本节 该节 这一节 一节 小节 章节 页面 示例 例子 例如 比如"
)
_FRAMING = frozenset(_FRAMING_TEXT.split())
_EN_FRAMING_TEXT = (
    "according article says say said states notes note adds add calls call lists list names "
    "name describes describe presents present mentions mention wants want concedes author text "
    "also then so because therefore overall china china's chinese it its this that these those "
    "they them he she his her whose which who what when where there here together next "
    "alongside among part handbook manual guide document documentation section chapter page "
    "example instance comparison contrast addition faq readme"
)
_EN_FRAMING = frozenset(_EN_FRAMING_TEXT.split())
_EN_STOP_TEXT = (
    "a an the of to in on for and or is are was were be been being by with from as at that this "
    "it its will would should could can may might must has have had do does did not no yet so "
    "than then into about over after before up out more most such very just only also"
)
_EN_STOP = frozenset(_EN_STOP_TEXT.split())
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_CAPS = re.compile(r"\b[A-Z][\w'\-]*(?:\s+(?:(?:of|and|for|on|the|der|von|de)\s+)*[A-Z][\w'\-]*)*")


@dataclass(frozen=True)
class Thresholds:
    """Fitted on the tune split of tests/fixtures/llm_replay.jsonl; see docs/llm_verify.md."""

    quote_fuzz: float = 0.85
    zh_similarity: float = 0.80
    en_similarity: float = 0.78
    en_coverage: float = 0.35
    # An English list item the term map cannot place, against the quote sentence's own pieces:
    # tune's "biodiversity loss" reaches 生物多样性丧失 at 0.895, its swapped "desertification" 0.83.
    en_list_item: float = 0.86
    # A Chinese claim against English text: tune's true pairs reach 0.837 and up, claims set
    # against other items' quotes 0.795 at the median (the same manuals' words, other facts).
    across_similarity: float = 0.83


class FactVerifier:
    """Checks an LLM's claim against the quotes it cites (the extractive answer's sentences go to
    citations.Verifier instead); see the module docstring for the rules."""

    def __init__(
        self,
        embed: Embed | None = None,
        translate: Translate | None = None,
        thresholds: Thresholds = Thresholds(),
        second_opinion: SecondOpinion | None = None,
    ) -> None:
        self.embed = embed
        self.translate = translate or (lambda word: [])
        self.thresholds = thresholds
        self.second_opinion = second_opinion

    def check(self, claim: str, cites: Sequence[Cite], chunks: dict[int, Chunk]) -> CheckedSentence:
        if is_question(claim):
            return CheckedSentence(claim, (), False, "a question, not an answer")
        valid = [cite for cite in cites if cite.n in chunks]
        if cites and not valid:
            listed = ", ".join(str(c.n) for c in cites)
            why = f"cites [{listed}], which is not among the retrieved paragraphs"
            return CheckedSentence(claim, (), False, why)
        kept: list[tuple[int, str]] = []
        reason = "no citation"
        for cite in valid or [Cite(n) for n in chunks]:
            n, quote, why = self._anchor(claim, cite, chunks)
            if quote is None:
                reason = why
                continue
            ok, why = self.agrees(claim, quote, evidence(chunks[n]), _headings(chunks[n]))
            if ok and all(n != k for k, _ in kept):
                kept.append((n, quote))
                if not valid:
                    break
            elif not ok:
                reason = why
        if not kept:
            return CheckedSentence(claim, (), False, reason)
        markers = tuple(n for n, _ in kept)
        return CheckedSentence(claim, markers, True, "", quotes=tuple(q for _, q in kept))

    # --- 1. the quote in its chunk ------------------------------------------------------------

    def _anchor(self, claim: str, cite: Cite, chunks: dict[int, Chunk]) -> tuple[int, str | None, str]:
        """(n, the quote as the chunk words it, reason): the cited chunk first, then any other."""
        if cite.quote is None:
            terms = _claim_terms(claim, self.translate)
            return cite.n, best_sentence(claim, evidence(chunks[cite.n]), terms), ""
        order = [cite.n, *(n for n in chunks if n != cite.n)]
        for n in order:
            found = locate(cite.quote, evidence(chunks[n]), self.thresholds.quote_fuzz)
            if found is not None:
                return n, found, ""
        return cite.n, None, f"the quote “{cite.quote[:40]}” is not in the cited text"

    # --- 2-4. the facts -----------------------------------------------------------------------

    def agrees(self, claim: str, quote: str, source: str, headings: str = "") -> tuple[bool, str]:
        """Whether the claim states what the quote (in its sentence of the source) states. The
        names in the chunk's `headings` (its document's title, its section) are known as the
        source's own: "nftables 的判决语句包括…" of a paragraph under "14.2.x nftables"."""
        sentence = containing_sentence(quote, source)
        known = f"{source}\n{' '.join(_LATIN_WORD.findall(headings))}"
        for ok, why in (_identifiers_present(claim, sentence, known), _names_bound(claim, source)):
            if not ok:
                return False, why
        if is_english(claim):
            checks = _english_checks(self, claim, quote, sentence, known)
        elif is_english(sentence):
            checks = _across_checks(self, claim, quote, sentence, known)
        else:
            checks = _chinese_checks(self, claim, quote, sentence, known)
        for ok, why in checks:
            if not ok:
                return False, why
        return True, ""

    def similarity(self, claim: str, quote: str) -> float | None:
        if self.embed is None:
            return None
        vectors = self.embed([claim, quote])
        return _cosine(vectors[0], vectors[1])


def _headings(chunk: Chunk) -> str:
    return f"{chunk.title}\n{chunk.section}"


def is_english(claim: str) -> bool:
    """Written in English (Chinese only in glosses, names and titles) rather than in Chinese."""
    text = _without_identifiers(_GLOSS_FREE(claim))
    return len(re.findall(r"[A-Za-z]{2,}", text)) * 2 >= len(_CJK.findall(text)) and bool(
        re.search(r"[A-Za-z]{2,}", text)
    )


def _GLOSS_FREE(claim: str) -> str:  # noqa: N802 - reads as a phrase
    """The claim without bracketed glosses and 《》 titles: what language it is written in."""
    return re.sub(r"[（(][^（）()]*[）)]|《[^》]*》|“[^”]*”", " ", claim)


# --- Chinese claims ---------------------------------------------------------------------------


def _chinese_checks(verifier: FactVerifier, claim: str, quote: str, sentence: str, source: str):
    yield _numbers_agree(claim, sentence)
    yield _titles_agree(claim, quote, sentence)
    yield _negation_agrees(claim, quote, sentence)
    yield _scopes_agree(claim, sentence)
    yield _no_new_content(claim, sentence, source)
    similarity = verifier.similarity(_core(claim), sentence)
    needed = verifier.thresholds.zh_similarity
    if similarity is not None and similarity < needed:
        yield _second(verifier, claim, quote, f"the cited text does not say this ({similarity:.2f})")


def _second(verifier: FactVerifier, claim: str, quote: str, why: str) -> tuple[bool, str]:
    """An undecided sentence: the LLM's yes/no when QA_VERIFY_WITH_LLM is on, else removed."""
    if verifier.second_opinion is not None:
        verdict = verifier.second_opinion(claim, quote)
        if verdict is not None:
            return verdict, "" if verdict else why + "; the LLM's second opinion agrees"
    return False, why


def _numbers_agree(claim: str, sentence: str) -> tuple[bool, str]:
    have = numbers_with_units(sentence)
    values = {value for value, _, _ in have}
    for value, unit, noun in numbers_with_units(_without_identifiers(claim)):  # those are whole
        if value not in values:
            return False, f"the number {value:g} is not in the cited text"
        same = [(u, n) for v, u, n in have if v == value]
        if unit and all(u and u != unit and not _same_unit(u, unit) for u, _ in same):
            return False, f"the cited text counts {value:g} in another unit"
        if (
            noun
            and not (unit == "年" and value >= 1000)
            and all(n and noun not in n and n not in noun for u, n in same if u == unit)
        ):
            return False, f"the cited text binds {value:g} to something else"
    return True, ""


def _same_unit(a: str, b: str) -> bool:
    return {a, b} <= {"个", "项", "方面", "种"} or {a, b} <= {"次", "届"}


def numbers_with_units(text: str) -> list[tuple[float, str, str]]:
    """(value, measure word, the noun after it) for every number, Arabic or Chinese."""
    text = t2s(text)
    out = []
    for match in _NUMBER.finditer(text):
        raw = match.group(1) or match.group(2)
        value = _value(raw)
        if value is None or (match.group(1) and not match.group(1)[0].isdigit() and _idiom(text, match)):
            continue
        after = text[match.end() :].lstrip()
        unit = next((m for m in sorted(_MEASURES_LIST, key=len, reverse=True) if after.startswith(m)), "")
        noun_zone = after[len(unit) : len(unit) + 6]
        nouns = [t for t in key_terms(noun_zone) if _CJK.search(t) and t not in _FRAMING] if unit else []
        noun = nouns[0] if nouns else ""
        out.append((value, unit, noun[:2]))
    return out


_MEASURES_LIST = ["方面", "阶段", *list("个家次年项大届期位种条点批倍名部国岁月日%％")]


def _idiom(text: str, match: re.Match) -> bool:
    """一带一路, 之一, 统一, 一是: Chinese numerals that are words, not counts; and ordinals (第二个
    小节 is 9.7.2, not two of anything; a phase's ordinal is checked as its scope)."""
    start, end = match.span(1)
    around = text[max(0, start - 1) : end + 1]
    return bool(_WORD_NUMERALS.search(around)) or text[max(0, start - 1) : start] == "第"


_WORD_NUMERALS = re.compile(r"一带|带一|之一|统一|一是|一道|一体|一起|一批|唯一|进一|第一|一系|十八大|二十大")


def _value(raw: str) -> float | None:
    if raw[0].isdigit():
        return float(raw.replace(",", ""))  # 20,000,000
    total, current = 0, 0
    for char in raw:
        if char in _ZH_DIGITS:
            current = _ZH_DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
        elif char == "千":
            total += (current or 1) * 1000
            current = 0
    return float(total + current)


def _titles_agree(claim: str, quote: str, sentence: str) -> tuple[bool, str]:
    """A rank is where the quote's sentence has it, beside the same name; a 《》 title is quoted."""
    claim_s, sentence_s = normalize(claim), normalize(sentence)
    for match in _TITLE.finditer(claim_s):
        title = match.group(0)
        if title not in sentence_s:
            return False, f"the cited text does not say “{title}”"
        before = claim_s[max(0, match.start() - 2) : match.start()]
        after = claim_s[match.end() : match.end() + 2]
        bound = [piece for piece in (before + title, title + after) if _CJK.search(piece.replace(title, ""))]
        if bound and not any(piece in sentence_s for piece in bound):
            return False, f"the cited text gives “{title}” to someone else"
    quote_s = _DROP.sub("", normalize(quote))
    for book in re.findall(r"《([^》]+)》", t2s(claim)):
        name = _DROP.sub("", normalize(book))
        if name not in (quote_s or _DROP.sub("", sentence_s)):
            return False, f"the quote does not name 《{book}》"
    return True, ""


def _negations(text: str) -> set[str]:
    import jieba

    quiet_jieba()
    return {token for token in jieba.lcut(t2s(text)) if token in _NEGATIONS}


def _negation_agrees(claim: str, quote: str, sentence: str) -> tuple[bool, str]:
    """不/未/不再 in the claim and in the clauses of the quote's sentence it covers alike."""
    claim_terms = set(key_terms(claim))
    covered = [c for c in _CLAUSE.findall(sentence) if _covers(claim_terms, c)]
    said = set().union(*(_negations(c) for c in covered)) if covered else set()
    return _negated_alike(min(_negations(claim), default=""), min(said, default=""))


def _negated_alike(stated: str, said: str) -> tuple[bool, str]:
    """Claim and cited text negate alike, whatever the form: `stated` and `said` are a negation
    each writes ("" when none). Every language pair's negation check ends here."""
    if stated and not said:
        return False, f"the claim says “{stated}”; the cited text does not negate this"
    if said and not stated:
        return False, f"the cited text says “{said}”; the claim drops the negation"
    return True, ""


def _english_negation_word(text: str) -> str:
    match = _EN_NEGATION.search(text)
    return match.group(0) if match else ""


def _covers(claim_terms: set[str], clause: str) -> bool:
    terms = [t for t in key_terms(clause) if t not in _FRAMING and t not in _NEGATIONS]
    found = sum(t in claim_terms or any(t in c for c in claim_terms) for t in terms)
    return bool(terms) and found / len(terms) >= 0.5


def _scopes_agree(claim: str, sentence: str) -> tuple[bool, str]:
    """A fact the sentence states of another phase or year is not claimed for this one."""
    claim_s = normalize(claim)
    terms = [t for t in key_terms(claim) if t not in _FRAMING and _CJK.search(t) and len(t) >= 2]
    claimed = {pattern: {m.group(1) for m in pattern.finditer(claim_s)} for pattern in (_PHASE, _YEAR)}
    return _scoped(claimed, terms, sentence)


def _scoped(claimed: dict[re.Pattern, set[str]], terms: list[str], sentence: str) -> tuple[bool, str]:
    """No term is found only in the part of the sentence about another phase or year than the
    one claimed (`claimed`: per pattern, the values the claim names)."""
    sentence_s = normalize(sentence)
    for pattern, wanted in claimed.items():
        anchors = [(m.start(), m.group(1)) for m in pattern.finditer(sentence_s)]
        values = {value for _, value in anchors}
        for value in wanted:
            if value not in values or len(values) < 2:
                continue
            segments = _segments(sentence_s, anchors)
            for term in terms:
                if _PHASE.search(term) or _YEAR.search(term):
                    continue
                where = {v for v, text in segments if term in text}
                if where and value not in where and None not in where:
                    what = "phase" if pattern is _PHASE else "year"
                    return False, f"the cited text says “{term}” of another {what}"
    return True, ""


def _segments(text: str, anchors: list[tuple[int, str]]) -> list[tuple[str | None, str]]:
    cuts = [(0, None), *anchors, (len(text), "")]
    return [(cuts[i][1], text[cuts[i][0] : cuts[i + 1][0]]) for i in range(len(cuts) - 1)]


def _no_new_content(claim: str, sentence: str, source: str) -> tuple[bool, str]:
    """A content word the chunk never uses (another organisation, place or thing) fails; framing,
    connectives and the verbs of paraphrase do not."""
    names = _latin_terms_present(claim, source)
    if not names[0]:
        return names
    haystack = normalize(source)
    local = normalize(sentence)
    kinds = _kind_words(claim)
    for term in key_terms(_core(claim)):
        said = term.replace(" ", "") in haystack
        if not _CJK.search(term) or term in _FRAMING or term in _NEGATIONS or term in kinds or said:
            continue
        glued = len(term) >= 3 and (term[1:] in haystack or term[:-1] in haystack)  # 这一愿景 -> 一愿景
        if len(term) >= 2 and not glued and _content_word(term) and not _parts_present(term, local):
            return False, f"the cited text does not say “{term}”"
    return True, ""


# What manuals name things with: a path, option, address, file, package or key=value, a run of
# letters, digits and the marks inside such names, holding one of those marks or both letters and
# digits ("/etc/cron.weekly", "-Y", "10.0.0.1", "sec=krb5p", "eth1"); in a code span every word.
# Not: a plain number ("1.5"), an abbreviation ("e.g."), a hyphenated English word ("read-only"),
# a placeholder in angle brackets ("<package>"), which is the model's, not the source's.
_CODE = re.compile(r"`([^`]*)`")
_LATIN_WORD = re.compile(r"[A-Za-z0-9][\w./~:=@+$-]*", re.ASCII)
_TOKEN = re.compile(r"(?<![\w./~:=@+$<-])[\w./~:=@+$-]*[A-Za-z0-9][\w./~:=@+$-]*", re.ASCII)
_MARKS = re.compile(r"[./~:=@_$-]")
_BARE_NAME = re.compile(r"[A-Za-z]+\d[A-Za-z\d]*|\d+[A-Za-z][A-Za-z\d]*")
_ABBREVIATION = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]?")
# A text's words, and the parts of its CamelCase ones: "$UDPServerRun" says UDP, "machine" no MAC.
_WORD_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_PUNCTUATION = ":;,.!?()[]{}'\"“”‘’「」《》、，。：；！？（）"


def identifiers(text: str) -> list[str]:
    """The identifiers a text writes, in code spans or bare."""
    text = unicodedata.normalize("NFKC", text)
    found: list[str] = []
    for span in _CODE.findall(text):
        found += [t.rstrip(".,:;") for t in _TOKEN.findall(span) if not _CJK.search(t)]
    for match in _TOKEN.finditer(_CODE.sub(" ", text)):
        token = match.group(0).rstrip(".,:;")
        plain = re.fullmatch(r"\d+(?:\.\d+)?|[A-Za-z]+", token) or _ABBREVIATION.fullmatch(token)
        mixed = re.search(r"[A-Za-z]", token) and re.search(r"\d", token)
        if plain or _CJK.search(token) or not (_MARKS.search(token) or mixed):
            continue
        if re.fullmatch(r"[A-Za-z]+(?:-[A-Za-z]+)+", token) and all(
            is_english_word(part.lower()) for part in token.split("-")
        ):
            continue  # read-only, well-known: English, not a name
        found.append(token)
    return [token for token in dict.fromkeys(found) if re.search(r"[A-Za-z0-9]", token)]


def _without_identifiers(text: str) -> str:
    text = unicodedata.normalize("NFKC", _CODE.sub(" ", text))
    for token in identifiers(text):
        text = text.replace(token, " ")
    return text


def _identifiers_present(claim: str, sentence: str, source: str) -> tuple[bool, str]:
    """Every identifier of the claim is the source's, whole: "/etc/cron.daily" for the source's
    "/etc/cron.weekly", "10.0.0.254" for "10.0.0.1", `ssh -Y` for `ssh -X` differ in one piece,
    which no count of shared words notices. A command, path or option must be in the quote's
    sentence (`apt remove` where the sentence says what `apt purge` does takes it from the next
    one); a bare name of letters and digits ("COP15", "X11", "eth1") names what the whole chunk is
    about, and which fact goes with which is _names_bound's to check."""
    sentence_text, source_text = normal_form(sentence), normal_form(source)  # spaces kept
    for token in identifiers(claim):
        wanted = normal_form(token).rstrip("/")  # "/etc/cron.daily/" is the source's /etc/cron.daily
        haystack = source_text if _BARE_NAME.fullmatch(token) else sentence_text
        if not re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", haystack, re.ASCII):
            return False, f"the cited text does not say “{token}”"
    return True, ""


def _latin_terms_present(claim: str, source: str) -> tuple[bool, str]:
    """Every Latin word of a Chinese claim (a command, option, path, package or name) is the
    chunk's: "运行 apt-mark hold" citing a paragraph on apt-mark manual names a command it never
    gives. Numbers are left to the checks of numbers, with their units."""
    haystack = normal_form(source)
    text = unicodedata.normalize("NFKC", source)
    words = {w.lower() for w in _WORD_PARTS.findall(text) + re.findall(r"[A-Za-z0-9]+", text)}
    named = _names(claim)  # identifiers: checked whole before
    for term in key_terms(_core(claim)):
        word = term.strip(_PUNCTUATION)  # "：Memcheck" is Memcheck
        if not word or _CJK.search(word) or re.fullmatch(r"[\d.,]+", word) or word in _EN_FRAMING | named:
            continue  # the FAQ, the manual: framing, as 手册 is
        if word not in words and not re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", haystack):
            return False, f"the cited text does not say “{word}”"  # MAC is not in "machine"
    return True, ""


_NAME_CLAUSE = re.compile(r"[^，,。；;：:！？!?]+")


def _names_bound(claim: str, source: str) -> tuple[bool, str]:
    """What the claim says beside a name is what the chunk says beside it: "eth1 连接到主网"
    where the chunk has "eth0 连接到主网，使用 eth1 为 LTSP 客户端服务" binds the fact to the
    other name, as "每周运行 /etc/cron.monthly/" does. A word the chunk writes only in clauses
    naming other things, never in the one naming this, is bound to those. (The lines of a code
    block are one clause: "iface eth0 inet static" and "up /usr/local/etc/arrakis.fw" are one
    stanza.)"""
    clauses = [(normalize(c), _names(c)) for c in _NAME_CLAUSE.findall(source)]
    known = set().union(*(held for _, held in clauses))
    english = is_english(claim)  # its words, in its language: a Chinese claim's Latin ones are names
    for piece in _NAME_CLAUSE.findall(claim):
        terms = [
            t
            for t in key_terms(_without_identifiers(piece))
            if t not in _FRAMING and t not in _EN_FRAMING and (len(t) >= 4 if english else _CJK.search(t))
        ]
        for name in _names(piece) & known:
            for term in terms:
                holding = [held for text, held in clauses if term in text]
                if holding and all(held and name not in held for held in holding):
                    return False, f"the cited text says “{term}” of {sorted(holding[0])[0]}, not of {name}"
    return True, ""


def _names(text: str) -> set[str]:
    return {normal_form(token).rstrip("/") for token in identifiers(text)}


def _kind_words(claim: str) -> set[str]:
    """The word right after an identifier says what kind of thing it is ("`/var/log/apt/` 目录",
    "`atq` 命令", "`rw` 选项"): the model's gloss on a name the source gives, not new content."""
    text = t2s(unicodedata.normalize("NFKC", claim))
    kinds = set()
    for token in identifiers(text):
        for match in re.finditer(re.escape(token) + r"`?\s*([\u4e00-\u9fff]{1,4})", text):
            following = match.group(1)
            kinds.update(t for t in key_terms(following) if following.startswith(t))
    return kinds


def _parts_present(term: str, text: str) -> bool:
    """A word made of two of the sentence's own words ("视频方式" is 视频 + 方式) is no new content."""
    return len(term) >= 4 and term[:2] in text and term[2:] in text


def _content_word(term: str) -> bool:
    tag = word_tags().get(term)
    if tag is None:
        return (
            len(term) >= 3
        )  # a name; two characters outside the dictionary are jieba's cut of function words
    if tag == "l":  # a fixed phrase naming a thing (发达国家 ends in 国家) is a noun; 总的来说 is not
        return len(term) >= 3 and word_tags().get(term[-2:], "")[:1] == "n"
    return tag[:1] in ("n", "s", "j") or tag in ("eng", "nz")


_FRAMES = re.compile(
    r"^(?:(?:文中|文章|本文|作者|据文章|根据文章|按照文章的说法)[^，,。]{0,6}[，,：:]|(?:此外|另外|同时|因此|因为|所以|总体而言|总之|综上|具体来说|不过)[，,]?)+"
)


def _core(claim: str) -> str:
    """The claim without its framing and without Latin glosses of Chinese ("周国梅 (Zhou Guomei)")."""
    claim = re.sub(r"\s*[（(]\s*[A-Za-z][A-Za-z .,'\-]*[）)]", "", claim)
    return _FRAMES.sub("", claim.strip())


# --- Chinese claims about English text -----------------------------------------------------


def _across_checks(verifier: FactVerifier, claim: str, quote: str, sentence: str, source: str):
    """A Chinese claim citing English text (English pages asked in Chinese, a passage a
    translation left in English): the words cannot be compared, so what survives translation
    is. Its Latin words (commands, paths, options, names) must be the chunk's, its numbers the
    sentence's, its negation the quote's, and its meaning the quote's (embeddings across
    languages; CC-CEDICT glosses of its words measured no better on the tune split)."""
    yield _latin_terms_present(claim, source)
    yield _numbers_across(claim, sentence)
    yield _negation_across(claim, quote)
    similarity = verifier.similarity(_core(claim), quote or sentence)
    if similarity is not None and similarity < verifier.thresholds.across_similarity:
        yield _second(verifier, claim, quote, f"the cited text does not say this ({similarity:.2f})")


def _sentence_numbers(sentence: str) -> set[float]:
    """The values a sentence states, in digits, Chinese numerals or English words ("both" is two)."""
    words = {value for word, value in _EN_NUMBERS.items() if re.search(rf"\b{word}\b", sentence, re.I)}
    words |= {float(n) for n in re.findall(r"\b(\d+)(?:st|nd|rd|th)\b", sentence)}  # every 10th snapshot
    return (
        {value for value, _, _ in numbers_with_units(sentence)}
        | words
        | ({2.0} if _BOTH.search(sentence) else set())
    )


_BOTH = re.compile(r"\b(?:both|pair)\b", re.I)


def _numbers_across(claim: str, sentence: str) -> tuple[bool, str]:
    """The claim's numbers are the English sentence's, in digits or words; 一 is left out, the
    Chinese for English's "a" ("一个目录" is "a directory")."""
    have = _sentence_numbers(sentence)
    claim = t2s(_without_identifiers(claim))
    for match in _NUMBER.finditer(claim):
        raw = match.group(1) or match.group(2)
        value = _value(raw)
        if value is None or (not raw[0].isdigit() and (value == 1 or _idiom(claim, match))):
            continue
        if value not in have:
            return False, f"the number {value:g} is not in the cited text"
    return True, ""


def _negation_across(claim: str, quote: str) -> tuple[bool, str]:
    """不/没有/无法 in the claim where the quote says not/no/never/cannot, and only there."""
    return _negated_alike(min(_negations(claim), default=""), _english_negation_word(quote))


# --- English claims ---------------------------------------------------------------------------


def _english_checks(verifier: FactVerifier, claim: str, quote: str, sentence: str, source: str):
    translate = verifier.translate
    yield _english_numbers(claim, sentence, translate)
    yield _english_names(claim, source, translate)
    yield _english_titles(claim, sentence, translate)
    yield _english_negation(claim, quote, sentence, translate)
    yield _english_scopes(claim, sentence, translate)
    yield _english_list(verifier, claim, sentence, source)
    words = [w for w in _content_words(claim) if w not in _EN_FRAMING]
    source_s = normalize(source)
    present = [w for w in words if w in source_s or any(t in source_s for t in _translations(w, translate))]
    coverage = len(present) / len(words) if words else 1.0
    similarity = verifier.similarity(claim, quote)
    t = verifier.thresholds
    if coverage < t.en_coverage:
        yield _second(verifier, claim, quote, f"the cited text does not say this (coverage {coverage:.2f})")
    elif similarity is not None and similarity < t.en_similarity:
        yield _second(verifier, claim, quote, f"the cited text does not say this ({similarity:.2f})")


def _content_words(text: str) -> list[str]:
    from qa.text.terms import english_words

    return [w for w in english_words(_GLOSS_FREE_EN(text)) if w not in _EN_STOP and not w.isdigit()]


def _GLOSS_FREE_EN(text: str) -> str:  # noqa: N802
    """Without Chinese, and without the romanisation glossing it ("周国梅 (Zhou Guomei)")."""
    text = re.sub(r"([\u4e00-\u9fff》”])\s*[（(][A-Za-z][A-Za-z .,'\-]*[）)]", r"\1", text)
    return re.sub(r"[\u4e00-\u9fff《》“”（）]+", " ", text)


def _translations(word: str, translate: Translate) -> list[str]:
    from qa.text.terms import _lemma

    found = list(translate(word)) or list(translate(_lemma(word.lower())))
    return [normalize(t) for t in found]


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "once", "twice")


def _english_numbers(claim: str, sentence: str, translate: Translate) -> tuple[bool, str]:
    have = numbers_with_units(sentence)
    values = _sentence_numbers(sentence)
    tokens = re.findall(r"[A-Za-z]+\d*|\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?", _without_identifiers(claim))
    for i, token in enumerate(tokens):
        value = _value(token) if token[0].isdigit() else _EN_NUMBERS.get(token.lower())
        if value is None:
            continue
        if token.lower() in _ORDINALS and value not in values:
            continue  # ordinals: checked as phases below when the source numbers them
        if value not in values:
            return False, f"the number {token} is not in the cited text"
        nouns = [w for w in tokens[i + 1 : i + 4] if w.isalpha() and w.islower() and w not in _EN_STOP][:2]
        wanted = {t for w in nouns for t in _translations(w, translate) if len(t) >= 2}
        bound = {n for v, _, n in have if v == value and n}
        elsewhere = {n for v, _, n in have if v != value and n}
        mismatched = wanted and bound and not any(b in w or w in b for w in wanted for b in bound)
        if mismatched and any(b in w or w in b for w in wanted for b in elsewhere):
            return False, f"the cited text counts something else with {token}"
    for word, value in (("first", "一"), ("second", "二")):
        if re.search(rf"\b{word} phase\b", claim, re.I) and f"第{value}阶段" not in normalize(sentence):
            return False, f"the cited sentence is not about the {word} phase"
    return True, ""


_EN_LIST = re.compile(r"[^,;.:]*(?:,[^,;.:]+)+,?\s+(?:and|or)\s+[^,;.:]+")
_EN_LIST_CUT = re.compile(r",\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+")


def _english_list(verifier: FactVerifier, claim: str, sentence: str, source: str) -> tuple[bool, str]:
    """Every item of a list the claim enumerates ("A, B and C") is the source's: a word of it is
    there, itself or through the term map, or else the item means one of the quote sentence's
    pieces (embeddings, `en_list_item`). The coverage of the whole claim lets one swapped item
    through; a list item is a fact on its own. Items that are names are left to _english_names."""
    translate = verifier.translate
    source_s = normalize(source)
    for match in _EN_LIST.finditer(_GLOSS_FREE_EN(claim)):
        parts = [part for part in _EN_LIST_CUT.split(match.group(0)) if part.strip()]
        if parts and not _run(parts[0], from_end=True):
            parts = parts[1:]  # "According to the handbook, X is … and …": framing, then no list
        if len(parts) < 3:
            continue
        items = [_run(parts[0], from_end=True), *(_run(p) for p in parts[1:-1]), _run(parts[-1])]
        for words in items:
            if not words or all(w[0].isupper() for w in words):
                continue
            if any(_in_source(word, source_s, translate) for word in words):
                continue
            nearest = _nearest_piece(verifier, " ".join(words), sentence)
            if nearest is not None and nearest < verifier.thresholds.en_list_item:
                return False, f"the cited text does not list “{' '.join(words)}”"
    return True, ""


_PIECE_CUT = re.compile(r"[、，,；;：:。！？!?和与及或]|以及")


def _nearest_piece(verifier: FactVerifier, phrase: str, sentence: str) -> float | None:
    """The highest similarity of the phrase to a piece of the sentence (its list items, clauses
    and terms); None without an embedder."""
    if verifier.embed is None:
        return None
    text = t2s(sentence)
    pieces = [p.strip() for p in _PIECE_CUT.split(text) if 2 <= len(p.strip()) <= 12]
    pieces += [t for t in key_terms(text) if _CJK.search(t) and len(t) >= 2]
    pieces = list(dict.fromkeys(pieces))
    if not pieces:
        return None
    vectors = verifier.embed([phrase, *pieces])
    return max(_cosine(vectors[0], vector) for vector in vectors[1:])


def _in_source(word: str, source_s: str, translate: Translate) -> bool:
    translations = [t for t in _translations(word, translate) if len(t) >= 2]
    return word.lower() in source_s or any(t in source_s for t in translations)


def _run(text: str, from_end: bool = False) -> list[str]:
    """The words of a list item: the run of content words at its end (the first item, after
    the verb that introduces the list) or at its start (the last one, before what follows)."""
    words = _EN_WORD.findall(text)
    run: list[str] = []
    for word in reversed(words) if from_end else words:
        lowered = word.lower()
        if lowered in _EN_STOP or lowered in _EN_FRAMING:
            break
        run.append(word)
    return run[::-1] if from_end else run


_EN_PHASE = re.compile(r"\b(first|second|third|fourth|fifth)\s+(?:phase|session|stage|part)\b", re.I)
_EN_ORDINAL = {"first": "一", "second": "二", "third": "三", "fourth": "四", "fifth": "五"}


def _english_scopes(claim: str, sentence: str, translate: Translate) -> tuple[bool, str]:
    """_scopes_agree for an English claim: its phases and years, and as terms its 《》 titles and
    the Chinese of its common words (names are left out: a part of a compound name, 昆明 of
    Kunming-Montreal, is no fact about a phase)."""
    phases = {_EN_ORDINAL[m.group(1).lower()] for m in _EN_PHASE.finditer(claim)}
    years = set(re.findall(r"(?<!\d)((?:19|20)\d\d)(?!\d)", claim))
    terms = [_DROP.sub("", normalize(title)) for title in re.findall(r"《([^》]+)》", t2s(claim))]
    for word in _EN_WORD.findall(_GLOSS_FREE_EN(claim)):
        lowered = word.lower()
        if word[0].isupper() or lowered in _EN_STOP or lowered in _EN_FRAMING or lowered in _EN_ORDINAL:
            continue
        terms += [t for t in _translations(word, translate) if len(t) >= 2]
    return _scoped({_PHASE: phases, _YEAR: years}, terms, sentence)


def _english_names(claim: str, source: str, translate: Translate) -> tuple[bool, str]:
    """Every capitalised name must be the chunk's: mostly translated into it, or glossed."""
    source_s = normalize(source)
    glosses = re.findall(r"[（(]([^（）()]*[\u4e00-\u9fff][^（）()]*)[）)]", claim)
    glossed = [g for g in glosses if all(t in source_s for t in key_terms(g))]
    body = re.sub(r"[（(][^（）()]*[）)]", " ( ) ", claim)
    for match in _CAPS.finditer(body):
        phrase = match.group(0)
        words = [re.sub(r"'s$", "", w) for w in _EN_WORD.findall(phrase)]
        if not body[: match.start()].strip():
            words = words[1:]  # a sentence's first word is capitalised by grammar, not as a name
        skip = _EN_STOP | _EN_FRAMING | _EN_TITLE_WORDS
        words = [w for w in words if w.lower() not in skip]
        if not words:
            continue
        parts = [p for w in words for p in re.split(r"-", w) if p]
        known = [
            p
            for p in parts
            if p.lower() in source_s or any(t in source_s for t in _translations(p, translate))
        ]
        if glossed and body[match.end() : match.end() + 4].strip().startswith("("):
            continue  # "Kunming Declaration (《昆明宣言》)": the gloss is the name
        if parts and len(known) / len(parts) <= 0.5:
            return False, f"the cited text does not name “{phrase.strip()}”"
    return True, ""


_EN_TITLE_TEXT = "president chancellor prime minister premier deputy vice director director-general"
_EN_TITLE_WORDS = frozenset(_EN_TITLE_TEXT.split())


def _english_titles(claim: str, sentence: str, translate: Translate) -> tuple[bool, str]:
    sentence_s = normalize(sentence)
    lowered = claim.lower()
    for title, chinese in _EN_TITLES.items():
        for match in re.finditer(rf"\b{re.escape(title)}\b", lowered):
            if not any(c in sentence_s for c in chinese):
                return False, f"the cited text does not say “{title}”"
            name = re.match(r"\s+([A-Z][\w\-]+)", claim[match.end() :])
            names = _translations(name.group(1), translate) if name else []
            names = [n for n in names if n in sentence_s]
            if names and not any(c + n in sentence_s or n + c in sentence_s for c in chinese for n in names):
                return False, f"the cited text does not call {name.group(1)} “{title}”"
    return True, ""


def _english_negation(claim: str, quote: str, sentence: str, translate: Translate) -> tuple[bool, str]:
    stated = _english_negation_word(claim)
    if is_english(sentence):  # English text: its own negations, no term map between
        return _negated_alike(stated, _english_negation_word(quote or sentence))
    words = {t for w in _content_words(claim) for t in _translations(w, translate) if len(t) >= 2}
    clauses = [c for c in _CLAUSE.findall(quote or sentence)]
    covered = [c for c in clauses if _covers_translated(words, c)] or (clauses if len(clauses) == 1 else [])
    said = set().union(*(_negations(c) for c in covered)) if covered else set()
    return _negated_alike(stated, min(said, default=""))


def _covers_translated(words: set[str], clause: str) -> bool:
    terms = [t for t in key_terms(clause) if t not in _FRAMING and t not in _NEGATIONS]
    return bool(terms) and sum(any(t in w or w in t for w in words) for t in terms) / len(terms) >= 0.5


# --- where the quote is -----------------------------------------------------------------------


def _squash_map(text: str) -> tuple[str, list[int]]:
    """The text simplified, lower-case, without whitespace or punctuation, and each kept
    character's position in the original."""
    converted = t2s(text)
    chars, where = [], []
    for i, char in enumerate(converted):
        if char.isalnum() or _CJK.match(char):
            chars.append(char.lower())
            where.append(i)
    return "".join(chars), where


def locate(quote: str, source: str, fuzz: float = 0.85) -> str | None:
    """The source's own words for the quote: exact after normalising, else the best window
    that matches at least `fuzz` of it (a model drops or changes a character now and then)."""
    q, _ = _squash_map(quote)
    s, where = _squash_map(source)
    if not q:
        return None
    at = s.find(q)
    if at < 0:
        if len(q) < 6:
            return None
        match = difflib.SequenceMatcher(None, q, s, autojunk=False).find_longest_match(0, len(q), 0, len(s))
        start = max(0, match.b - match.a)
        window = s[start : start + len(q)]
        if difflib.SequenceMatcher(None, q, window, autojunk=False).ratio() < fuzz:
            return None
        at = start
    end = min(at + len(q), len(where)) - 1
    converted = t2s(source)
    stop = where[end] + 1
    while stop < len(converted) and converted[stop] in "》”’」』）)":
        stop += 1
    return converted[where[at] : stop]


def containing_sentence(quote: str, source: str) -> str:
    """The sentence(s) of the source that hold the quote: the scope its facts are read in."""
    text = t2s(source)
    start = text.find(quote)
    if start < 0:
        return text
    end = start + len(quote)
    spans = [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group(0).strip()]
    picked = [text[a:b] for a, b in spans if a < end and b > start]
    return "".join(picked) or text


def _claim_terms(claim: str, translate: Translate) -> list[str]:
    """The claim's content terms in the source's language (English words through the term map)."""
    terms = [t for t in key_terms(claim) if t not in _FRAMING and _CJK.search(t)]
    if is_english(claim):
        terms += [t for w in _content_words(claim) for t in _translations(w, translate) if len(t) >= 2]
    else:
        terms += [t for t in key_terms(claim) if not _CJK.search(t)]
    return terms


def best_sentence(claim: str, source: str, terms: list[str]) -> str:
    """Without a quote: the sentence (or two neighbours) of the source that shares most with the claim."""
    text = t2s(source)
    sentences = [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0).strip()] or [text]
    candidates = sentences + [a + b for a, b in zip(sentences, sentences[1:], strict=False)]
    numbers = {v for v, _, _ in numbers_with_units(claim)}

    def score(candidate: str) -> float:
        normal = normalize(candidate)
        lexical = sum(t in normal for t in terms) / (len(terms) or 1)
        counted = {v for v, _, _ in numbers_with_units(candidate)}
        return lexical + 0.5 * (len(numbers & counted) / (len(numbers) or 1)) - 0.001 * len(candidate)

    return max(candidates, key=score)


class QuotedStream(VerifiedStream):
    """citations.VerifiedStream for an LLM's draft with `[n: quote]` markers: sentences are let
    through as they complete (markers.next_sentence) and only when FactVerifier holds them; a
    removed sentence never reaches the screen. The user sees `[n]`; `quotes` gives, per marker,
    the source's words the kept sentences rest on, for the citation card."""

    shows_as_written = False  # the draft's markers hold quotes: the reader sees [n] only

    def __init__(self, facts: FactVerifier, chunks: dict[int, Chunk]) -> None:
        super().__init__(Verifier(), chunks)
        self.facts = facts

    def feed(self, text: str) -> Iterator[str]:
        self.raw += text
        self._buffer += text
        while (end := next_sentence(self._buffer)) is not None:
            piece, self._buffer = self._buffer[:end], self._buffer[end:]
            yield from self._check(piece, final=False)

    def finish(self, may_be_cut: bool = False) -> Iterator[str]:
        rest, self._buffer = self._buffer, ""
        yield from self._check(rest, final=may_be_cut)

    def _claims(self, piece: str) -> list[tuple[str, tuple]]:
        return claims(piece)

    def _verify(self, claim: str, markers: tuple) -> CheckedSentence:
        return self.facts.check(claim, markers, self.chunks)

    @property
    def quotes(self) -> dict[int, str]:
        found: dict[int, list[str]] = {}
        for sentence in self.kept:
            for n, quote in zip(sentence.markers, sentence.quotes, strict=False):
                found.setdefault(n, []).append(quote.strip())
        return {n: "…".join(dict.fromkeys(quotes)) for n, quotes in found.items()}
