"""Documents added and removed from the web: upload checks, all-or-nothing ingest, removal.

Used by the HTTP routes and the page's admin panel alike (qa/api.py, qa/ui.py), so both
refuse the same things with the same sentence; each refusal is a QAError subclass that the
API maps to its status (401, 403, 404, 409, 413, 400).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, Field

from qa.config import Settings
from qa.errors import (
    AccessError,
    ChangesDisabledError,
    IndexMissingError,
    InputError,
    NameTakenError,
    NotFoundError,
    QAError,
    TooLargeError,
    WriterBusyError,
)
from qa.index.backend import index_backend
from qa.index.store import StoredDocument
from qa.ingest.documents import SUPPORTED_SUFFIXES
from qa.ingest.sync import IngestReport, ingest, remove_documents
from qa.query.pipeline import Pipeline

MAX_UPLOAD_FILES = 20  # files in one upload
# Bidi controls and zero-width characters: a name holding them reads as another name.
INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)
COPY_BLOCK = 1 << 20


class DocumentInfo(BaseModel):
    doc_id: str = Field(description="Its file name, or its path inside an ingested folder.")
    title: str
    chunks: int
    ingested_at: str = Field(description="When it was last ingested, ISO 8601, UTC.")
    uploaded: bool = Field(description="Added through the web (its file lives in the upload folder).")


class DocumentList(BaseModel):
    documents: list[DocumentInfo]
    chunks: int = Field(description="Chunks in the whole collection.")


class UploadResult(BaseModel):
    documents: list[DocumentInfo] = Field(description="The uploaded documents as they are now stored.")
    chunks_added: int
    chunks_removed: int = Field(description="Chunks of earlier versions of the same files, now replaced.")
    total_chunks: int


class RemoveResult(BaseModel):
    doc_id: str
    chunks_removed: int
    file_removed: bool = Field(description="Its uploaded file was deleted too.")


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input (compare_digest on str does not)."""
    return secrets.compare_digest(given.strip().encode(), expected.encode())


def too_large(name: str, size: int, max_bytes: int) -> TooLargeError:
    return TooLargeError(
        f"{name} is {size / 1e6:.2f} MB, over the {max_bytes / 1e6:.2f} MB limit (QA_MAX_FILE_MB)."
    )


