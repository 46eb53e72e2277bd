"""Signed, opaque public URLs of catalog images for inline mode (``InlineQueryResultPhoto``).

Telegram fetches an inline photo and its thumbnail by URL, so the bot serves them itself
(``bot/image_server.py``) behind the operator's HTTPS proxy at ``T2I_PUBLIC_BASE_URL``. A URL
names only an image id and an HMAC of it, never a file path: the server cannot be walked,
and ids cannot be enumerated without the key, which is derived from the bot token so that
no new setting is needed (rotating the token changes every URL, which is harmless).

Layout. The server's routes, relative to its own root, are::

    /i/<id>-<sig>.jpg    the photo (long side ≤ 1280 px, ≤ 5 MB)
    /t/<id>-<sig>.jpg    its thumbnail (long side ≤ 320 px)

and the public URL is ``base_url`` followed by that route. The proxy maps ``base_url`` to the
server root: with ``T2I_PUBLIC_BASE_URL=https://x.org/t2i`` a request for
``https://x.org/t2i/i/5-<sig>.jpg`` reaches the server as ``/i/5-<sig>.jpg``. A proxy that
passes the prefix through unchanged (``/t2i/i/5-<sig>.jpg``) works too: ``parse`` accepts the
route with or without the base URL's own path prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal
from urllib.parse import urlsplit

Kind = Literal["photo", "thumb"]

_LETTER: dict[str, Kind] = {"i": "photo", "t": "thumb"}
_SIG_HEX = 16  # 64 bits: far beyond guessing over HTTP, and short URLs
# SQLite rowids are positive 64-bit integers; ≤ 18 digits keeps every match below 2**63.
_MAX_ID = 10**18 - 1
# Canonical form only: no leading zeros, lowercase hex, nothing else around it.
_ROUTE = re.compile(r"/([it])/([1-9][0-9]{0,17})-([0-9a-f]{16})\.jpg")  # 16 = _SIG_HEX


def url_secret(bot_token: str) -> bytes:
    """The URL-signing key: a hash of the bot token under a fixed label (never the token)."""
    return hashlib.sha256(b"t2i image urls v1\x00" + bot_token.encode("utf-8")).digest()


class ImageUrls:
    """Makes and checks the public photo and thumbnail URLs of catalog images."""

    def __init__(self, base_url: str, secret: bytes) -> None:
        if not secret:
            raise ValueError("the URL secret must not be empty")
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        # The proxy may or may not strip the base URL's path (see the module docstring).
        self._prefix = urlsplit(self.base_url).path.rstrip("/")

    def photo_url(self, image_id: int) -> str:
        """The public URL of the photo of ``image_id``."""
        return f"{self.base_url}{self.route(image_id, 'photo')}"

    def thumb_url(self, image_id: int) -> str:
        """The public URL of the thumbnail of ``image_id``."""
        return f"{self.base_url}{self.route(image_id, 'thumb')}"

    def route(self, image_id: int, kind: Kind) -> str:
        """The server-relative path of one image (``/i/<id>-<sig>.jpg`` or ``/t/...``)."""
        if isinstance(image_id, bool) or not 0 < image_id <= _MAX_ID:
            raise ValueError(f"image id out of range: {image_id!r}")
        letter = "i" if kind == "photo" else "t"
        return f"/{letter}/{image_id}-{self._sign(image_id, kind)}.jpg"

    def parse(self, path: str) -> tuple[int, Kind] | None:
        """``(image_id, kind)`` for a route this object signed, else None (strict match)."""
        match = _ROUTE.fullmatch(path)
        if match is None and self._prefix and path.startswith(self._prefix + "/"):
            match = _ROUTE.fullmatch(path[len(self._prefix) :])
        if match is None:
            return None
        kind = _LETTER[match.group(1)]
        image_id = int(match.group(2))
        if not hmac.compare_digest(match.group(3), self._sign(image_id, kind)):
            return None
        return image_id, kind

    def _sign(self, image_id: int, kind: Kind) -> str:
        message = f"{kind}:{image_id}".encode("ascii")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:_SIG_HEX]
