"""Domain errors. Raised in the core, turned into one-line messages at the edges (CLI, bot)."""

from __future__ import annotations


class SearchError(Exception):
    """Something went wrong that is not the user's fault: exit code 1."""

    exit_code = 1


class UserError(SearchError):
    """A user mistake (bad path, option, model mismatch): one readable line, exit code 2."""

    exit_code = 2


class CatalogMissing(UserError):
    """No catalog in the data directory yet."""


class CatalogEmpty(UserError):
    """The catalog exists but holds no image."""


class SchemaTooNew(UserError):
    """The catalog was written by a newer version of this program."""


class ModelMismatch(UserError):
    """The catalog was built with other models than the ones configured."""


class ModelLoadError(UserError):
    """A configured model cannot be loaded (wrong name or path, offline without a cache)."""


class EmptyQuery(UserError):
    """The query holds no searchable text."""


class SourceError(UserError):
    """An image source cannot be read at all (missing folder, unreadable metadata file)."""


class NotAnImage(UserError):
    """A query picture that cannot be decoded (a PDF, a broken or truncated file)."""
