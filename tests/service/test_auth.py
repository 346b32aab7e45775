"""Service keys (hashed, constant-time) and signed expiring links to the human page."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from gitexport.service import auth
from gitexport.service.auth import (
    KeyRing,
    bearer_key,
    hash_key,
    page_link,
    page_signing_keys,
    sign_page_path,
    verify_page_signature,
)

KEY_A = "canvas-key-A-0123456789abcdef"
KEY_B = "canvas-key-B-0123456789abcdef"
NOW = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def test_keyring_holds_only_digests():
    ring = KeyRing.from_keys([KEY_A, SecretStr(KEY_B)])
    assert ring.digests == (
        hashlib.sha256(KEY_A.encode()).digest(),
        hashlib.sha256(KEY_B.encode()).digest(),
    )
    assert KEY_A not in repr(ring) and KEY_A.encode() not in b"".join(ring.digests)


@pytest.mark.parametrize(
    ("presented", "ok"),
    [
        (KEY_A, True),
        (KEY_B, True),
        (KEY_A[:-1], False),  # a prefix
        (KEY_A + "x", False),
        (KEY_A.upper(), False),
        ("", False),
        (None, False),
    ],
)
def test_keyring_verify(presented, ok):
    assert KeyRing.from_keys([KEY_A, KEY_B]).verify(presented) is ok


def test_hashed_key_in_configuration_verifies_the_clear_key():
    ring = KeyRing.from_keys([hash_key(KEY_A)])
    assert ring.verify(KEY_A)
    assert not ring.verify(hash_key(KEY_A))  # the hash itself is not a key


def test_verify_compares_every_digest_whatever_matched(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    ring = KeyRing.from_keys([KEY_A, KEY_B, "canvas-key-C-0123456789abcdef"])
    for presented in (KEY_A, KEY_B, "wrong-key-0123456789abcdef"):
        calls.clear()
        ring.verify(presented)
        assert calls == list(ring.digests)  # no early exit on a match or a miss


def test_empty_keyring_is_refused():
    with pytest.raises(ValueError):
        KeyRing.from_keys([])


@pytest.mark.parametrize(
    ("header", "key"),
    [
        (f"Bearer {KEY_A}", KEY_A),
        (f"bearer   {KEY_A} ", KEY_A),
        (f"Basic {KEY_A}", None),
        ("Bearer", None),
        ("Bearer  ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_key(header, key):
    assert bearer_key(header) == key


@pytest.fixture
def secret_keys():
    return [Fernet.generate_key().decode(), Fernet.generate_key().decode()]


def test_page_keys_are_derived_not_the_fernet_keys(secret_keys):
    keys = page_signing_keys(secret_keys)
    assert len(keys) == 2 and all(len(k) == 32 for k in keys)
    assert keys[0] != keys[1]
    assert all(k not in s.encode() for k, s in zip(keys, secret_keys, strict=True))
    assert page_signing_keys([SecretStr(secret_keys[0])])[0] == keys[0]  # deterministic


def _query(path: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(path)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_signed_path_verifies_until_it_expires(secret_keys):
    keys = page_signing_keys(secret_keys)
    expires_at = NOW + timedelta(hours=1)
    path, query = _query(sign_page_path("job-1", expires_at, keys[0]))
    assert path == "/exports/job-1"
    assert query["expires"] == str(int(expires_at.timestamp()))
    args = ("job-1", query["expires"], query["sig"], keys)
    assert verify_page_signature(*args, now=NOW)
    assert verify_page_signature(*args, now=expires_at - timedelta(seconds=1))
    assert not verify_page_signature(*args, now=expires_at)
    assert not verify_page_signature(*args, now=expires_at + timedelta(days=1))


def test_signature_binds_job_and_expiry(secret_keys):
    keys = page_signing_keys(secret_keys)
    _, q = _query(sign_page_path("job-1", NOW + timedelta(hours=1), keys[0]))
    later = str(int(q["expires"]) + 3600)
    assert not verify_page_signature("job-2", q["expires"], q["sig"], keys, now=NOW)
    assert not verify_page_signature("job-1", later, q["sig"], keys, now=NOW)
    flipped = q["sig"][:-1] + ("0" if q["sig"][-1] != "0" else "1")
    assert not verify_page_signature("job-1", q["expires"], flipped, keys, now=NOW)


@pytest.mark.parametrize("expires", ["", "-5", "1e9", " 123", "１２３", "9" * 40, None])
def test_malformed_expiry_is_refused(secret_keys, expires):
    keys = page_signing_keys(secret_keys)
    assert not verify_page_signature("job-1", expires, "00" * 32, keys, now=NOW)


def test_missing_signature_is_refused(secret_keys):
    keys = page_signing_keys(secret_keys)
    _, q = _query(sign_page_path("job-1", NOW + timedelta(hours=1), keys[0]))
    assert not verify_page_signature("job-1", q["expires"], "", keys, now=NOW)
    assert not verify_page_signature("job-1", q["expires"], None, keys, now=NOW)
    assert not verify_page_signature("job-1", q["expires"], "sig-\u00e9", keys, now=NOW)


def test_links_survive_key_rotation(secret_keys):
    old = page_signing_keys(secret_keys[1:])
    _, q = _query(sign_page_path("job-1", NOW + timedelta(hours=1), old[0]))
    new_key = Fernet.generate_key().decode()
    rotated = page_signing_keys([new_key, *secret_keys[1:]])
    assert verify_page_signature("job-1", q["expires"], q["sig"], rotated, now=NOW)
    dropped = page_signing_keys([new_key])
    assert not verify_page_signature("job-1", q["expires"], q["sig"], dropped, now=NOW)


def test_job_id_is_quoted_in_the_path(secret_keys):
    keys = page_signing_keys(secret_keys)
    path = sign_page_path("a/b?c", NOW, keys[0])
    assert path.startswith("/exports/a%2Fb%3Fc?expires=")


def test_page_link_is_absolute_and_expires_after_ttl(secret_keys):
    link = page_link("https://export.example.com/", "job-9", secret_keys, 600, now=NOW)
    assert link.startswith("https://export.example.com/exports/job-9?")
    _, q = _query(link)
    keys = page_signing_keys(secret_keys)
    assert int(q["expires"]) == int(NOW.timestamp()) + 600
    assert verify_page_signature("job-9", q["expires"], q["sig"], keys, now=NOW)
    assert not verify_page_signature(
        "job-9", q["expires"], q["sig"], keys, now=NOW.timestamp() + 600
    )


def test_naive_datetime_is_refused(secret_keys):
    with pytest.raises(ValueError, match="naive"):
        sign_page_path("job-1", datetime(2026, 1, 1), page_signing_keys(secret_keys)[0])
