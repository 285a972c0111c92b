"""The one exception family users see. Each message is a sentence written for them.

QAError
 ├── ConfigError          an unknown or invalid setting, an unknown embedder
 ├── InputError           a file or question we cannot use (missing, empty, binary, mis-encoded, too long)
 │    ├── TooLargeError        a file over QA_MAX_FILE_MB
 │    ├── NotFoundError        no document with that id
 │    └── NameTakenError       an upload named like a document it did not create
 ├── AccessError          a missing or wrong admin token
 ├── ChangesDisabledError documents cannot be changed from the web (no admin token is set)
 ├── StoreError           the index cannot be reached or used
 │    ├── IndexMissingError    nothing has been ingested yet
 │    ├── IndexMismatchError   the index was built with another embedder or chunking
 │    └── WriterBusyError      another ingest is writing to the index
 ├── BackendError         an embedder or LLM endpoint failed or is unreachable
 ├── BusyError            no room for the work now (answer slots, long questions): 503, Retry-After
 └── TimeLimitError       an answer or the Chroma server ran past its time limit

Edges (CLI, HTTP API, UI) turn these into one line or a JSON body; nothing else is caught.
"""


class QAError(Exception):
    """Root of every error the product reports to a user."""


class ConfigError(QAError):
    pass


class InputError(QAError):
    pass


class TooLargeError(InputError):
    pass


class NotFoundError(InputError):
    pass


class NameTakenError(InputError):
    pass


class AccessError(QAError):
    pass


class ChangesDisabledError(QAError):
    pass


class StoreError(QAError):
    pass


class WriterBusyError(StoreError):
    pass


class IndexMissingError(StoreError):
    pass


class IndexMismatchError(StoreError):
    pass


class BackendError(QAError):
    pass


class BusyError(QAError):
    """The work could not start now for want of room; a retry after `retry_after_s` may succeed."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TimeLimitError(QAError):
    """Work ran past its time limit (QA_ANSWER_TIMEOUT_S, QA_CHROMA_TIMEOUT_S) and was stopped."""
