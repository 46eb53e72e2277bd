"""Logging set-up that never lets the bot token out.

The token is part of every Bot API URL, and libraries log URLs (httpx at INFO, PTB at DEBUG,
PTB's ``InvalidToken`` message quotes it). Quietening ``httpx`` is not enough on its own, so
every log record is redacted when it is created — message, arguments and traceback text —
through a record factory, which covers handlers added later (pytest's too).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "<redacted-token>"

_secrets: list[str] = []
_base_factory: Callable[..., logging.LogRecord] | None = None


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return text


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    record = _base_factory(*args, **kwargs)
    if not _secrets:
        return record
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed call: keep the raw text, redacted
        message = str(record.msg)
    clean = redact(message)
    if clean != message or record.args:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def protect(secrets: Iterable[str]) -> None:
    """Redact these strings from every log record created from now on."""
    global _base_factory
    for secret in secrets:
        if secret and secret not in _secrets:
            _secrets.append(secret)
            # The numeric bot id alone is public; the part after ":" is the secret.
            _, _, tail = secret.partition(":")
            if len(tail) >= 8 and tail not in _secrets:
                _secrets.append(tail)
    _secrets.sort(key=len, reverse=True)
    if _base_factory is None:
        _base_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_redacting_factory)


def configure(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr at ``level``; URLs of HTTP requests only at WARNING and above."""
    protect(secrets)
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Tornado (webhook mode) logs every request line at INFO.
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
