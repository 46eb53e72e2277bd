"""What every source yields, and the small protocol the pipeline relies on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


@dataclass(frozen=True)
class ImageRecord:
    """One image to index: where it is, its stable key within the source, what it shows."""

    source: str  # source kind, e.g. "folder", "unsplash"
    key: str  # stable identity within the source (absolute path, photo id, ...)
    path: Path  # a local file
    caption: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """An image collection the pipeline can walk."""

    kind: str
    problems: list[str]  # non-fatal, one line each (bad metadata rows, missing images)

    def records(self) -> Iterator[ImageRecord]:
        """Every image of the collection, each key once."""
        ...

    def owns(self, key: str) -> bool:
        """Whether a catalog row with this key belongs to this collection (for deletions)."""
        ...
