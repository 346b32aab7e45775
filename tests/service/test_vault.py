"""The forge token at rest: MultiFernet encryption, key rotation, errors that leak nothing."""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from gitexport.service.vault import (
    TokenDecryptError,
    TokenVault,
    VaultError,
    rotate_tokens,
)

TOKEN = "ghp_DO-NOT-LEAK-0123456789abcdefghijklmnop"


@pytest.fixture
def keys():
    return [Fernet.generate_key().decode() for _ in range(3)]


def test_round_trip_and_ciphertext_hides_the_token(keys):
    vault = TokenVault(keys[:1])
    ct = vault.encrypt(TOKEN)
    assert TOKEN not in ct and TOKEN.encode() not in ct.encode()
    assert vault.decrypt(ct) == TOKEN
    assert vault.encrypt(TOKEN) != ct  # a fresh IV every time
    assert TokenVault([SecretStr(keys[0])]).decrypt(ct) == TOKEN


def test_encrypts_with_the_newest_key_and_decrypts_with_any(keys):
    old = TokenVault([keys[1]])
    ct_old = old.encrypt(TOKEN)
    both = TokenVault([keys[0], keys[1]])
    assert both.decrypt(ct_old) == TOKEN
    ct_new = both.encrypt(TOKEN)
    assert TokenVault([keys[0]]).decrypt(ct_new) == TOKEN  # newest key alone opens it
    with pytest.raises(TokenDecryptError):
        old.decrypt(ct_new)


def test_rotate_re_encrypts_under_the_newest_key(keys):
    ct_old = TokenVault([keys[1]]).encrypt(TOKEN)
    rotated = TokenVault([keys[0], keys[1]]).rotate(ct_old)
    assert rotated != ct_old
    assert TokenVault([keys[0]]).decrypt(rotated) == TOKEN  # the old key can now go


def test_unknown_key_error_names_nothing_secret(keys):
    ct = TokenVault([keys[0]]).encrypt(TOKEN)
    with pytest.raises(TokenDecryptError) as err:
        TokenVault([keys[1], keys[2]]).decrypt(ct)
    message = str(err.value)
    assert "GITEXPORT_SECRET_KEYS" in message
    assert ct not in message and TOKEN not in message
    assert all(k not in message for k in keys)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert isinstance(err.value, VaultError)


@pytest.mark.parametrize("garbage", ["", "not-a-token", "gAAAAA" + "x" * 80, "tökén"])
def test_garbage_ciphertext_is_the_named_error(keys, garbage):
    vault = TokenVault(keys[:1])
    with pytest.raises(TokenDecryptError):
        vault.decrypt(garbage)
    with pytest.raises(TokenDecryptError):
        vault.rotate(garbage)


def test_tampered_ciphertext_is_refused(keys):
    vault = TokenVault(keys[:1])
    ct = vault.encrypt(TOKEN)
    tampered = ct[:20] + ("A" if ct[20] != "A" else "B") + ct[21:]
    with pytest.raises(TokenDecryptError):
        vault.decrypt(tampered)


def test_ttl_refuses_an_old_ciphertext(keys):
    vault = TokenVault(keys[:1])
    old = Fernet(keys[0]).encrypt_at_time(TOKEN.encode(), int(time.time()) - 3600).decode()
    assert vault.decrypt(old, ttl=7200) == TOKEN
    with pytest.raises(TokenDecryptError):
        vault.decrypt(old, ttl=60)


def test_bad_configuration_is_a_named_error(keys):
    with pytest.raises(VaultError, match="at least one"):
        TokenVault([])
    with pytest.raises(VaultError, match="secret key 2 is not a Fernet key") as err:
        TokenVault([keys[0], "not-a-key-but-secret-anyway"])
    assert "not-a-key-but-secret-anyway" not in str(err.value)
    with pytest.raises(VaultError):
        TokenVault(keys[:1]).encrypt("")


def test_repr_shows_no_key(keys):
    vault = TokenVault(keys)
    assert repr(vault) == "TokenVault(3 key(s))"


def test_rotate_tokens_over_store_rows(keys):
    old_vault = TokenVault([keys[1]])
    stranger = TokenVault([keys[2]])
    rows = [
        ("job-1", old_vault.encrypt(TOKEN)),
        ("job-2", None),  # erased when the job ended
        ("job-3", stranger.encrypt(TOKEN)),  # its key is not configured any more
        ("job-4", old_vault.encrypt(TOKEN + "-other")),
    ]
    result = rotate_tokens(rows, TokenVault([keys[0], keys[1]]))
    assert [k for k, _ in result.updates] == ["job-1", "job-4"]
    assert result.unreadable == ["job-3"]
    newest_only = TokenVault([keys[0]])
    assert [newest_only.decrypt(ct) for _, ct in result.updates] == [TOKEN, TOKEN + "-other"]
