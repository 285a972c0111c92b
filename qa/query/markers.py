"""Reading an LLM's citation markers: `[n]` and the quote-anchored `[n: verbatim quote]`.

The format is documented in prompts/README.md, its syntax once in qa/text/markers.py
(MODEL_MARKER). A model writes the marker before or after the sentence's stop, several side by
side (`[1: q1][3: q3]`), with a full-width colon, or without a quote at all; a quote may itself
hold 。 or a stray bracket. `claims` turns finished text into (sentence, cites) pairs;
`next_sentence` finds where the first sentence of a stream buffer ends, so nothing is shown
before its markers have arrived. What it does not do: check anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.query.citations import split_claims
from qa.text.markers import MODEL_MARKER, QUOTE_BALANCED, QUOTE_BODY, model_marker
from qa.text.sentences import QUOTE_CLOSERS

# A marker still arriving: its number, or its quote so far (perhaps inside a bracket of its own).
_OPEN = re.compile(rf"[\[【]\d{{0,3}}(?:\s*[:：]{QUOTE_BODY})?$")
# A marker surely complete while more text may come: "[1: --x [default: 72]" is a quote still
# open (its "]" closes "[default"), though MODEL_MARKER would read the finished text so.
_COMPLETE = model_marker(QUOTE_BALANCED)
_END = "。！？!?\n"


@dataclass(frozen=True)
class Cite:
    n: int
    quote: str | None = None


def claims(text: str) -> list[tuple[str, tuple[Cite, ...]]]:
    """Sentences without markers, each with the cites bound to it (a marker binds backwards)."""
    cites: list[Cite] = []

    def numbered(match: re.Match) -> str:
        quote = (match.group(2) or "").strip().strip("“”\"'「」") or None
        cites.append(Cite(int(match.group(1)), quote))
        return f" [{len(cites) - 1}]"

    masked = MODEL_MARKER.sub(numbered, text)
    out = []
    for sentence, indices in split_claims(masked):
        bound = tuple(dict.fromkeys(cites[i] for i in indices if i < len(cites)))
        out.append((sentence, bound))
    return out


def next_sentence(buffer: str) -> int | None:
    """Where the first complete sentence of a streamed buffer ends, markers included; None while
    it is unfinished or while a marker behind it may still be arriving."""
    masked = _mask(buffer)
    for i, char in enumerate(masked):
        if char in _END or (char == "." and i + 1 < len(masked) and masked[i + 1].isspace()):
            end = i + 1
            while end < len(masked) and masked[end] in QUOTE_CLOSERS:
                end += 1
            while True:
                match = _COMPLETE.match(buffer, end)
                if not match:
                    break
                end = match.end()
            rest = buffer[end:]
            if _OPEN.search(rest.strip()[:400]) and rest.strip().startswith(("[", "【")):
                return None  # a marker behind the stop is still arriving
            if rest.strip():
                return end
            return None
    return None


def _mask(text: str) -> str:
    """The text with every complete marker's inside blanked, and an open marker cut off, so a
    stop inside a quote is not taken for the end of the sentence."""
    out = _COMPLETE.sub(lambda m: " " * len(m.group(0)), text)
    open_marker = _OPEN.search(out)
    return out[: open_marker.start()] if open_marker else out
