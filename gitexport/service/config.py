"""The service's settings: environment variables, an optional TOML file, defaults.

One :class:`Settings` (pydantic, frozen) built by :func:`load_settings`. For every setting the
environment wins over the file, the file over the default; ``docs/service-config.md`` is the
table of all of them. The service refuses to start (:class:`ConfigError`, naming the variable)
without service keys or secret keys rather than running open, and on any value it cannot use.

Secrets (service keys, Fernet keys) are :class:`pydantic.SecretStr`: ``repr``/``str`` of the
settings never show them. The queue and database URLs may carry a password, so they are left
out of ``repr`` as well; :meth:`Settings.summary` is the loggable view.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from gitexport.errors import UserError

CONFIG_FILE_ENV = "GITEXPORT_CONFIG_FILE"

#: A service key shorter than this is refused: keys are bearer secrets, not passwords to
#: remember (``python -c 'import secrets; print(secrets.token_urlsafe(32))'`` makes one).
MIN_SERVICE_KEY_LENGTH = 16

#: ``sha256:<64 hex>`` in the service keys is an already hashed key (see :mod:`.auth`), so the
#: clear key need not be stored anywhere on the service's machine.
HASHED_KEY_PREFIX = "sha256:"

MiB = 1024 * 1024


class ConfigError(UserError):
    """A setting is missing or unusable; the service does not start."""


@dataclass(frozen=True)
class UploadLimits:
    """What one uploaded bundle may cost (see :mod:`.uploads`)."""

    max_compressed_bytes: int = 100 * MiB
    max_uncompressed_bytes: int = 1024 * MiB
    max_entries: int = 1000


def default_state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_DATA_HOME/gitexport/service`` (``~/.local/share/...`` when unset)."""
    base = environ.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "gitexport" / "service"


class Settings(BaseModel):
    """Everything the API, the workers and ``gitexport keys`` need to know."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service_keys: tuple[SecretStr, ...] = Field(min_length=1)
    secret_keys: tuple[SecretStr, ...] = Field(min_length=1)
    queue_url: str | None = Field(None, repr=False)
    database_url: str | None = Field(None, repr=False)
    public_url: str | None = None
    state_dir: Path = Field(default_factory=default_state_dir)
    max_upload_bytes: PositiveInt = UploadLimits.max_compressed_bytes
    max_uncompressed_bytes: PositiveInt = UploadLimits.max_uncompressed_bytes
    max_upload_entries: PositiveInt = UploadLimits.max_entries
    job_ttl_seconds: PositiveInt = 7 * 24 * 3600
    max_queued_per_user: PositiveInt = 20
    heartbeat_seconds: PositiveInt = 10
    lease_seconds: PositiveInt = 60
    page_link_ttl_seconds: PositiveInt = 24 * 3600
    worker_concurrency: PositiveInt = 2

    @field_validator("service_keys")
    @classmethod
    def _service_keys_strong(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for i, key in enumerate(keys, 1):
            value = key.get_secret_value()
            if value.startswith(HASHED_KEY_PREFIX):
                digest = value[len(HASHED_KEY_PREFIX) :]
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                    raise ValueError(f"key {i} starts with 'sha256:' but is not 64 hex digits")
            elif len(value) < MIN_SERVICE_KEY_LENGTH:
                raise ValueError(
                    f"key {i} is shorter than {MIN_SERVICE_KEY_LENGTH} characters; make one with "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
        return keys

    @field_validator("secret_keys")
    @classmethod
    def _fernet_keys(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for i, key in enumerate(keys, 1):
            try:
                Fernet(key.get_secret_value())
            except ValueError:
                # Never the value itself: the position is enough to find it.
                raise ValueError(
                    f"key {i} is not a Fernet key (32 url-safe base64-encoded bytes); make one "
                    "with python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'"
                ) from None
        return keys

    @field_validator("queue_url")
    @classmethod
    def _queue_url(cls, url: str | None) -> str | None:
        if url and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL (unset: embedded queue)")
        return url or None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, url: str | None) -> str | None:
        if url and not urlsplit(url).scheme.startswith(("postgresql", "sqlite")):
            raise ValueError("must be a postgresql:// or sqlite:// URL (unset: embedded SQLite)")
        return url or None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _lease_outlives_heartbeats(self) -> Settings:
        # A lease shorter than two heartbeats would re-queue jobs whose worker is merely slow.
        if self.lease_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds}) must be at least twice "
                f"heartbeat_seconds ({self.heartbeat_seconds})"
            )
        return self

    @property
    def upload_limits(self) -> UploadLimits:
        return UploadLimits(
            max_compressed_bytes=self.max_upload_bytes,
            max_uncompressed_bytes=self.max_uncompressed_bytes,
            max_entries=self.max_upload_entries,
        )

    def summary(self) -> dict[str, Any]:
        """The settings as a dict safe to log: key counts, URLs without their passwords."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in ("service_keys", "secret_keys"):
                out[name] = f"{len(value)} key(s)"
            elif name in ("queue_url", "database_url"):
                out[name] = redact_url(value)
            else:
                out[name] = str(value) if isinstance(value, Path) else value
        return out


