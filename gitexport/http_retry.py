"""Bounded retries for forge APIs and network git, with an injectable sleep.

Policy: 5xx, 429 and rate limits (403 with ``Retry-After``, a "secondary rate limit" message,
or ``X-RateLimit-Remaining: 0``) are retried a few times; the server's ``Retry-After`` (or the
rate-limit reset time) is honoured, but a wait longer than :attr:`RetryPolicy.max_delay`
gives up at once with the reason instead of blocking for most of an hour. Nothing else is
retried. A non-idempotent call (a POST) must only be retried through a step that first looks
for what a lost earlier attempt may have created (see the providers).

Library-level retries are switched off or bounded: :func:`bounded_urllib3_retry` retries only
failed *connections* and only idempotent methods, never on a status code.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``sleep`` is injectable so tests never wait."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0  # the longest single wait we accept (incl. Retry-After)
    max_total: float = 180.0  # the most we wait over one call
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff before retry number *attempt* (1-based), capped."""
        return min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)


NO_WAIT = RetryPolicy(sleep=lambda _s: None)


@dataclass(frozen=True)
class Retryable:
    """A classifier's verdict: retry, because *reason*, after *delay* (None: backoff)."""

    reason: str
    delay: float | None = None


class RetryGaveUp(Exception):
    """Raised (chained from the last error) when a wait would exceed the policy."""

    def __init__(self, reason: str, delay: float, last: BaseException):
        super().__init__(f"{reason}; the server asks to wait {delay:.0f}s, more than allowed")
        self.reason = reason
        self.delay = delay
        self.last = last


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    classify: Callable[[BaseException], Retryable | None],
    what: str,
) -> T:
    """Call *fn*; retry while *classify* says so, within *policy*. Re-raises the last error.

    A wait longer than ``policy.max_delay`` raises :class:`RetryGaveUp` instead of sleeping.
    """
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            verdict = classify(exc)
            if verdict is None or attempt >= policy.attempts:
                raise
            delay = policy.backoff(attempt) if verdict.delay is None else max(verdict.delay, 0.0)
            if delay > policy.max_delay or waited + delay > policy.max_total:
                raise RetryGaveUp(verdict.reason, delay, exc) from exc
            log.info(
                "%s: %s; retrying in %.0fs (attempt %d of %d)",
                what,
                verdict.reason,
                delay,
                attempt + 1,
                policy.attempts,
            )
            policy.sleep(delay)
            waited += delay


def retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or a rate-limit reset."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    value = lower.get("retry-after")
    now = time.time() if now is None else now
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
                return max(when - now, 0.0)
            except (TypeError, ValueError):
                return None
    remaining = lower.get("x-ratelimit-remaining") or lower.get("ratelimit-remaining")
    reset = lower.get("x-ratelimit-reset") or lower.get("ratelimit-reset")
    if remaining == "0" and reset:
        try:
            return max(float(reset) - now, 0.0)
        except ValueError:
            return None
    return None


def classify_status(
    status: int | None, headers: Mapping[str, str] | None, message: str = ""
) -> Retryable | None:
    """The shared HTTP policy: which statuses are worth a retry, and after how long."""
    if status is None:
        return None
    wait = retry_after(headers)
    if status in TRANSIENT_STATUS:
        return Retryable(f"the server answered {status}", wait)
    if status == 429:
        return Retryable("rate limited (429 Too Many Requests)", wait)
    if status == 403:
        lower = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        text = message.lower()
        if "secondary rate limit" in text or "abuse" in text:
            return Retryable("secondary rate limit (403)", wait if wait is not None else 60.0)
        if "retry-after" in lower:
            return Retryable("rate limited (403 with Retry-After)", wait)
        if lower.get("x-ratelimit-remaining") == "0":
            return Retryable("API rate limit exhausted (403)", wait)
        if "rate limit" in text:
            return Retryable("API rate limit (403)", wait if wait is not None else 60.0)
    return None


class _BoundedRetry(Retry):
    """urllib3 Retry for connection failures only (never sleeps long, never on status)."""

    DEFAULT_BACKOFF_MAX = 4.0


def bounded_urllib3_retry(connect: int = 2) -> Retry:
    """Retry only failed connections, only for idempotent methods, never on a status."""
    return _BoundedRetry(
        total=connect,
        connect=connect,
        read=0,
        redirect=3,
        status=0,
        other=0,
        allowed_methods=frozenset({"GET", "HEAD", "OPTIONS"}),
        status_forcelist=(),
        backoff_factor=0.5,
        backoff_max=4.0,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
