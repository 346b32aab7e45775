"""The user's forge token, encrypted at rest with MultiFernet while its job waits or runs.

Keys come from ``GITEXPORT_SECRET_KEYS``, newest first: :meth:`TokenVault.encrypt` always uses
the newest, :meth:`TokenVault.decrypt` accepts any, :meth:`TokenVault.rotate` re-encrypts under
the newest (``gitexport keys rotate`` runs :func:`rotate_tokens` over the job store, after which
the old key can be removed). A ciphertext no configured key opens is a
:class:`TokenDecryptError` whose message holds neither the ciphertext nor the token.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from gitexport.errors import GitexportError

K = TypeVar("K", bound=Hashable)


class VaultError(GitexportError):
    """The token vault cannot do what was asked (never says what the token is)."""


class TokenDecryptError(VaultError):
    """No configured secret key opens this ciphertext (removed key, or not a vault token)."""

    def __init__(self) -> None:
        super().__init__(
            "the stored forge token cannot be decrypted with any key in GITEXPORT_SECRET_KEYS "
            "(was its key removed before `gitexport keys rotate` ran?)"
        )


class TokenVault:
    """Encrypts and decrypts forge tokens with the configured Fernet keys."""

    def __init__(self, secret_keys: Sequence[str | bytes | SecretStr]):
        if not secret_keys:
            raise VaultError("the token vault needs at least one secret key")
        fernets = []
        for i, key in enumerate(secret_keys, 1):
            raw = key.get_secret_value() if isinstance(key, SecretStr) else key
            try:
                fernets.append(Fernet(raw))
            except (ValueError, TypeError):
                raise VaultError(f"secret key {i} is not a Fernet key") from None
        self._fernet = MultiFernet(fernets)
        self._key_count = len(fernets)

    def encrypt(self, token: str) -> str:
        if not isinstance(token, str) or not token:
            raise VaultError("only a non-empty text token can be stored")
        return self._fernet.encrypt(token.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str, ttl: int | None = None) -> str:
        """The token; ``ttl`` (seconds) also refuses one encrypted longer ago than that."""
        try:
            data = self._fernet.decrypt(_as_bytes(ciphertext), ttl=ttl)
        except InvalidToken:
            # `from None`: the chained InvalidToken adds nothing, and tracebacks get logged.
            raise TokenDecryptError() from None
        return data.decode("utf-8")

    def rotate(self, ciphertext: str) -> str:
        """The same token encrypted under the newest key (its original timestamp kept)."""
        try:
            return self._fernet.rotate(_as_bytes(ciphertext)).decode("ascii")
        except InvalidToken:
            raise TokenDecryptError() from None

    def __repr__(self) -> str:
        return f"TokenVault({self._key_count} key(s))"


def _as_bytes(ciphertext: str | bytes) -> bytes:
    if isinstance(ciphertext, bytes):
        return ciphertext
    if not isinstance(ciphertext, str) or not ciphertext.isascii():
        # A Fernet token is url-safe base64: anything else cannot be one.
        raise TokenDecryptError()
    return ciphertext.encode("ascii")


@dataclass
class RotationResult(Generic[K]):
    """What :func:`rotate_tokens` did: the new ciphertexts to write back, and the rows no
    configured key opens (named by their key only)."""

    updates: list[tuple[K, str]] = field(default_factory=list)
    unreadable: list[K] = field(default_factory=list)


def rotate_tokens(rows: Iterable[tuple[K, str | None]], vault: TokenVault) -> RotationResult[K]:
    """Re-encrypt every stored token under the newest key.

    ``rows`` are ``(row key, ciphertext)`` pairs from the job store; a ``None`` ciphertext (a
    token already erased) is skipped. The caller writes ``updates`` back, in one transaction,
    and reports ``unreadable`` (those tokens cannot be used by any worker either).
    """
    result: RotationResult[K] = RotationResult()
    for key, ciphertext in rows:
        if ciphertext is None:
            continue
        try:
            result.updates.append((key, vault.rotate(ciphertext)))
        except TokenDecryptError:
            result.unreadable.append(key)
    return result
