"""Answer slots and answer work that cannot leak, whatever the client does.

An answer is blocking work (embedding, Chroma, an LLM call). Run in a sync route or a sync
generator behind Starlette's StreamingResponse, a client that hangs up can leave the generator
suspended for ever, its `finally` never run and its slot never given back: four such clients
once stopped every answer. Here instead:

- `AnswerSlots.hold()` is an async context manager: a slot is released when the block exits,
  by return, exception, timeout or cancellation (a client's disconnect cancels the request's
  task). A request waits at most `QA_QUEUE_WAIT_S` for a slot, then gets 503 with Retry-After.
- `pieces_in_thread()` runs the blocking generator in a worker thread of its own (never the
  shared thread pool, so /api/health and the pages are not starved) and hands each piece over
  a queue. When the consumer stops, for any reason, a stop flag is set: the worker stops before
  the next piece and closes the generator. The whole answer is bounded by `QA_ANSWER_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from qa.errors import BusyError, TimeLimitError


class Overloaded(BusyError):
    """No slot came free in time: a 503 with Retry-After."""


class AnswerSlots:
    """At most `limit` answers at once; a waiter gives up after `wait_s`."""

    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self._semaphore = asyncio.Semaphore(limit)
        self.busy = 0

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.wait_s):  # not wait_for: on 3.11 it can swallow a cancel
                await self._semaphore.acquire()
        except TimeoutError:
            raise Overloaded(
                f"All {self.limit} answer slots are busy (QA_CONCURRENCY_LIMIT); try again shortly.",
                retry_after_s=max(1, round(self.wait_s)),
            ) from None
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1
            self._semaphore.release()


_DONE = object()


async def pieces_in_thread(
    make: Callable[[], Iterator[Any]], timeout_s: float, name: str = "answer"
) -> AsyncIterator[Any]:
    """The items of the blocking iterator `make()`, produced in a worker thread.

    Exceptions of the iterator are re-raised here. Leaving the `async for` early (a hang-up, a
    cancelled task, a timeout) stops the worker at its next piece. Raises TimeLimitError when
    the whole iteration takes longer than `timeout_s`.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()

    def hand_over(item: Any) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def work() -> None:
        iterator = None
        try:
            iterator = make()
            for item in iterator:
                if stop.is_set():
                    break
                hand_over(item)
            hand_over(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            hand_over(exc)
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                close()

    threading.Thread(target=work, name=f"qa-{name}", daemon=True).start()
    deadline = loop.time() + timeout_s
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    item = await queue.get()
            except TimeoutError:
                raise TimeLimitError(
                    f"The answer took longer than {timeout_s:g} s (QA_ANSWER_TIMEOUT_S) and was stopped."
                ) from None
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


async def result_in_thread(call: Callable[[], Any], timeout_s: float, name: str = "answer") -> Any:
    """`call()` run in a worker thread of its own, bounded by `timeout_s` (TimeLimitError)."""
    pieces = pieces_in_thread(lambda: iter([call()]), timeout_s, name)
    try:
        async for item in pieces:
            return item
        raise RuntimeError("the call returned nothing")
    finally:
        await pieces.aclose()


class ClientGone(Exception):
    """The client hung up before its answer was ready; the work was stopped."""


async def unless_gone(receive: Callable[[], Any], work: Callable[[], Any]) -> Any:
    """The result of the coroutine `work()`, cancelled as soon as the client disconnects.

    `receive` is the request's ASGI receive, read only after the body was consumed: its next
    message is `http.disconnect` when the client goes away."""
    task = asyncio.ensure_future(work())

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()  # the client is gone, or this request itself was cancelled
            await asyncio.wait({task})  # let its `finally` blocks (the slot) run now
    if task.cancelled():
        raise ClientGone("The client hung up before the answer was ready.")
    return task.result()
