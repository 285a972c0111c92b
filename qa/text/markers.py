"""Citation markers, the one copy of their syntax.

`[n]` after a sentence points at the n-th retrieved chunk: the extractive answerer writes it, the
reader sees it, and sentence splitting keeps it with its sentence (MARKER, TRAILING_MARKERS).
A model is asked for `[n: verbatim quote]` and also writes `【n: quote】`, a full-width colon or
no quote (MODEL_MARKER, whose forms include `[n]`); query/markers.py reads those, binding each to
its sentence, and the reader is shown `[n]`. Document text is only ever stripped of `[n]`:
a `【1】` in a document is the document's own, not a citation.
"""

from __future__ import annotations

import re

MARKER = re.compile(r"\s*\[(\d{1,3})\]")
TRAILING_MARKERS = r"(?:\s*\[\d{1,3}\])*"  # the markers a sentence may carry after its end
# `[12]`, `[12: quote]`, `[12：quote]`, `【12: quote】`. A quote runs to the first closing bracket
# that closes no bracket of its own: manuals write "--x=<4..1000> [default: 72]", and the quote of
# it must not end inside it. A stray opening bracket is the quote's too.
QUOTE_BODY = r"(?:[^\[\]【】]|\[(?!\d{1,3}\s*[\]:：])(?:[^\[\]【】]*\])?)*"
QUOTE_BALANCED = r"(?:[^\[\]【】]|\[[^\[\]【】]*\])*"  # no stray bracket: complete in a stream


def model_marker(quote: str) -> re.Pattern[str]:
    """A model's marker whose quote may hold what the pattern `quote` matches."""
    return re.compile(rf"\s*[\[【](\d{{1,3}})(?:\s*[:：]\s*({quote}))?[\]】]")


MODEL_MARKER = model_marker(QUOTE_BODY)


def marker_numbers(text: str) -> tuple[int, ...]:
    """The distinct marker numbers in the text, in order."""
    return tuple(dict.fromkeys(int(n) for n in MARKER.findall(text)))


def strip_markers(text: str) -> str:
    return MARKER.sub("", text)


def strip_model_markers(text: str) -> str:
    """A model's text without any of its markers, quotes included."""
    return MODEL_MARKER.sub("", text)
