"""Sentences and clauses: where they end, how they are split, how pieces join again.

One set of end characters serves ingest (chunk windows never cut a sentence, page-break
repair), answering (sentence choice), verification (one claim per sentence) and the LLM stream
(a sentence is shown once it is complete). What it does not do: tokenize (terms.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qa.text.language import CJK
from qa.text.markers import TRAILING_MARKERS
from qa.text.stopwords import is_stop_word

if TYPE_CHECKING:
    from qa.records import Chunk

STRONG_END = "。！？!?…；;"  # ends a sentence wherever it stands
SENTENCE_END = STRONG_END + "."  # "." ends one only before whitespace
QUOTE_CLOSERS = "”’」』）)\"'"  # close a quotation or an aside
CLOSERS = QUOTE_CLOSERS + "》〉】"  # may follow the end and still belong to the sentence
CLAUSE_END = STRONG_END + "，,：:.\n"

_ENDS = re.escape(STRONG_END)
_QUOTE_MARKS = '”’」』"'  # close a quotation (not an aside in brackets)
# Abbreviations whose full stop ends no sentence: "e.g.", "i.e.", "cf.", "vs." never stand last;
# "Fig. 3", "No. 5", "approx. 20" are followed by their number, "etc." ends one only before a
# capital. (A lower-case word after a full stop may open a sentence: "fwbuilder is among them.")
_NEVER_LAST = "".join(rf"(?<!\b(?i:{word}))" for word in (r"e\.g", r"i\.e", "eg", "ie", "cf", "vs", "viz"))
_BEFORE_NUMBER = "".join(
    rf"(?!(?<=\b(?i:{word}))\.\s+\d)" for word in ("fig", "no", "nos", "approx", "ca", "vol", "pp", "p")
)
_MID_SENTENCE = rf"{_NEVER_LAST}{_BEFORE_NUMBER}(?!(?<=\betc)\.\s+[a-z])"
# A full stop ends a sentence before whitespace (its closing quotation marks with it), except after
# a section number ("6.2.5. 标题", "3.1.4. LTSP 服务器") unless a capital letter follows a plain
# number ("in version 2. The next"), and after an abbreviation.
_FULL_STOP = (
    rf"(?<!\d){_MID_SENTENCE}\.[{_QUOTE_MARKS}']*(?=\s)"
    r"|(?<!\.\d)(?<!\.\d\d)(?<=\d)\.(?=\s+[A-Z])"
)
# A list or section mark opening a sentence is part of it: "1. Introduction", "a. Install it.",
# "“4. Memcheck: a memory error detector” says:".
_OPENING_MARK = r"(?:\s*[“\"‘']?(?:\d{1,3}|[A-Za-z])\.(?=\s))?"
# A quotation closed right before a citation marker ends its sentence however it ends inside: an
# answer quotes a lead-in ("…, type:") or a line of code, then frames the next quote.
_QUOTE_CITED = rf"[{_QUOTE_MARKS}]+(?=\s*\[\d{{1,3}}\])"
_SENTENCE = rf"{_OPENING_MARK}[^{_ENDS}]*?(?:[{_ENDS}]+[{re.escape(CLOSERS)}]*|{_FULL_STOP}|{_QUOTE_CITED}|$)"
_SENTENCE_RE = re.compile(_SENTENCE, re.DOTALL)
SENTENCE_WITH_MARKERS = re.compile(_SENTENCE + TRAILING_MARKERS, re.DOTALL)
_CLAUSE = re.compile(rf"[^{re.escape(CLAUSE_END)}]+[{re.escape(CLAUSE_END)}]*")
# A complete sentence at the front of a stream: its end (or a line end), any markers, then more text.
_COMPLETE = re.compile(
    rf"^({_OPENING_MARK}.*?(?:[{_ENDS}]+[{re.escape(CLOSERS)}]*|\n|\.\s))({TRAILING_MARKERS})(?=\s*[^\s\[])",
    re.DOTALL,
)


# A question mark, then at most closing quotes: 《我们为何保护生物多样性？》 names a work, it asks nothing.
_QUESTION_END = re.compile(rf"[?？]\s*[{re.escape(QUOTE_CLOSERS)}]*\s*$")


def is_question(text: str) -> bool:
    """Whether the sentence asks something (and so, in an answer, claims nothing)."""
    return bool(_QUESTION_END.search(text))


# An English question opens with a question word or an auxiliary; "??? frames" or "such as ?garbage?"
# end in a question mark and ask nothing of their own.
_ASKING = re.compile(
    r"^\W*(what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could"
    r"|should|would|will|may|must|has|have)\b",
    re.IGNORECASE,
)


def question_parts(text: str) -> list[str]:
    """The questions a text asks when it asks more than one ("--depth 默认是多少？调大有什么代价？"),
    in order; else the text alone. Every sentence ending in a question mark must read as one: a
    Chinese question, or an English one opening with a question word."""
    parts = [part.strip() for part in split_sentences(text) if is_question(part)]
    asking = [part for part in parts if CJK.search(part) or _ASKING.match(part)]
    return asking if len(asking) >= 2 and len(asking) == len(parts) else [text]


_OPENS_AFTER = ("\n", ".", "!", "?", ":", ";", "。", "！", "？", "：", "；")


def opens_sentence(before: str) -> bool:
    """Whether a word after the text `before` opens a sentence or a line (opening quotes and
    brackets aside), so that its capital letter says nothing about it being a name."""
    stripped = before.rstrip(" \t“‘\"'(（「『")
    return not stripped or stripped.endswith(_OPENS_AFTER)


def marks_a_name(word: str, before: str) -> bool:
    """Whether a word's capital letter marks a name: it does not open the text or one of its
    sentences, and it is no function word ("How To Install", "Is It Free" capitalise those too)."""
    return word[:1].isupper() and not opens_sentence(before) and not is_stop_word(word.lower())


def title_cased(text: str) -> bool:
    """Whether most words after the first are capitalised ("How To Install Valgrind"): then a
    capital marks no name."""
    words = re.findall(r"[A-Za-z]+", text)[1:]
    return sum(word[0].isupper() for word in words) * 2 > len(words)


def ends_sentence(text: str) -> bool:
    stripped = text.rstrip().rstrip(CLOSERS)
    return bool(stripped) and stripped[-1] in SENTENCE_END


# A line of its own that ends no sentence: a title, a byline or a caption is short and holds no
# clause mark; running text cut off by a page end is longer or holds one.
_CLAUSE_MARK = re.compile(r"[，,、；;：:]")
LINE_OF_ITS_OWN = 30  # characters


def stops_mid_sentence(text: str) -> bool:
    """Whether text breaks off inside a sentence that the next block continues (a page end in a
    PDF, or in text copied from one), not a line of its own ("青岛市楼山乡成为专利乡",
    "本报记者郑德刚") above the paragraph that follows."""
    if ends_sentence(text):
        return False
    stripped = text.strip()
    return len(stripped) > LINE_OF_ITS_OWN or bool(_CLAUSE_MARK.search(stripped))


def split_sentences(text: str, lines: bool = False) -> list[str]:
    """Sentences with their end and closing quotes; whitespace around them kept. With `lines`, a
    line break ends one too: the items of a list, the rows of a table and the lines of code are
    each a sentence, however they are punctuated."""
    if lines:
        return [piece for line in _item_lines(text) for piece in split_sentences(line)]
    return [piece for piece in (m.group(0) for m in _SENTENCE_RE.finditer(text)) if piece.strip()]


def chunk_sentences(chunk: Chunk) -> list[str]:
    """The units an answer quotes (and sentence vectors are stored for): sentences, each line of a
    list, table or code chunk, or the whole text when it has no sentence."""
    return split_sentences(chunk.text, chunk.structured) or [chunk.text]


# A list item's bullet sign, as documents of every format set one.
BULLET_SIGN = re.compile(r"^\s*[•◦▪▫●○■□◆◇‣⁃∙·*+\-–—](?=\s)")
# A line opening with a command-line option ("-c, --check checks the syntax only") is an item of a
# program's option list, as its --help and manual page print them.
_OPTION_LINE = re.compile(r"\s*--?[A-Za-z0-9]")


def _item_lines(text: str) -> list[str]:
    """Lines, except that a line not ending in punctuation runs on into the next: a table's
    cells ("> 1000" / "强制安装…。") and a code block stay one piece; a line opening with an
    option starts a piece of its own, and a bulleted item is one ("* flag {boolean}")."""
    out: list[str] = []
    pending = ""
    for line in text.split("\n"):
        item = BULLET_SIGN.match(line)
        if pending and (item or _OPTION_LINE.match(line)):
            out.append(pending)
            pending = ""
        pending = f"{pending}\n{line}" if pending else line
        if item or pending.rstrip().rstrip(CLOSERS)[-1:] in CLAUSE_END:
            out.append(pending)
            pending = ""
    return [*out, pending] if pending else out


def sentences_with_markers(line: str) -> list[str]:
    """Sentences, each with the `[n]` markers that follow its end."""
    return [m.group(0) for m in SENTENCE_WITH_MARKERS.finditer(line) if m.group(0).strip()]


def clauses(text: str) -> list[str]:
    """Clauses: sentences cut at commas and colons too, each with its punctuation."""
    return _CLAUSE.findall(text)


def complete_sentence(buffer: str) -> re.Match | None:
    """The first complete sentence of a streamed buffer (group 1) and its markers (group 2),
    once text after them shows the sentence is over."""
    return _COMPLETE.match(buffer)


def join_pieces(left: str, right: str) -> str:
    """Chinese text joins without a space, Latin words with one; a line-end hyphen joins directly."""
    if not left or not right:
        return left + right
    if left[-1] == "-" and left[-2:-1].isalpha() and right[0].isalpha():
        return left + right
    if left[-1].isascii() and right[0].isascii():
        return f"{left} {right}"
    return left + right


def join_sentences(sentences: Sequence[str]) -> str:
    """Chinese sentences run on; a sentence ending in Latin punctuation is followed by a space."""
    out = ""
    for sentence in sentences:
        sentence = sentence.strip()
        if out and (out[-1].isascii() or sentence[:1].isascii()):
            out += " "
        out += sentence
    return out
