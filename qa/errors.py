"""The one exception family users see. Each message is a sentence written for them.

QAError
 ├── ConfigError          an unknown or invalid setting, an unknown embedder
 ├── InputError           a file or question we cannot use (missing, empty, binary, mis-encoded, too long)
 ├── StoreError           the index cannot be reached or used
 │    ├── IndexMissingError    nothing has been ingested yet
 │    └── IndexMismatchError   the index was built with another embedder or chunking
 └── BackendError         an embedder or LLM endpoint failed or is unreachable

Edges (CLI, HTTP API, UI) turn these into one line or a JSON body; nothing else is caught.
"""


class QAError(Exception):
    """Root of every error the product reports to a user."""


class ConfigError(QAError):
    pass


class InputError(QAError):
    pass


class StoreError(QAError):
    pass


class IndexMissingError(StoreError):
    pass


class IndexMismatchError(StoreError):
    pass


class BackendError(QAError):
    pass
