"""All network git: ``ls-remote``, ``fetch``, ``push`` and ``git lfs push``, with credentials.

The secret never goes into a URL, ``.git/config``, argv or a message. Each git / git-lfs
command gets, through ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` in its
own environment, a credential helper scoped to the remote's ``scheme://host`` that prints the
username and the secret from two environment variables of that child only::

    credential.helper =                       (empty: forget the user's helpers, so no
                                                ``store``/``cache`` helper keeps our token)
    credential.https://host.helper = !f() { test "$1" = get || exit 0; printf ...; }; f

git and git-lfs both ask ``git credential fill``, so the same helper serves the LFS API.
Terminal and askpass prompts are disabled: a refused token fails at once.

Every error text is passed through :func:`redact` before it is raised.
"""

from __future__ import annotations

import base64
import logging
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from gitexport import git, gitcmd
from gitexport.errors import (
    ForgeAuthError,
    ForgeError,
    ForgePermissionError,
    ForgeUnavailableError,
)

log = logging.getLogger(__name__)

REDACTED = "***"
#: Refs that :meth:`GitRemote.fetch` writes remote branches to (outside refs/heads and
#: refs/remotes, so no branch listing or ``git push --all`` ever sees them).
FETCH_NAMESPACE = "refs/gitexport-remote/"
FETCH_JOURNAL_NAME = "gitexport-fetch-locks.json"

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
# Token shapes redacted even when we never saw the value (e.g. an installation token in a
# debug log of the response that created it).
_TOKEN_PATTERNS = re.compile(
    r"(gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_\-]{16,}"
    r"|(?<=\"token\": \")[^\"]+|(?<=\"token\":\")[^\"]+)"
)


def register_secret(secret: str | None) -> None:
    """Remember *secret* so :func:`redact` scrubs it from any text, process-wide."""
    if secret and len(secret) >= 4:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def redact(text: object, *secrets: str | None) -> str:
    """*text* with every known secret (and its URL-quoted / Basic-auth forms) replaced."""
    out = str(text)
    with _SECRETS_LOCK:
        known = set(_SECRETS)
    known.update(s for s in secrets if s)
    for secret in sorted(known, key=len, reverse=True):
        forms = {secret, quote(secret, safe=""), quote(secret)}
        for form in forms:
            out = out.replace(form, REDACTED)
    out = re.sub(r"(?i)(authorization:\s*(?:basic|bearer|token)\s+)\S+", r"\1" + REDACTED, out)
    out = re.sub(r"(?i)(private-token:\s*)\S+", r"\1" + REDACTED, out)
    out = re.sub(r"://[^/@\s]+@", "://", out)  # userinfo in any URL
    return _TOKEN_PATTERNS.sub(REDACTED, out)


def basic_auth_forms(username: str, secret: str) -> list[str]:
    """The base64 ``user:secret`` strings a Basic header would carry (for leak tests)."""
    raw = f"{username}:{secret}".encode()
    return [base64.b64encode(raw).decode()]


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs known secrets from every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as is
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction(
    loggers: Iterable[str] = ("", "github", "github.Requester", "gitlab", "urllib3", "gitexport"),
) -> None:
    """Attach :class:`RedactingFilter` to the given loggers and the root handlers (idempotent)."""
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in loggers]
    targets += list(logging.getLogger().handlers)
    for target in targets:
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


@dataclass(frozen=True)
class Credentials:
    """What git sends as Basic auth: a username and a secret (token). Never printed."""

    username: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        register_secret(self.secret)

    def __str__(self) -> str:
        return f"Credentials(username={self.username!r}, secret={REDACTED})"


class GitRemoteError(ForgeError):
    """A network git command failed; the message is already redacted.

    The subclasses carry the same service codes as the forge APIs' errors
    (:mod:`gitexport.providers.errors`): a refused token is ``forge_auth`` whether the API or
    git refused it.
    """

    def __init__(self, message: str, *, stderr: str = ""):
        super().__init__(redact(message))
        self.stderr = redact(stderr)


class GitAuthError(GitRemoteError, ForgeAuthError):
    """401 from the git server: the credentials are missing or invalid."""

    code = ForgeAuthError.code


class GitPermissionError(GitAuthError, ForgePermissionError):
    """403 from the git server: valid credentials without write access."""

    code = ForgePermissionError.code


class GitNotFoundError(GitRemoteError, ForgePermissionError):
    """The remote repository does not exist (or is not visible yet, just after creation)."""

    code = ForgePermissionError.code


class GitTransientError(GitRemoteError, ForgeUnavailableError):
    """A network hiccup or 5xx: worth retrying."""

    code = ForgeUnavailableError.code


