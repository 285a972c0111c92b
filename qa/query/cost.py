"""What one question may cost: a long question waits for no one and blocks no one.

Retrieving for a question costs time in proportion to its length (jieba's part-of-speech tagging
alone takes ~3 ms a character of ordinary text and ~13 ms of rare characters on one core, so a
2,000-character question runs for seconds to tens of seconds, and it holds the GIL meanwhile).
Eight of them once filled every answer slot and made a normal question wait 23 s. Here at most
QA_LONG_QUESTION_SLOTS long questions are worked on at once; one more is refused at once (503 with
Retry-After) instead of queueing, because a queued one would hold an answer slot while it waits.
A place is given back when the work itself ends (the answer's generator is closed), not when the
request does, so a client that hangs up cannot start a second long question beside the first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from qa.config import Settings
from qa.errors import BusyError

RETRY_AFTER_S = 5  # about what one long question takes alone


class LongQuestions:
    """At most `slots` questions longer than `long_chars` worked on at the same time."""

    def __init__(self, settings: Settings) -> None:
        self.long_chars = settings.long_question_chars
        self.slots = settings.long_question_slots
        self._free = threading.BoundedSemaphore(self.slots)

    def is_long(self, question: str) -> bool:
        return len(question) > self.long_chars

    @contextmanager
    def admit(self, question: str) -> Iterator[None]:
        """Run the block for `question`; a long one needs a free place (else BusyError)."""
        if not self.is_long(question):
            yield
            return
        if not self._free.acquire(blocking=False):
            raise BusyError(
                f"Other long questions are being answered (at most {self.slots} longer than "
                f"{self.long_chars} characters at a time: QA_LONG_QUESTION_SLOTS, "
                "QA_LONG_QUESTION_CHARS); try again shortly or ask a shorter question.",
                retry_after_s=RETRY_AFTER_S,
            )
        try:
            yield
        finally:
            self._free.release()
