"""What a forge's refusal means to the user: one mapping for every provider.

Each provider says how to read its client library's exception (status code, message, the
response headers for ``Retry-After``); :func:`call_api` retries what is worth retrying
(:mod:`gitexport.http_retry`) and turns the rest into the error hierarchy of
:mod:`gitexport.errors`:

* 401 → :class:`~gitexport.errors.ForgeAuthError` (the credentials are not accepted);
* 403 and 404 → :class:`~gitexport.errors.ForgePermissionError` (a 404 is also what a forge
  answers for a repository the token may not see);
* 429 and 5xx after the retries, a wait longer than the policy allows, and a forge that
  cannot be reached at all → :class:`~gitexport.errors.ForgeUnavailableError`;
* anything else → :class:`~gitexport.errors.ForgeError`.

Every message goes through :func:`~gitexport.git_remote.redact` first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import requests

from gitexport.errors import (
    ForgeAuthError,
    ForgeError,
    ForgePermissionError,
    ForgeUnavailableError,
)
from gitexport.git_remote import redact
from gitexport.http_retry import (
    TRANSIENT_STATUS,
    RetryGaveUp,
    RetryPolicy,
    call_with_retry,
    classify_status,
)

T = TypeVar("T")

# Failures below HTTP: nothing answered, or the answer never completed.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
)


@dataclass(frozen=True)
class Forge:
    """How one forge is named in messages and how its client reports an HTTP error."""

    name: str  # "GitHub", "GitLab"
    base_url: str
    # (status, message) of the client's HTTP error; None for any other exception.
    status_of: Callable[[BaseException], tuple[int, str] | None]
    headers_of: Callable[[BaseException], Mapping[str, str] | None] = lambda _exc: None
    credentials: str = "the credentials"
    auth_advice: str = "check that the token is valid and not expired"


def forge_error(
    forge: Forge, what: str, status: int, message: str, permission: str = "", target: str = ""
) -> ForgeError:
    """The named error for an HTTP *status* the forge answered while trying to *what*."""
    msg = redact(message)
    where = f" on {target}" if target else ""
    name = forge.name
    if status == 401:
        return ForgeAuthError(
            f"{name} rejected {forge.credentials} ({status} {msg}) while trying to {what}: "
            f"{forge.auth_advice}"
        )
    if status == 403:
        need = f"; the token needs {permission}" if permission else ""
        return ForgePermissionError(f"{name} refused to {what}{where} (403 {msg}){need}")
    if status == 404:
        need = f" (needs {permission})" if permission else ""
        return ForgePermissionError(
            f"{name}: cannot {what}: {target or 'it'} was not found, or the token cannot see it"
            f"{need}"
        )
    if status == 429 or status in TRANSIENT_STATUS:
        return ForgeUnavailableError(
            f"{name}: {what} kept failing ({status} {msg}); try again later"
        )
    return ForgeError(f"{name}: {what}{where} failed ({status} {msg})")


def unreachable(forge: Forge, what: str, exc: BaseException) -> ForgeUnavailableError:
    """The forge's API did not answer (DNS, refused connection, timeout)."""
    kind = "timed out" if isinstance(exc, requests.Timeout) else "is not reachable"
    return ForgeUnavailableError(
        f"{forge.name}: cannot {what}: {redact(forge.base_url)} {kind} "
        f"({type(exc).__name__}); check the URL and the network, then try again"
    )


def call_api(
    forge: Forge,
    what: str,
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    permission: str = "",
    target: str = "",
) -> T:
    """Call *fn* (one forge request, or a step that is safe to repeat) with bounded retries;
    any failure leaves as a named :class:`~gitexport.errors.ForgeError`."""

    def classify(exc: BaseException):
        got = forge.status_of(exc)
        if got is None:
            return None  # urllib3 already retried failed connects; a lost POST is not resent
        return classify_status(got[0], forge.headers_of(exc), got[1])

    try:
        return call_with_retry(fn, policy=policy, classify=classify, what=what)
    except RetryGaveUp as exc:
        raise ForgeUnavailableError(f"{forge.name}: {what} failed: {redact(exc)}") from None
    except CONNECTION_ERRORS as exc:
        raise unreachable(forge, what, exc) from None
    except Exception as exc:
        got = forge.status_of(exc)
        if got is None:
            raise
        raise forge_error(forge, what, got[0], got[1], permission, target) from None
