"""One writer at a time on a Chroma server, across hosts: a lease held in the server itself.

Chroma has no compare-and-set on metadata, but creating a collection whose name exists fails
atomically on the server; that is the primitive. The lease for collection C is a tiny
collection named C-writer-<epoch>; whoever creates the next epoch holds it. Its metadata says
who holds it and until when; the holder renews it from a background thread, so an ingest may
take as long as it needs. A lease not renewed by its expiry (its host was killed, or is
frozen) may be taken over by creating the next epoch; the old holder then finds a newer epoch
at its next renewal or commit and stops (`check`). Host clocks are assumed to agree to well
within `lease_seconds` (NTP). The lease is deleted on release.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import chromadb

from qa.errors import StoreError, WriterBusyError

SUFFIX = "-writer-"


def holder_name() -> str:
    """Host, process and a random part: two writers never share a name, and an operator can tell who it is."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WriterLease:
    """The right to write one server collection, until released or not renewed for `seconds`."""

    def __init__(self, client: chromadb.ClientAPI, collection: str, seconds: float) -> None:
        self.client = client
        self.collection = collection
        self.seconds = seconds
        self.holder = holder_name()
        self.epoch = 0
        self._stop = threading.Event()
        self._lost: str | None = None
        self._renewer: threading.Thread | None = None

    @property
    def prefix(self) -> str:
        return f"{self.collection}{SUFFIX}"

    def name(self, epoch: int) -> str:
        return f"{self.prefix}{epoch:08d}"

    def epochs(self) -> list[int]:
        pattern = re.compile(re.escape(self.prefix) + r"(\d{8})$")
        names = (getattr(c, "name", c) for c in self.client.list_collections())
        return sorted(int(m.group(1)) for m in map(pattern.match, names) if m)

    def acquire(self) -> None:
        """Take the lease or say who holds it; an expired lease is taken over."""
        epochs = self.epochs()
        latest = epochs[-1] if epochs else 0
        if latest:
            metadata = self._metadata(latest)
            if metadata is not None and float(metadata.get("expires", 0)) > time.time():
                raise WriterBusyError(
                    f"Another host ({metadata.get('holder', '?')}) is writing to the collection "
                    f"'{self.collection}'; try again when it has finished."
                )
        try:
            self.client.create_collection(self.name(latest + 1), metadata=self._stamp())
        except Exception:  # noqa: BLE001 - chromadb reports "already exists" as a generic error
            if latest + 1 in self.epochs():
                raise WriterBusyError(
                    f"Another host took the writer lease of '{self.collection}' first; try again "
                    "when it has finished."
                ) from None
            raise
        self.epoch = latest + 1
        for old in epochs:
            self._drop(old)
        self._renewer = threading.Thread(target=self._renew_until_stopped, name="lease-renewer", daemon=True)
        self._renewer.start()

    def check(self) -> None:
        """Raise if the lease was lost (taken over after missed renewals): do not commit then."""
        if self._lost is None and self.epochs()[-1:] != [self.epoch]:
            self._lost = "another host took over the writer lease"
        if self._lost is not None:
            raise StoreError(f"This ingest stopped holding the writer lease ({self._lost}); run it again.")

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self.epoch and self._lost is None:
            self._drop(self.epoch)

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                if self.epochs()[-1:] != [self.epoch]:
                    self._lost = "another host took over the writer lease"
                    return
                self.client.get_collection(self.name(self.epoch)).modify(metadata=self._stamp())
            except Exception as exc:  # noqa: BLE001 - a renewal that fails is retried, then expires
                if time.time() > self._expires:
                    self._lost = f"renewing it failed: {exc}"
                    return

    def _stamp(self) -> dict[str, str | float]:
        self._expires = time.time() + self.seconds
        return {"holder": self.holder, "expires": self._expires}

    def _metadata(self, epoch: int) -> dict | None:
        try:
            return self.client.get_collection(self.name(epoch)).metadata or {}
        except Exception:  # noqa: BLE001 - released between listing and reading
            return None

    def _drop(self, epoch: int) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.client.delete_collection(self.name(epoch))


@contextmanager
def writer_lease(client: chromadb.ClientAPI, collection: str, seconds: float) -> Iterator[WriterLease]:
    lease = WriterLease(client, collection, seconds)
    lease.acquire()
    try:
        yield lease
    finally:
        lease.release()