def redact_url(url: str | None) -> str | None:
    """``redis://:secret@host/0`` → ``redis://***@host/0``."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


@dataclass(frozen=True)
class _Setting:
    field: str
    env: str
    # Settings that may instead be read from a file named by ``<env>_FILE``.
    has_file: bool = False
    is_path: bool = False


SETTINGS: tuple[_Setting, ...] = (
    _Setting("service_keys", "GITEXPORT_SERVICE_KEYS", has_file=True),
    _Setting("secret_keys", "GITEXPORT_SECRET_KEYS", has_file=True),
    _Setting("queue_url", "GITEXPORT_QUEUE_URL"),
    _Setting("database_url", "GITEXPORT_DATABASE_URL"),
    _Setting("public_url", "GITEXPORT_PUBLIC_URL"),
    _Setting("state_dir", "GITEXPORT_STATE_DIR", is_path=True),
    _Setting("max_upload_bytes", "GITEXPORT_MAX_UPLOAD_BYTES"),
    _Setting("max_uncompressed_bytes", "GITEXPORT_MAX_UNCOMPRESSED_BYTES"),
    _Setting("max_upload_entries", "GITEXPORT_MAX_UPLOAD_ENTRIES"),
    _Setting("job_ttl_seconds", "GITEXPORT_JOB_TTL_SECONDS"),
    _Setting("max_queued_per_user", "GITEXPORT_MAX_QUEUED_PER_USER"),
    _Setting("heartbeat_seconds", "GITEXPORT_HEARTBEAT_SECONDS"),
    _Setting("lease_seconds", "GITEXPORT_LEASE_SECONDS"),
    _Setting("page_link_ttl_seconds", "GITEXPORT_PAGE_LINK_TTL_SECONDS"),
    _Setting("worker_concurrency", "GITEXPORT_WORKER_CONCURRENCY"),
)
_BY_FIELD = {s.field: s for s in SETTINGS}
_FILE_KEYS = {s.field for s in SETTINGS} | {f"{s.field}_file" for s in SETTINGS if s.has_file}


def load_settings(environ: Mapping[str, str] = os.environ, file: Path | None = None) -> Settings:
    """Settings from ``environ`` over the TOML ``file`` (or ``$GITEXPORT_CONFIG_FILE``).

    Raises :class:`ConfigError` naming the variable (or file key) that is missing or wrong.
    An empty variable counts as unset (compose files often carry ``VAR=``).
    """
    env = {k: v for k, v in environ.items() if k.startswith("GITEXPORT_") and v.strip()}
    if file is None and CONFIG_FILE_ENV in env:
        file = Path(env[CONFIG_FILE_ENV])
    file_values = _read_config_file(Path(file)) if file is not None else {}
    base = Path(file).parent if file is not None else Path.cwd()

    values: dict[str, Any] = {}
    where: dict[str, str] = {}  # field -> how the error message names its source
    for s in SETTINGS:
        from_env = _from_environment(s, env)
        if from_env is not None:
            values[s.field], where[s.field] = from_env
            continue
        from_file = _from_file(s, file_values, base, file)
        if from_file is not None:
            values[s.field], where[s.field] = from_file
    for s in (_BY_FIELD["service_keys"], _BY_FIELD["secret_keys"]):
        if s.field not in values:
            raise ConfigError(
                f"{s.env} is not set (nor {s.env}_FILE, nor {s.field} in the config file): "
                f"the service refuses to start without {s.field.replace('_', ' ')}"
            )
    values.setdefault("state_dir", default_state_dir(environ))
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, where)) from None


def _from_environment(s: _Setting, env: Mapping[str, str]) -> tuple[Any, str] | None:
    direct, path = env.get(s.env), env.get(f"{s.env}_FILE") if s.has_file else None
    if direct is not None and path is not None:
        raise ConfigError(f"set only one of {s.env} and {s.env}_FILE")
    if path is not None:
        return _read_keys_file(Path(path), f"{s.env}_FILE"), f"{s.env}_FILE ({path})"
    if direct is None:
        return None
    if s.has_file:
        keys = _split_keys(direct)
        return (keys, s.env) if keys else None  # "," alone is as unset as ""
    if s.is_path:
        # Absolute now: the service may change directory later; the state folder must not move.
        return Path(direct.strip()).expanduser().absolute(), s.env
    return direct.strip(), s.env


def _from_file(
    s: _Setting, values: Mapping[str, Any], base: Path, file: Path | None
) -> tuple[Any, str] | None:
    key_file = f"{s.field}_file"
    if s.field in values and key_file in values:
        raise ConfigError(f"{file}: set only one of {s.field} and {key_file}")
    if key_file in values:
        path = _file_path(values[key_file], base, f"{file}: {key_file}")
        return _read_keys_file(path, f"{key_file} in {file}"), f"{key_file} in {file} ({path})"
    if s.field not in values:
        return None
    value, label = values[s.field], f"{s.field} in {file}"
    if s.has_file:
        if isinstance(value, str):
            return _split_keys(value), label
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [v.strip() for v in value if v.strip()], label
        raise ConfigError(f"{label}: must be a list of strings or one comma-separated string")
    if s.is_path:
        return _file_path(value, base, label), label
    return value, label


def _file_path(value: Any, base: Path, label: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{label}: must be a path (a non-empty string)")
    # Relative paths in the file are relative to the file, not to wherever the service starts.
    return base / Path(value).expanduser()


def _split_keys(text: str) -> list[str]:
    return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]


def _read_keys_file(path: Path, label: str) -> list[str]:
    """One key per line (or comma-separated); blank lines and ``#`` comments skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: cannot read {path}: {type(exc).__name__}") from None
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    keys = _split_keys("\n".join(lines))
    if not keys:
        raise ConfigError(f"{label}: {path} holds no keys")
    return keys


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            values = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message names the line and column, never the value.
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    unknown = sorted(set(values) - _FILE_KEYS)
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown setting(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_FILE_KEYS))})"
        )
    return values


def _describe(exc: ValidationError, where: Mapping[str, str]) -> str:
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        field = str(err["loc"][0]) if err["loc"] else ""
        if field in where:
            name = where[field]
        elif field in _BY_FIELD:
            name = f"{field} (default)"
        else:
            name = "settings"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {msg}")
    return "invalid service settings:\n" + "\n".join(lines)
