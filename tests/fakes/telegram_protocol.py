"""Wire-level pieces of the fake Bot API: injectable faults, recorded calls, request parsing.

Kept apart from the server so tests can import the fault types and ``Call``
without the server, and so the server module stays about routing and state.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.telegram_methods import ApiError, Upload
from tests.fakes.telegram_updates import JsonDict

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
_DISPOSITION_NAME = re.compile(r'[;\s]name="([^"]*)"')
_DISPOSITION_FILENAME = re.compile(r'filename="([^"]*)"')
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_CONTENT_TYPE = re.compile(r"(?im)^content-type:([^\r\n]*)")
# Form values PTB sends verbatim (strings are never JSON-encoded): keep them as text even
# when they look like numbers or JSON ("123", "[1] cats").
STRING_PARAMS = {
    "text", "caption", "parse_mode", "url", "secret_token", "next_offset", "callback_query_id",
    "inline_query_id", "file_id", "inline_message_id", "action", "photo", "document",
    "language_code", "switch_pm_text", "switch_pm_parameter", "message_effect_id",
    "business_connection_id", "description", "short_description", "name", "title",
}  # fmt: skip
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLLING = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


# -- faults -------------------------------------------------------------------
@dataclass(frozen=True)
class RetryAfter:
    """Answer 429 "Too Many Requests: retry after N" with ``parameters.retry_after``."""

    seconds: int


@dataclass(frozen=True)
class ServerError:
    """Answer an HTTP 5xx with a Bot API error body."""

    status: int = 500
    description: str = "Internal Server Error"


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` and then answer normally (a slow Telegram)."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Close the connection without any response."""


Fault = RetryAfter | ServerError | Delay | Drop


@dataclass
class Call:
    """One request the bot made: method, decoded params, uploaded files, arrival time."""

    method: str
    params: JsonDict
    files: dict[str, bytes] = field(default_factory=dict)
    time: float = field(default_factory=time.monotonic)
    token: str = ""
    filenames: dict[str, str] = field(default_factory=dict)
    fault: Fault | None = None


def _decode_value(key: str, value: str) -> Any:
    """Undo PTB's form encoding: non-string params arrive JSON-encoded."""
    if key in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def parse_request(request: web.Request) -> tuple[JsonDict, dict[str, Upload]]:
    """Params and uploads of a Bot API request (query string, JSON, form or multipart)."""
    params: JsonDict = {k: _decode_value(k, v) for k, v in request.query.items()}
    uploads: dict[str, Upload] = {}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise ApiError(400, "Bad Request: can't parse JSON request body") from exc
        for key, value in dict(body).items():
            is_json_text = isinstance(value, str) and key not in STRING_PARAMS
            params[key] = _decode_value(key, value) if is_json_text else value
    elif request.content_type == "multipart/form-data":
        found = _BOUNDARY.search(request.headers.get("Content-Type", ""))
        boundary = found.group(1) if found else ""
        for name, upload in split_multipart(await request.read(), boundary):
            if upload.filename:
                uploads[name] = upload
            else:
                params[name] = _decode_value(name, upload.data.decode())
    elif request.content_type == "application/x-www-form-urlencoded":
        for key, value in (await request.post()).items():
            params[key] = _decode_value(key, str(value))
    return params, uploads


def split_multipart(body: bytes, boundary: str) -> list[tuple[str, Upload]]:
    """Parts of a multipart/form-data body as (field name, Upload).

    A small parser instead of aiohttp's ``request.post()``: that one parses each
    part's headers slowly enough to cost milliseconds per album, which shows up
    in benchmarks that share the CPU with the bot. Form fields come back with an
    empty filename.
    """
    if not boundary:
        raise ApiError(400, "Bad Request: multipart body without boundary")
    parts = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = head.decode("utf-8", "replace")
        name = _DISPOSITION_NAME.search(headers)
        if name is None:
            continue
        filename = _DISPOSITION_FILENAME.search(headers)
        ctype = _CONTENT_TYPE.search(headers)
        parts.append(
            (
                name.group(1),
                Upload(
                    data[:-2] if data.endswith(b"\r\n") else data,
                    filename.group(1) if filename else "",
                    ctype.group(1).strip() if ctype else "application/octet-stream",
                ),
            )
        )
    return parts
