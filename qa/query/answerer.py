"""The contract every answerer meets, extractive or LLM: one streaming method, `draft`.

An answerer proposes; it does not verify and it does not refuse. `draft` yields the proposed
text with `[n]` markers in pieces as they are produced, and last one `Draft` saying what it knows
about them (the quote each marker rests on, the backend that wrote it). The pipeline checks every
sentence against the paragraph it cites, in one place, whichever answerer drafted it; a draft
with no text means the answerer found nothing to say.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from qa.records import RetrievalResult


@dataclass(frozen=True)
class Draft:
    """The end of a draft: per marker the quote it rests on, when the answerer chose one, and
    whether the text may stop mid-sentence (an LLM cut off by its token limit)."""

    quotes: dict[int, str] = field(default_factory=dict)
    backend: str = ""
    raw: str | None = None
    may_be_cut: bool = False


class Answerer(Protocol):
    mode: str

    def draft(
        self, question: str, results: Sequence[RetrievalResult], language: str
    ) -> Iterator[str | Draft]: ...
