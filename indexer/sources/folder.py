"""A folder of images, walked recursively; keys are absolute paths."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from indexer.sources.base import IMAGE_SUFFIXES, ImageRecord
from search.errors import SourceError

log = logging.getLogger(__name__)


class FolderSource:
    """Every image file below ``root`` (symlinks followed, loops not)."""

    kind = "folder"

    def __init__(self, root: Path, **_: object) -> None:
        if not root.exists():
            raise SourceError(f"no such folder: {root}")
        if not root.is_dir():
            raise SourceError(f"not a folder: {root}")
        self.root = root.resolve()
        self.problems: list[str] = []
        self._prefix = str(self.root).rstrip(os.sep) + os.sep

    def owns(self, key: str) -> bool:
        return key.startswith(self._prefix)

    def records(self) -> Iterator[ImageRecord]:
        for path in iter_image_files(self.root, self.problems):
            yield ImageRecord(source=self.kind, key=str(path), path=path)


def iter_image_files(root: Path, problems: list[str]) -> Iterator[Path]:
    """Image files in a stable order; a directory reached twice (a symlink loop) is skipped."""
    seen: set[tuple[int, int]] = set()

    def on_error(error: OSError) -> None:
        problems.append(f"cannot list {error.filename}: {error.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=on_error):
        try:
            info = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        identity = (info.st_dev, info.st_ino)
        if identity in seen:
            dirnames[:] = []
            continue
        seen.add(identity)
        dirnames.sort()
        for name in sorted(filenames):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith("."):
                yield Path(dirpath) / name