class PushRejectedError(GitRemoteError):
    """The server refused a ref update (the remote moved, a hook declined, ...)."""

    def __init__(self, message: str, statuses: Sequence[RefStatus]):
        super().__init__(message)
        self.statuses = list(statuses)


@dataclass(frozen=True)
class RefUpdate:
    """Push *source* (a commit id) to *remote_ref*, only if the remote ref is *expected*.

    ``expected`` is the commit the remote ref must still point at (compare-and-swap via
    ``--force-with-lease``), or ``None`` when the ref must not exist yet.
    """

    source: str
    remote_ref: str
    expected: str | None


@dataclass(frozen=True)
class RefStatus:
    """One line of ``git push --porcelain``."""

    remote_ref: str
    flag: str  # ' ' fast-forward, '+' forced, '-' deleted, '*' new, '!' rejected, '=' up to date
    summary: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.flag != "!"


def public_url(url: str) -> str:
    """*url* without any userinfo (what messages may show)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
        return urlunsplit(parts)
    return url


def lfs_endpoint(url: str) -> str:
    """git-lfs's default LFS API URL for a remote URL: ``<url>.git/info/lfs``."""
    url = url.rstrip("/")
    return (url if url.endswith(".git") else url + ".git") + "/info/lfs"


# After one rejection ("erase"), the helper stops answering: git-lfs would otherwise retry
# the same refused token in a loop for minutes. Only a marker file is written, never the token.
_HELPER = (
    '!f() { case "$1" in '
    'get) test -e "$GITEXPORT_GIT_STATE/rejected" && exit 0; '
    'printf "username=%s\\npassword=%s\\n" "$GITEXPORT_GIT_USERNAME" "$GITEXPORT_GIT_PASSWORD";; '
    'erase) : > "$GITEXPORT_GIT_STATE/rejected";; '
    "esac; }; f"
)

_AUTH_PATTERNS = re.compile(
    r"Authentication failed|returned error: 401|could not read Username|could not read Password"
    r"|terminal prompts disabled|Invalid username or password|HTTP 401|Unauthorized",
    re.IGNORECASE,
)
_FORBIDDEN_PATTERNS = re.compile(
    r"returned error: 403|HTTP 403|Forbidden|Permission to .* denied|permission denied",
    re.IGNORECASE,
)
_NOT_FOUND_PATTERNS = re.compile(
    r"returned error: 404|repository .* not found|Repository not found|does not appear to be a git"
    r"|not found",
    re.IGNORECASE,
)
_TRANSIENT_PATTERNS = re.compile(
    r"hung up unexpectedly|RPC failed|Empty reply|Connection reset|connection was reset"
    r"|returned error: 5\d\d|HTTP 5\d\d|timed out|Operation too slow|early EOF|unexpected disconnect"
    r"|Failed to connect|Connection refused|transfer closed|send-pack: unexpected|remote end hung up"
    r"|EOF|broken pipe|server error|Service Unavailable|Bad Gateway|returned error: 429",
    re.IGNORECASE,
)


