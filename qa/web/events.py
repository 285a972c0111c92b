"""An answer streamed as server-sent events, its answering slot held only while it runs.

Shared by every door that streams (/api/ask/stream, /v1/chat/completions): the door says how a
piece, an error and the end are written (`EventShape`); the slot, the worker thread, the
hang-up watcher and the time limit are the same for all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

from fastapi.responses import Response
from starlette.types import Message, Receive, Scope, Send

from qa.errors import QAError
from qa.records import Answer
from qa.web.concurrency import AnswerSlots, ClientGone, pieces_in_thread, unless_gone


class EventShape(Protocol):
    """How one door writes its stream: a piece or the final Answer, a late error, the end, and
    the JSON error response for a refusal before anything was sent."""

    closing: str

    def event(self, item: str | Answer) -> str: ...

    def error_event(self, message: str) -> str: ...

    def error_response(self, exc: BaseException) -> Response: ...


class AnswerEvents(Response):
    """An answer as server-sent events, its slot held only while this response runs.

    The whole exchange lives in one `__call__`: wait for a slot (503 after QA_QUEUE_WAIT_S),
    compute the first piece (a refusal before it is a JSON 4xx, since nothing was sent yet), then
    stream. A watcher reads the connection; a hang-up cancels the exchange at once, which
    releases the slot and stops the worker before its next piece. Past QA_ANSWER_TIMEOUT_S the
    stream ends with an `error` event.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        slots: AnswerSlots,
        make: Callable[[], Iterator[str | Answer]],
        timeout_s: float,
        door: EventShape,
    ) -> None:
        super().__init__(media_type=self.media_type)
        self.raw_headers = [  # no content-length: the length is not known
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
        ]
        self.slots = slots
        self.make = make
        self.timeout_s = timeout_s
        self.door = door

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(ClientGone):  # nobody is left to tell; the slot is already free
            await unless_gone(receive, lambda: self._exchange(scope, send))

    async def _exchange(self, scope: Scope, send: Send) -> None:
        started = False
        try:
            async with self.slots.hold():
                pieces = pieces_in_thread(self.make, self.timeout_s)
                try:
                    async for item in pieces:
                        if not started:
                            await send(
                                {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                            )
                            started = True
                        await send(_body(self.door.event(item), more=True))
                finally:
                    await pieces.aclose()
        except Exception as exc:  # noqa: BLE001 - one sentence instead of a broken stream
            if not started:
                await self.door.error_response(exc)(scope, _nothing, send)
                return
            known = isinstance(exc, QAError)
            said = str(exc) if known else "Something went wrong while answering."
            with contextlib.suppress(Exception):  # the connection itself may be what failed
                await send(_body(self.door.error_event(said), more=True))
        if not started:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        with contextlib.suppress(Exception):
            await send(_body(self.door.closing if started else "", more=False))


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _body(text: str, more: bool) -> Message:
    return {"type": "http.response.body", "body": text.encode(), "more_body": more}