class DocumentLibrary:
    """Documents added and removed from the web: the one code path of the API and the page.

    An upload is saved under the upload folder with a checked name (a plain file name, no
    folders, not hidden, a supported type, within QA_MAX_FILE_MB), then all files of one upload
    are ingested in one call, so either every one is added or none is. Until the ingest has
    committed, an earlier file of the same name waits aside and is put back on failure: a bad
    upload leaves the collection and the folder as they were. Removing an uploaded document
    deletes its file too.
    """

    def __init__(self, pipeline: Pipeline, settings: Settings | None = None) -> None:
        self.pipeline = pipeline
        self.settings = settings or pipeline.settings
        self.folder = self.settings.upload_dir or self.settings.vectorstore_dir / "uploads"
        self.max_bytes = int(self.settings.max_file_mb * 1_000_000)
        self._token = self.settings.admin_token.get_secret_value()
        self._lock = threading.Lock()
        # The list is read from every chunk's metadata, so it is kept while the index is the same:
        # the same store object (a local index reopens on each commit), or 10 s on a Chroma server.
        self._listed: tuple[object, float, list[StoredDocument]] | None = None
        self._listed_for = index_backend(self.settings).listing_fresh_for

    @property
    def enabled(self) -> bool:
        return bool(self._token)

    def authorise(self, given: str | None) -> None:
        """403 when changes are turned off, 401 for a missing or wrong token; else nothing."""
        if not self._token:
            raise ChangesDisabledError(
                "Adding and removing documents is turned off here (QA_ADMIN_TOKEN is not set)."
            )
        if not given or not same_secret(given, self._token):
            raise AccessError(
                "A valid admin token is required to change the documents (Authorization: Bearer ...)."
            )

    def documents(self) -> list[StoredDocument]:
        try:
            with self.pipeline.reading() as store:
                listed, now = self._listed, time.monotonic()
                if listed and listed[0] is store and now - listed[1] < self._listed_for:
                    return listed[2]
                documents = store.documents()
        except IndexMissingError:
            return []
        self._listed = (store, now, documents)
        return documents

    def info(self, document: StoredDocument) -> DocumentInfo:
        return DocumentInfo(
            doc_id=document.doc_id,
            title=document.title,
            chunks=document.chunks,
            ingested_at=document.ingested_at,
            uploaded=self._uploaded_file(document) is not None,
        )

    def safe_name(self, raw: str | None) -> str:
        """The name a file is saved under, or an InputError: never a path, never hidden."""
        name = unicodedata.normalize("NFC", (raw or "").strip())
        if not name:
            raise InputError("Every uploaded file needs a name.")
        if any(char in INVISIBLE for char in name):
            shown = "".join(char for char in name if char not in INVISIBLE)
            raise InputError(
                f"The file name '{shown}' holds invisible direction or zero-width characters; "
                "rename the file."
            )
        if "/" in name or "\\" in name or name in {".", ".."}:
            shown = Path(name.replace("\\", "/")).name or name
            raise InputError(f"The file name '{raw}' must be a plain name like '{shown}', without folders.")
        if name.startswith("."):
            raise InputError(f"The file name '{name}' starts with a dot; hidden files are not accepted.")
        if any(ord(char) < 32 for char in name) or len(name.encode()) > 200:
            raise InputError(f"The file name '{name[:60]}' is too long or holds control characters.")
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
            raise InputError(f"{name} has an unsupported type (supported: {supported}).")
        return name

    def add(self, files: Sequence[tuple[str | None, BinaryIO]], replace: bool = False) -> UploadResult:
        """Save and ingest the (name, readable) pairs of one upload, all or nothing. A document
        of the same name that was not uploaded (ingested by `qa ingest`) is replaced only when
        `replace` is true."""
        if not files:
            raise InputError("Choose at least one file to upload.")
        if len(files) > MAX_UPLOAD_FILES:
            raise InputError(f"Upload at most {MAX_UPLOAD_FILES} files at a time.")
        names = [self.safe_name(raw) for raw, _ in files]
        repeated = next((name for name in names if names.count(name) > 1), None)
        if repeated:
            raise InputError(f"{repeated} is in this upload twice.")
        if not replace:
            known = {doc.doc_id: doc for doc in self.documents()}
            foreign = [n for n in names if n in known and self._uploaded_file(known[n]) is None]
            if foreign:
                raise NameTakenError(
                    f"{foreign[0]} is already in the collection and was not uploaded here; "
                    "rename the file, or send replace=true to replace it."
                )
        if not self._lock.acquire(blocking=False):
            raise WriterBusyError("Another upload or removal is under way; try again when it has finished.")
        staged: list[tuple[str, Path]] = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for name, (_, handle) in zip(names, files, strict=True):
                staged.append((name, self._stage(name, handle)))
            report = self._swap_and_ingest(staged)
        finally:
            for _, temporary in staged:
                temporary.unlink(missing_ok=True)
            self._listed = None
            self._lock.release()
        documents = self.documents()
        stored = {doc.doc_id: doc for doc in documents}
        return UploadResult(
            documents=[self.info(stored[name]) for name in names if name in stored],
            chunks_added=report.chunks_added,
            chunks_removed=report.chunks_removed,
            total_chunks=sum(doc.chunks for doc in documents),
        )

    def _stage(self, name: str, handle: BinaryIO) -> Path:
        """A hidden temporary copy in the upload folder, refused as soon as it passes the limit."""
        descriptor, raw_path = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=self.folder)
        path = Path(raw_path)
        size = 0
        try:
            with os.fdopen(descriptor, "wb") as out:
                while block := handle.read(COPY_BLOCK):
                    size += len(block)
                    if size > self.max_bytes:
                        raise too_large(name, size + _remaining(handle), self.max_bytes)
                    out.write(block)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def _swap_and_ingest(self, staged: Sequence[tuple[str, Path]]) -> IngestReport:
        moved: list[tuple[Path, Path | None]] = []
        try:
            for name, temporary in staged:
                final = self.folder / name
                backup = None
                if final.exists():
                    backup = self.folder / f".{name}.{uuid.uuid4().hex[:8]}.previous"
                    os.replace(final, backup)
                moved.append((final, backup))
                os.replace(temporary, final)
            report = ingest(
                self.settings,
                [final for final, _ in moved],
                progress=False,
                embeddings=self.pipeline.embeddings,
            )
        except QAError as exc:
            self._put_back(moved)
            raise type(exc)(self._plain(str(exc))) from None
        except BaseException:
            self._put_back(moved)
            raise
        for _, backup in moved:
            if backup is not None:
                backup.unlink(missing_ok=True)
        return report

    def _put_back(self, moved: Sequence[tuple[Path, Path | None]]) -> None:
        for final, backup in reversed(moved):
            final.unlink(missing_ok=True)
            if backup is not None:
                os.replace(backup, final)

    def _plain(self, message: str) -> str:
        """Messages name the file as the user called it, not by its place on the server."""
        return message.replace(f"{self.folder}{os.sep}", "")

    def remove(self, doc_id: str) -> RemoveResult:
        """Remove one document from the index and, if it was uploaded, its file."""
        known = {doc.doc_id: doc for doc in self.documents()}
        if doc_id not in known:
            raise NotFoundError(f"There is no document '{doc_id}' in the collection.")
        if not self._lock.acquire(blocking=False):
            raise WriterBusyError("Another upload or removal is under way; try again when it has finished.")
        try:
            removed = remove_documents(self.settings, [doc_id], self.pipeline.embeddings)
            uploaded = self._uploaded_file(known[doc_id])
            if uploaded is not None:
                uploaded.unlink(missing_ok=True)
        finally:
            self._listed = None
            self._lock.release()
        return RemoveResult(
            doc_id=doc_id, chunks_removed=removed.get(doc_id, 0), file_removed=uploaded is not None
        )

    def _uploaded_file(self, document: StoredDocument) -> Path | None:
        """The file in the upload folder this document was ingested from, if it is one."""
        candidate = self.folder / document.doc_id
        try:
            same = Path(document.source).resolve() == candidate.resolve()
        except (OSError, ValueError):
            return None
        return candidate if same and candidate.is_file() else None


def _remaining(handle: BinaryIO) -> int:
    """Bytes left in a seekable file, for an honest size in the message; 0 when unknown."""
    try:
        here = handle.tell()
        end = handle.seek(0, os.SEEK_END)
        handle.seek(here)
        return max(0, end - here)
    except (OSError, ValueError, AttributeError):
        return 0
