"""File storage of the fake Bot API: the ids it hands out and the bytes behind them.

Telegram identifies every uploaded file by an opaque ``file_id`` that only the
issuing bot may reuse. The fake mirrors that: uploads and user-sent files get
fresh ids here, ``getFile`` resolves them to a ``file_path`` and the download
route serves the stored bytes, so a bot's file_id cache and its downloads can be
tested end to end without Telegram.
"""

from __future__ import annotations

import io
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

# Telegram's photo limits (Bot API "sendPhoto").
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_SIDES_SUM = 10_000
MAX_PHOTO_ASPECT = 20
# Telegram re-encodes a photo into several sizes; these are its usual longest sides.
PHOTO_SIDES = (90, 320, 800, 1280)


class FileRejected(ValueError):
    """An upload Telegram would refuse; ``description`` is Telegram's own error text."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass
class StoredFile:
    """One file the fake knows: its ids, where ``getFile`` says it lives, and its bytes."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str = "application/octet-stream"
    width: int = 0
    height: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def as_file(self) -> dict[str, Any]:
        """The Bot API ``File`` object answered by ``getFile``."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of encoded image bytes; FileRejected when they are not an image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise FileRejected("Bad Request: IMAGE_PROCESS_FAILED") from exc


class FileStore:
    """Issues file ids and keeps the bytes behind them, like Telegram's file storage."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def __contains__(self, file_id: object) -> bool:
        return file_id in self._by_id

    def get(self, file_id: str) -> StoredFile | None:
        """The stored file with this id, or None when the fake never issued it."""
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        """The stored file served at ``/file/bot<TOKEN>/<file_path>``."""
        return self._by_path.get(file_path)

    def add(self, data: bytes, folder: str, ext: str, mime_type: str, **meta: Any) -> StoredFile:
        """Store bytes under a fresh file_id and file_path."""
        n = next(self._counter)
        token = uuid.uuid4().hex
        stored = StoredFile(
            file_id=f"AgAC{folder[:3].upper()}{token}{n}",
            file_unique_id=f"AQAD{token[:12]}{n}",
            file_path=f"{folder}/file_{n}.{ext}",
            data=data,
            mime_type=mime_type,
            width=int(meta.pop("width", 0)),
            height=int(meta.pop("height", 0)),
            meta=meta,
        )
        self._by_id[stored.file_id] = stored
        self._by_path[stored.file_path] = stored
        return stored

    def add_photo(self, data: bytes) -> list[dict[str, Any]]:
        """Store an uploaded photo; return its ``PhotoSize`` array, smallest first.

        Telegram answers with several sizes, each with its own file_id; here every
        size serves the original bytes (a bot never sees the difference in tests),
        and the largest size has the original dimensions.
        """
        check_photo(data)
        width, height = image_size(data)
        longest = max(width, height)
        sides = [s for s in PHOTO_SIDES if s < longest] + [longest]
        sizes = []
        for side in sides:
            w = max(1, round(width * side / longest))
            h = max(1, round(height * side / longest))
            stored = self.add(data, "photos", "jpg", "image/jpeg", width=w, height=h)
            approx = len(data) if side == longest else max(1, len(data) * side * side // longest**2)
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": approx,
                    "width": w,
                    "height": h,
                }
            )
        return sizes

    def photo_sizes(self, file_id: str) -> list[dict[str, Any]]:
        """The ``PhotoSize`` array Telegram answers when a known file_id is re-sent."""
        stored = self._by_id[file_id]
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data),
                "width": stored.width or 1,
                "height": stored.height or 1,
            }
        ]


def check_photo(data: bytes) -> None:
    """Raise FileRejected with Telegram's text for a photo Telegram would refuse."""
    if len(data) > MAX_PHOTO_BYTES:
        raise FileRejected("Bad Request: file is too big")
    if not data:
        raise FileRejected("Bad Request: file must be non-empty")
    width, height = image_size(data)
    if width + height > MAX_PHOTO_SIDES_SUM or max(width, height) > MAX_PHOTO_ASPECT * min(
        width, height
    ):
        raise FileRejected("Bad Request: PHOTO_INVALID_DIMENSIONS")
