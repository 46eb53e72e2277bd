"""Who may use the bot, how often, and which group messages are meant for it.

Pure logic over plain values, so it is easy to test and cheap on the event loop.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field


@dataclass
class AllowList:
    """Optional allow-list: empty lists mean everyone may use the bot."""

    user_ids: Collection[int] = ()
    chat_ids: Collection[int] = ()
    refused: set[int] = field(default_factory=set)  # users already told "no"

    @property
    def open(self) -> bool:
        return not self.user_ids and not self.chat_ids

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        if self.open:
            return True
        return (user_id is not None and user_id in self.user_ids) or (
            chat_id is not None and chat_id in self.chat_ids
        )

    def first_refusal(self, key: int) -> bool:
        """True the first time ``key`` (a user or chat) is refused: only then reply."""
        if key in self.refused:
            return False
        self.refused.add(key)
        return True


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    warned: bool = False


class UserThrottle:
    """A token bucket per user: ``burst`` queries at once, then ``per_minute`` on average.

    A throttled user gets one "slow down" note per throttled stretch; other users have
    their own buckets and are never delayed.
    """

    def __init__(
        self, burst: int, per_minute: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[int, _Bucket] = {}

    def take(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, warn): whether to answer, and whether to send the one "slow down" note."""
        now = self._clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return True, False
        warn = not bucket.warned
        bucket.warned = True
        if len(self._buckets) > 10_000:
            self._forget_full(now)
        return False, warn

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: they hold no information."""
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.stamp) * self.rate >= self.burst:
                del self._buckets[key]


def mentions(text: str, username: str | None) -> bool:
    """Whether ``text`` mentions ``@username`` (case-insensitive, as Telegram treats it)."""
    if not username:
        return False
    return re.search(rf"(?<!\w)@{re.escape(username)}\b", text, re.IGNORECASE) is not None


def strip_mention(text: str, username: str | None) -> str:
    """The query without ``@username``: "@bot red dress" → "red dress"."""
    if not username:
        return text
    return " ".join(re.sub(rf"(?<!\w)@{re.escape(username)}\b", " ", text, flags=re.I).split())
