"""Service settings: environment over file over defaults; missing keys refuse to start."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from gitexport.service.config import ConfigError, Settings, UploadLimits, load_settings

SERVICE_KEY = "svc-key-0123456789-DO-NOT-LEAK"
FERNET_KEY = Fernet.generate_key().decode()
OLD_FERNET_KEY = Fernet.generate_key().decode()


def env(**extra: str) -> dict[str, str]:
    base = {"GITEXPORT_SERVICE_KEYS": SERVICE_KEY, "GITEXPORT_SECRET_KEYS": FERNET_KEY}
    base.update(extra)
    return base


def test_minimal_environment_gives_documented_defaults(tmp_path):
    s = load_settings({**env(), "XDG_DATA_HOME": str(tmp_path)})
    assert [k.get_secret_value() for k in s.service_keys] == [SERVICE_KEY]
    assert [k.get_secret_value() for k in s.secret_keys] == [FERNET_KEY]
    assert s.queue_url is None and s.database_url is None and s.public_url is None
    assert s.state_dir == tmp_path / "gitexport" / "service"
    assert s.upload_limits == UploadLimits(100 * 2**20, 2**30, 1000)
    assert (s.heartbeat_seconds, s.lease_seconds) == (10, 60)
    assert s.job_ttl_seconds == 7 * 86400 and s.page_link_ttl_seconds == 86400


def test_relative_xdg_data_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    s = load_settings({**env(), "XDG_DATA_HOME": "relative/dir"})
    assert s.state_dir == tmp_path / ".local" / "share" / "gitexport" / "service"


@pytest.mark.parametrize("missing", ["GITEXPORT_SERVICE_KEYS", "GITEXPORT_SECRET_KEYS"])
def test_missing_keys_refuse_to_start_naming_the_variable(missing):
    values = env()
    del values[missing]
    with pytest.raises(ConfigError, match=f"^{missing} is not set .*refuses to start"):
        load_settings(values)


def test_empty_variable_counts_as_unset():
    with pytest.raises(ConfigError, match="GITEXPORT_SERVICE_KEYS is not set"):
        load_settings(env(GITEXPORT_SERVICE_KEYS=" , "))
    assert load_settings(env(GITEXPORT_QUEUE_URL="")).queue_url is None


def test_every_variable_is_read(tmp_path):
    s = load_settings(
        env(
            GITEXPORT_SERVICE_KEYS=f"{SERVICE_KEY}, second-key-abcdefghijkl",
            GITEXPORT_SECRET_KEYS=f"{FERNET_KEY},{OLD_FERNET_KEY}",
            GITEXPORT_QUEUE_URL="redis://127.0.0.1:6379/0",
            GITEXPORT_DATABASE_URL="postgresql://gx@127.0.0.1/gx",
            GITEXPORT_PUBLIC_URL="https://export.example.com/",
            GITEXPORT_STATE_DIR=str(tmp_path / "state"),
            GITEXPORT_MAX_UPLOAD_BYTES="1000",
            GITEXPORT_MAX_UNCOMPRESSED_BYTES="2000",
            GITEXPORT_MAX_UPLOAD_ENTRIES="30",
            GITEXPORT_JOB_TTL_SECONDS="40",
            GITEXPORT_MAX_QUEUED_PER_USER="5",
            GITEXPORT_HEARTBEAT_SECONDS="3",
            GITEXPORT_LEASE_SECONDS="9",
            GITEXPORT_PAGE_LINK_TTL_SECONDS="600",
            GITEXPORT_WORKER_CONCURRENCY="4",
        )
    )
    assert len(s.service_keys) == 2
    assert [k.get_secret_value() for k in s.secret_keys] == [FERNET_KEY, OLD_FERNET_KEY]
    assert s.queue_url == "redis://127.0.0.1:6379/0"
    assert s.database_url == "postgresql://gx@127.0.0.1/gx"
    assert s.public_url == "https://export.example.com"
    assert s.state_dir == tmp_path / "state"
    assert s.upload_limits == UploadLimits(1000, 2000, 30)
    assert (s.job_ttl_seconds, s.max_queued_per_user) == (40, 5)
    assert (s.heartbeat_seconds, s.lease_seconds, s.page_link_ttl_seconds) == (3, 9, 600)
    assert s.worker_concurrency == 4


def test_keys_from_files_with_comments(tmp_path):
    (tmp_path / "svc").write_text(f"# canvas backend\n{SERVICE_KEY}\n\nother-key-0123456789\n")
    (tmp_path / "fernet").write_text(f"{FERNET_KEY}\n{OLD_FERNET_KEY}\n")
    s = load_settings(
        {
            "GITEXPORT_SERVICE_KEYS_FILE": str(tmp_path / "svc"),
            "GITEXPORT_SECRET_KEYS_FILE": str(tmp_path / "fernet"),
        }
    )
    assert [k.get_secret_value() for k in s.service_keys] == [SERVICE_KEY, "other-key-0123456789"]
    assert [k.get_secret_value() for k in s.secret_keys] == [FERNET_KEY, OLD_FERNET_KEY]


def test_key_file_problems_are_named(tmp_path):
    with pytest.raises(ConfigError, match="GITEXPORT_SECRET_KEYS_FILE: cannot read"):
        load_settings(
            env(GITEXPORT_SECRET_KEYS_FILE=str(tmp_path / "nope")) | {"GITEXPORT_SECRET_KEYS": ""}
        )
    (tmp_path / "empty").write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="GITEXPORT_SERVICE_KEYS_FILE: .* holds no keys"):
        load_settings(
            {
                **env(),
                "GITEXPORT_SERVICE_KEYS": "",
                "GITEXPORT_SERVICE_KEYS_FILE": str(tmp_path / "empty"),
            }
        )
    with pytest.raises(ConfigError, match="set only one of GITEXPORT_SERVICE_KEYS and"):
        load_settings(env(GITEXPORT_SERVICE_KEYS_FILE=str(tmp_path / "empty")))


def test_config_file_sets_the_same_keys_and_environment_wins(tmp_path):
    (tmp_path / "keys").write_text(SERVICE_KEY + "\n")
    config = tmp_path / "conf" / "service.toml"
    config.parent.mkdir()
    config.write_text(
        f'service_keys_file = "../keys"\n'
        f'secret_keys = ["{FERNET_KEY}", "{OLD_FERNET_KEY}"]\n'
        f'state_dir = "state"\n'
        f"max_queued_per_user = 5\n"
        f"worker_concurrency = 3\n"
        f'public_url = "https://file.example.com"\n'
    )
    s = load_settings(
        {"GITEXPORT_WORKER_CONCURRENCY": "7", "GITEXPORT_PUBLIC_URL": "https://env.example.com"},
        file=config,
    )
    assert [k.get_secret_value() for k in s.service_keys] == [SERVICE_KEY]
    assert len(s.secret_keys) == 2
    assert s.state_dir == config.parent / "state"  # relative to the file
    assert s.max_queued_per_user == 5
    assert s.worker_concurrency == 7
    assert s.public_url == "https://env.example.com"
    # The file named by the environment is read too; the environment's keys win over it.
    s2 = load_settings({**env(), "GITEXPORT_CONFIG_FILE": str(config)})
    assert [k.get_secret_value() for k in s2.secret_keys] == [FERNET_KEY]
    assert s2.max_queued_per_user == 5


def test_config_file_problems_are_named(tmp_path):
    config = tmp_path / "service.toml"
    config.write_text("max_queued_per_usr = 5\n")
    with pytest.raises(ConfigError, match="unknown setting.*max_queued_per_usr"):
        load_settings(env(), file=config)
    config.write_text(f'secret_keys = "{FERNET_KEY}\n')
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_settings(env(), file=config)
    assert FERNET_KEY not in str(err.value)
    config.write_text("max_queued_per_user = -1\n")
    with pytest.raises(
        ConfigError, match=r"max_queued_per_user in .*service.toml: .*greater than 0"
    ):
        load_settings(env(), file=config)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(env(), file=tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GITEXPORT_MAX_UPLOAD_BYTES", "lots", "valid integer"),
        ("GITEXPORT_WORKER_CONCURRENCY", "0", "greater than 0"),
        ("GITEXPORT_QUEUE_URL", "amqp://broker", "redis://"),
        ("GITEXPORT_DATABASE_URL", "mysql://db", "postgresql://"),
        ("GITEXPORT_PUBLIC_URL", "export.example.com", "absolute http"),
        ("GITEXPORT_SERVICE_KEYS", "short", "shorter than 16"),
        ("GITEXPORT_SERVICE_KEYS", "sha256:abcd", "64 hex digits"),
    ],
)
def test_bad_values_name_the_variable(variable, value, message):
    with pytest.raises(ConfigError, match=f"{variable}: .*{message}"):
        load_settings(env(**{variable: value}))


def test_bad_fernet_key_is_named_by_position_never_shown():
    bad = "not-a-fernet-key-but-a-secret-all-the-same"
    with pytest.raises(
        ConfigError, match="GITEXPORT_SECRET_KEYS: key 2 is not a Fernet key"
    ) as err:
        load_settings(env(GITEXPORT_SECRET_KEYS=f"{FERNET_KEY},{bad}"))
    assert bad not in str(err.value) and FERNET_KEY not in str(err.value)


def test_lease_must_outlive_two_heartbeats():
    with pytest.raises(ConfigError, match="lease_seconds .* at least twice heartbeat_seconds"):
        load_settings(env(GITEXPORT_HEARTBEAT_SECONDS="30", GITEXPORT_LEASE_SECONDS="45"))


def test_hashed_service_key_is_accepted():
    s = load_settings(env(GITEXPORT_SERVICE_KEYS="sha256:" + "ab" * 32))
    assert s.service_keys[0].get_secret_value() == "sha256:" + "ab" * 32


def test_secrets_never_in_repr_or_str_or_summary():
    s = load_settings(
        env(
            GITEXPORT_QUEUE_URL="redis://:queue-password-xyz@127.0.0.1:6379/0",
            GITEXPORT_DATABASE_URL="postgresql://gx:db-password-xyz@127.0.0.1/gx",
        )
    )
    shown = repr(s) + str(s) + repr(s.summary())
    for secret in (SERVICE_KEY, FERNET_KEY, "queue-password-xyz", "db-password-xyz"):
        assert secret not in shown
    assert s.summary()["queue_url"] == "redis://***@127.0.0.1:6379/0"
    assert s.summary()["service_keys"] == "1 key(s)"


def test_settings_can_be_built_directly_and_are_validated(tmp_path):
    s = Settings(service_keys=[SERVICE_KEY], secret_keys=[FERNET_KEY], state_dir=tmp_path)
    assert s.state_dir == tmp_path
    with pytest.raises(ValueError):
        Settings(service_keys=[], secret_keys=[FERNET_KEY])
    with pytest.raises(ValueError):
        Settings(service_keys=[SERVICE_KEY], secret_keys=["x"])


def test_state_dir_from_the_environment_is_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings(env(GITEXPORT_STATE_DIR="state")).state_dir == tmp_path / "state"
    assert load_settings(env(GITEXPORT_STATE_DIR="~/gx")).state_dir == tmp_path / "home" / "gx"


def test_docs_table_lists_every_setting_with_its_default():
    from gitexport.service.config import SETTINGS

    doc = (Path(__file__).parents[2] / "docs" / "service-config.md").read_text()
    rows = {
        line.split("|")[1].strip(" `"): line for line in doc.splitlines() if line.startswith("| `")
    }
    for s in SETTINGS:
        row = rows[s.env]
        assert f"`{s.field}`" in row
        default = Settings.model_fields[s.field].default
        if isinstance(default, int):
            assert f"`{default}`" in row, s.env
        if s.has_file:
            assert f"`{s.field}_file`" in rows[f"{s.env}_FILE"]
