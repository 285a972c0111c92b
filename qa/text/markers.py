"""Citation markers: `[n]` after a sentence points at the n-th retrieved chunk."""

from __future__ import annotations

import re

MARKER = re.compile(r"\s*\[(\d{1,3})\]")
TRAILING_MARKERS = r"(?:\s*\[\d{1,3}\])*"  # the markers a sentence may carry after its end


def marker_numbers(text: str) -> tuple[int, ...]:
    """The distinct marker numbers in the text, in order."""
    return tuple(dict.fromkeys(int(n) for n in MARKER.findall(text)))


def strip_markers(text: str) -> str:
    return MARKER.sub("", text)
