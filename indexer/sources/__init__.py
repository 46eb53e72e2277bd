"""Image sources: each yields ``ImageRecord``s for the pipeline.

``open_source(kind, path, **options)`` picks one by name; the CLI's ``--source`` choices
come from ``SOURCE_KINDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from indexer.sources.base import ImageRecord, Source
from indexer.sources.folder import FolderSource
from search.errors import UserError

SourceFactory = Callable[..., Source]

_FACTORIES: dict[str, SourceFactory] = {"folder": FolderSource}


def register_source(kind: str, factory: SourceFactory) -> None:
    _FACTORIES[kind] = factory


def source_kinds() -> list[str]:
    _load_optional()
    return sorted(_FACTORIES)


def open_source(kind: str, path: Path, **options: Any) -> Source:
    _load_optional()
    if kind not in _FACTORIES:
        raise UserError(f"unknown source {kind!r}: choose one of {', '.join(source_kinds())}")
    return _FACTORIES[kind](path, **options)


def _load_optional() -> None:
    """Dataset sources live in their own modules; import them if present."""
    import importlib

    for module in ("indexer.sources.datasets",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


__all__ = ["ImageRecord", "Source", "open_source", "register_source", "source_kinds"]
