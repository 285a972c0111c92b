"""An answer as a stream of text pieces, for the SSE route and the chat page alike: the pipeline's
own verified pieces when it streams, else the finished answer replayed in small pieces."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence

from qa.query.pipeline import Pipeline
from qa.records import Answer

LONG_PIECE = 12  # characters; longer pieces are replayed in small ones


def answer_stream(
    pipeline: Pipeline,
    question: str,
    history: Sequence[dict],
    delay_s: float = 0.0,
    documents: Sequence[str] = (),
) -> Iterator[str | Answer]:
    """Text pieces of the answer as they are produced, then the finished Answer.

    Uses `pipeline.ask_stream` when the pipeline has one (it yields str pieces and finally the
    Answer), else `ask`; `documents` scopes the question to those documents. A piece longer
    than a few words (an extractive answer arrives whole) is replayed in small pieces `delay_s`
    apart, so every answer reads as a stream. Errors are raised before the first piece, so
    callers can still answer with a 4xx.
    """
    native = getattr(pipeline, "ask_stream", None)
    scope = {"documents": documents} if documents else {}  # a pipeline without scopes still streams
    items = iter(
        native(question, history, **scope) if callable(native) else [pipeline.ask(question, history, **scope)]
    )
    first = next(items)  # surfaces InputError and friends before anything is sent
    for item in itertools.chain([first], items):
        if isinstance(item, Answer):
            if not callable(native):
                yield from _paced(item.answer, delay_s)
            yield item
            return
        if isinstance(item, dict) and item.get("type") == "token":
            item = str(item.get("text", ""))
        if isinstance(item, str):
            yield from _paced(item, delay_s) if len(item) > LONG_PIECE else [item]


def _paced(text: str, delay_s: float) -> Iterator[str]:
    for index, piece in enumerate(split_for_streaming(text)):
        if delay_s and index:
            time.sleep(delay_s)
        yield piece


def split_for_streaming(text: str, size: int = 4) -> list[str]:
    """Pieces of about `size` characters that never split a `[n]` marker."""
    pieces: list[str] = []
    current = ""
    for char in text:
        current += char
        inside_marker = "[" in current and "]" not in current[current.rfind("[") :]
        if len(current) >= size and not inside_marker:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces
