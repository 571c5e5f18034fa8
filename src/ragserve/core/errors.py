"""The one error hierarchy of ragserve.

Every failure a caller can act on is one of these; backends translate vendor exceptions at their
boundary, so callers never see ``chromadb.*`` or ``httpx.*``::

    RagError
    ├── InvalidInput                 bad request data (HTTP 422)
    │   ├── EmptyQuery
    │   ├── InvalidDocument          one file could not be parsed; a batch goes on without it
    │   ├── PayloadTooLarge          (HTTP 413)
    │   └── UnsupportedMediaType     (HTTP 415)
    ├── NotFound                     (HTTP 404)
    │   ├── CollectionNotFound
    │   └── DocumentNotFound
    ├── Conflict                     it exists already (HTTP 409)
    ├── BackendError                 a component we talk to failed (HTTP 502)
    │   ├── BackendUnavailable       cannot reach it (HTTP 503)
    │   └── BackendTimeout           it did not answer in time (HTTP 504)
    ├── ConfigError                  settings that cannot work; says which to change
    └── MissingDependency            an optional package is not installed; says what to install

Each error carries a ``hint``: one sentence that tells the user how to fix the problem.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every ragserve error."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInput(RagError):
    """The request or the input data is invalid."""


class EmptyQuery(InvalidInput):
    """The question is empty or only whitespace."""


class InvalidDocument(InvalidInput):
    """A document could not be parsed; names the file and the reason."""

    def __init__(self, source: str, reason: str, *, hint: str = "") -> None:
        super().__init__(f"{source}: {reason}", hint=hint)
        self.source = source
        self.reason = reason


class PayloadTooLarge(InvalidInput):
    """An upload is over the size limit."""


class UnsupportedMediaType(InvalidInput):
    """No parser accepts this kind of file."""


class NotFound(RagError):
    """The named thing does not exist."""


class CollectionNotFound(NotFound):
    """The named collection does not exist."""


class DocumentNotFound(NotFound):
    """The named document does not exist in the collection."""


class Conflict(RagError):
    """The thing to create exists already."""


class BackendError(RagError):
    """A backend (store, embedder, LLM) failed."""


class BackendUnavailable(BackendError):
    """A backend cannot be reached."""


class BackendTimeout(BackendError):
    """A backend did not answer in time."""


class ConfigError(RagError):
    """Settings that cannot work."""


class MissingDependency(RagError):
    """An optional package is missing; the message says what to install."""


__all__ = [
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "CollectionNotFound",
    "ConfigError",
    "Conflict",
    "DocumentNotFound",
    "EmptyQuery",
    "InvalidDocument",
    "InvalidInput",
    "MissingDependency",
    "NotFound",
    "PayloadTooLarge",
    "RagError",
    "UnsupportedMediaType",
]
