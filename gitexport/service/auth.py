"""Who may call the service: service keys, and signed expiring links to the human page.

Service keys are random bearer secrets, not passwords people choose, so one SHA-256 is the
right hash (a slow password hash would only slow every request down): the :class:`KeyRing`
keeps nothing but the digests and compares a presented key against every one of them with
:func:`hmac.compare_digest`, without stopping at a match, so the time taken says neither which
key matched nor how much of it. A configured key written ``sha256:<hex>`` is taken as already
hashed (``gitexport``'s operators can keep only hashes on the service's machine).

The human page ``GET /exports/{id}`` needs no key; it is reached through a link whose query
carries an expiry and an HMAC-SHA256 of (job id, expiry). The HMAC key is derived (HKDF) from
each configured Fernet secret key, so it is never the encryption key itself; links are signed
with the newest and verified against all of them, so rotating keys does not break live links.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from gitexport.service.config import HASHED_KEY_PREFIX

_PAGE_INFO = b"gitexport-service/1 human page link"
#: Longest ``expires`` accepted (digits): far beyond any real time, short enough to parse cheaply.
_MAX_EXPIRES_DIGITS = 12

Secret = str | bytes | SecretStr


def _reveal(secret: Secret) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def hash_key(key: Secret) -> str:
    """The ``sha256:<hex>`` form of a service key (what may be configured instead of it)."""
    return HASHED_KEY_PREFIX + hashlib.sha256(_reveal(key)).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    """The SHA-256 digests of the service keys; never the keys."""

    digests: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.digests:
            raise ValueError("a KeyRing needs at least one key")

    @classmethod
    def from_keys(cls, keys: Iterable[Secret]) -> KeyRing:
        digests = []
        for key in keys:
            raw = _reveal(key)
            prefix = HASHED_KEY_PREFIX.encode()
            if raw.startswith(prefix):
                digests.append(bytes.fromhex(raw[len(prefix) :].decode("ascii")))
            else:
                digests.append(hashlib.sha256(raw).digest())
        return cls(tuple(digests))

    def verify(self, presented: str | bytes | None) -> bool:
        """Whether ``presented`` is one of the keys; constant time in which one and why not."""
        raw = b"" if presented is None else _reveal(presented)
        digest = hashlib.sha256(raw).digest()
        ok = False
        for stored in self.digests:
            # `|` rather than `or`: every digest is compared whatever the earlier ones said.
            ok = hmac.compare_digest(digest, stored) | ok
        return ok and bool(raw)

    def __repr__(self) -> str:
        return f"KeyRing({len(self.digests)} key(s))"


def bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None when it is not one."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def page_signing_keys(secret_keys: Sequence[Secret]) -> tuple[bytes, ...]:
    """One HMAC key per configured Fernet key, newest first (sign with ``[0]``)."""
    if not secret_keys:
        raise ValueError("page links need at least one secret key")
    return tuple(
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PAGE_INFO).derive(_reveal(k))
        for k in secret_keys
    )


def _epoch(moment: datetime | float | int) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("a naive datetime is ambiguous; give an aware (UTC) one")
        return int(moment.timestamp())
    return int(moment)


def _signature(job_id: str, expires: int, key: bytes) -> str:
    message = f"{job_id}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_page_path(job_id: str, expires_at: datetime | float | int, key: bytes) -> str:
    """``/exports/{id}?expires=<unix seconds>&sig=<hex HMAC>``; prefix the public URL."""
    expires = _epoch(expires_at)
    sig = _signature(job_id, expires, key)
    return f"/exports/{quote(job_id, safe='')}?expires={expires}&sig={sig}"


def verify_page_signature(
    job_id: str,
    expires: str | int | None,
    sig: str | None,
    keys: Sequence[bytes],
    now: datetime | float | int | None = None,
) -> bool:
    """Whether the link is signed by any of ``keys`` and has not expired at ``now``."""
    if expires is None or not sig:
        return False
    if isinstance(expires, str):
        if not expires.isascii() or not expires.isdigit() or len(expires) > _MAX_EXPIRES_DIGITS:
            return False
        expires = int(expires)
    current = _epoch(time.time() if now is None else now)
    presented = sig.encode("ascii", "replace")
    ok = False
    for key in keys:
        expected = _signature(job_id, expires, key).encode("ascii")
        ok = hmac.compare_digest(presented, expected) | ok
    return ok and current < expires


def page_link(
    base_url: str,
    job_id: str,
    secret_keys: Sequence[Secret],
    ttl_seconds: int,
    now: datetime | float | int | None = None,
) -> str:
    """The absolute signed link to a job's human page, valid for ``ttl_seconds`` from ``now``."""
    expires = _epoch(time.time() if now is None else now) + int(ttl_seconds)
    key = page_signing_keys(secret_keys)[0]
    return base_url.rstrip("/") + sign_page_path(job_id, expires, key)