class GitRemote:
    """Network git against one remote URL, from one local repository.

    The URL carries no credentials; *credentials* (or ``None`` for file paths and anonymous
    servers) are handed over per command by the scoped credential helper.
    """

    def __init__(
        self,
        repo_dir: Path | str,
        url: str,
        credentials: Credentials | None = None,
        *,
        timeout: float = 600.0,
        lfs_url: str | None = None,
        extra_config: Sequence[tuple[str, str]] = (),
    ):
        parts = urlsplit(url)
        if "@" in parts.netloc and parts.scheme in ("http", "https"):
            raise GitRemoteError(
                f"refusing a remote URL with credentials in it: {public_url(url)}; "
                "give the token through the environment instead"
            )
        self.repo_dir = Path(repo_dir)
        self.url = url
        self.credentials = credentials
        self.timeout = timeout
        self.lfs_url = lfs_url
        self.extra_config = list(extra_config)

    # -- environment -------------------------------------------------------------------

    def _config(self) -> list[tuple[str, str]]:
        config = [
            ("credential.helper", ""),  # drop every helper the user configured
            ("core.askPass", ""),
            ("lfs.locksverify", "false"),
            ("lfs.transfer.maxretries", "2"),
            ("lfs.transfer.maxretrydelay", "2"),
            ("http.lowSpeedLimit", "1000"),
            ("http.lowSpeedTime", "60"),
            ("push.gpgSign", "false"),
            ("advice.pushUpdateRejected", "false"),
        ]
        parts = urlsplit(self.url)
        if self.credentials is not None and parts.scheme in ("http", "https"):
            config.append((f"credential.{parts.scheme}://{parts.netloc}.helper", _HELPER))
            if self.lfs_url:
                lp = urlsplit(self.lfs_url)
                if lp.netloc != parts.netloc:
                    config.append((f"credential.{lp.scheme}://{lp.netloc}.helper", _HELPER))
        if self.lfs_url:
            config.append(("lfs.url", self.lfs_url))
        config.extend(self.extra_config)
        return config

    def _env(self) -> dict[str, str]:
        # gitcmd scrubs GIT_DIR & co, injected configuration and askpass helpers first.
        env = gitcmd.clean_env(
            {
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_ASKPASS": "",
                "SSH_ASKPASS": "",
                "GCM_INTERACTIVE": "never",
                "GIT_LFS_SKIP_SMUDGE": "1",
            }
        )
        config = self._config()
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        if self.credentials is not None:
            env["GITEXPORT_GIT_USERNAME"] = self.credentials.username
            env["GITEXPORT_GIT_PASSWORD"] = self.credentials.secret
        return env

    def _secret(self) -> str | None:
        return self.credentials.secret if self.credentials else None

    def run(
        self,
        args: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``git <args>`` in the repository with the credential environment."""
        with tempfile.TemporaryDirectory(prefix="gitexport-cred-") as state:
            env = self._env()
            env["GITEXPORT_GIT_STATE"] = state
            return self._run(args, env, timeout=timeout, check=check, input=input)

    def _run(
        self,
        args: Sequence[str],
        env: dict[str, str],
        *,
        timeout: float | None,
        check: bool,
        input: bytes | None,
    ) -> subprocess.CompletedProcess:
        timeout = self.timeout if timeout is None else timeout
        log.debug("running git %s", " ".join(args))
        try:
            proc = gitcmd.execute(
                args, cwd=self.repo_dir, input=input, timeout=timeout, replace_env=env
            )
        except gitcmd.GitTimeout:
            raise GitTransientError(
                f"git {args[0]} to {public_url(self.url)} timed out after {timeout:.0f}s"
            ) from None
        out, err = proc.stdout, proc.stderr
        result = subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            out.decode("utf-8", "replace"),
            redact(err.decode("utf-8", "replace"), self._secret()),
        )
        result.stdout = redact(result.stdout, self._secret())
        if check and result.returncode != 0:
            raise self._error(args[0], result.stderr)
        return result

    def _error(self, what: str, stderr: str) -> GitRemoteError:
        url = public_url(self.url)
        tail = _tail(stderr)
        if _AUTH_PATTERNS.search(stderr):
            return GitAuthError(
                f"git {what} to {url} was refused: the credentials were not accepted "
                f"(is the token valid and not expired?)\n{tail}",
                stderr=stderr,
            )
        if _FORBIDDEN_PATTERNS.search(stderr):
            return GitPermissionError(
                f"git {what} to {url} was forbidden: the token lacks write access to this "
                f"repository (GitHub: contents: write / repo scope; GitLab: write_repository)"
                f"\n{tail}",
                stderr=stderr,
            )
        if _TRANSIENT_PATTERNS.search(stderr):
            return GitTransientError(f"git {what} to {url} failed (network)\n{tail}", stderr=stderr)
        if _NOT_FOUND_PATTERNS.search(stderr):
            return GitNotFoundError(
                f"git {what}: repository {url} not found\n{tail}", stderr=stderr
            )
        return GitRemoteError(f"git {what} to {url} failed\n{tail}", stderr=stderr)

    # -- commands ----------------------------------------------------------------------

    def ls_remote(self) -> dict[str, str]:
        """Branch name → commit id of every branch on the remote (empty for an empty repo)."""
        result = self.run(["ls-remote", "--heads", self.url])
        heads: dict[str, str] = {}
        for line in result.stdout.splitlines():
            sha, _, ref = line.partition("\t")
            if ref.startswith("refs/heads/"):
                heads[ref[len("refs/heads/") :]] = sha
        return heads

    def fetch(self, branches: Iterable[str]) -> dict[str, str]:
        """Fetch *branches* into :data:`FETCH_NAMESPACE`; returns branch → commit id."""
        branches = list(dict.fromkeys(branches))
        if not branches:
            return {}
        refspecs = [f"+refs/heads/{b}:{FETCH_NAMESPACE}{b}" for b in branches]
        # A fetch killed midway leaves refs/gitexport-remote/<b>.lock, and every later fetch
        # of <b> would fail: journal the locks, remove those of a run that is gone.
        git_dir = Path(gitcmd.text(["rev-parse", "--absolute-git-dir"], cwd=self.repo_dir))
        git.release_locks_of_dead_runs(git_dir, FETCH_JOURNAL_NAME)
        locks = [f"{FETCH_NAMESPACE}{b}.lock" for b in branches]
        with git.holding_git_locks(git_dir, locks, journal=FETCH_JOURNAL_NAME):
            git.crash_point("in-fetch")
            self.run(
                ["fetch", "--no-tags", "--no-write-fetch-head", "--quiet", self.url, *refspecs]
            )
        out = {}
        for b in branches:
            res = self.run(
                ["rev-parse", "--verify", "--quiet", f"{FETCH_NAMESPACE}{b}^{{commit}}"],
                check=False,
                timeout=60,
            )
            if res.returncode == 0:
                out[b] = res.stdout.strip()
        return out

    def lfs_push(self, commits: Sequence[str], *, remote_has: Sequence[str] = ()) -> None:
        """Upload the LFS objects of *commits* that the server lacks.

        *remote_has*: commits already on the server (fetched tips). Their objects are not
        pushed again — a working repository seeded from the remote holds their pointers, not
        the objects, so asking git-lfs to push them would fail. A no-op when the commits use
        no LFS; an error when they do and git-lfs is missing.
        """
        if not commits:
            return
        if self.run(["lfs", "version"], check=False, timeout=60).returncode != 0:
            attrs = self.run(
                ["grep", "-l", "filter=lfs", *commits, "--", ".gitattributes", "**/.gitattributes"],
                check=False,
                timeout=60,
            )
            if attrs.returncode == 0 and attrs.stdout.strip():
                raise GitRemoteError(
                    "this export stores files with Git LFS but `git lfs` is not installed; "
                    "install git-lfs and retry"
                )
            return
        if remote_has:
            oids = self._lfs_oids(commits, remote_has)
            if oids:
                self.run(["lfs", "push", "--object-id", self.url, *oids])
            return
        self.run(["lfs", "push", self.url, *commits])

    def _lfs_oids(self, commits: Sequence[str], exclude: Sequence[str]) -> list[str]:
        """LFS object ids of every commit in *commits* but not in *exclude*, minus what the
        *exclude* tips hold."""

        def oids(commit: str) -> set[str]:
            out = self.run(["lfs", "ls-files", "--long", commit], timeout=120).stdout
            return {line.split()[0] for line in out.splitlines() if line.strip()}

        new = self.run(["rev-list", *commits, "--not", *exclude], timeout=120).stdout.split()
        wanted: set[str] = set()
        for commit in new:
            wanted |= oids(commit)
        for commit in exclude:
            wanted -= oids(commit)
        return sorted(wanted)

    def push(self, updates: Sequence[RefUpdate], *, atomic: bool = True) -> list[RefStatus]:
        """Push *updates* (atomically) with leases; raise :class:`PushRejectedError` on refusal."""
        if not updates:
            return []
        args = ["push", "--porcelain", "--no-verify"]
        if atomic and len(updates) > 1:
            args.append("--atomic")
        for u in updates:
            args.append(f"--force-with-lease={u.remote_ref}:{u.expected or ''}")
        args.append(self.url)
        # No "+": a "+" refspec forces past the lease; the lease alone allows non-ff updates.
        args += [f"{u.source}:{u.remote_ref}" for u in updates]
        result = self.run(args, check=False)
        statuses = _parse_porcelain(result.stdout)
        if result.returncode == 0 and all(s.ok for s in statuses):
            return statuses
        rejected = [s for s in statuses if not s.ok]
        if rejected:
            reasons = "; ".join(f"{s.remote_ref}: {s.summary} {s.reason}".strip() for s in rejected)
            raise PushRejectedError(f"push to {public_url(self.url)} rejected: {reasons}", statuses)
        raise self._error("push", result.stderr)


def _parse_porcelain(stdout: str) -> list[RefStatus]:
    statuses = []
    for line in stdout.splitlines():
        if not line or line.startswith("To ") or line == "Done" or "\t" not in line:
            continue
        flag, refs, summary = (line.split("\t") + ["", ""])[:3]
        _, _, dst = refs.partition(":")
        reason = ""
        m = re.match(r"(.*?)\s*\((.*)\)\s*$", summary)
        if m:
            summary, reason = m.group(1), m.group(2)
        statuses.append(RefStatus(dst or refs, flag[:1], summary.strip(), reason))
    return statuses


def _tail(stderr: str, lines: int = 6) -> str:
    keep = [ln for ln in stderr.strip().splitlines() if ln.strip()][-lines:]
    return "\n".join("  " + ln for ln in keep)
