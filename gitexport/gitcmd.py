"""The one way gitexport runs git: a scrubbed environment, bytes in and out, named failures.

Every git (and git-lfs) process gitexport starts — local exports (:mod:`gitexport.git`),
network git (:mod:`gitexport.git_remote`), the push algorithm (:mod:`gitexport.publish`),
the local provider — goes through :func:`run`, with the environment of :func:`clean_env`.

Why scrub: git obeys a family of environment variables that silently point it at another
repository, index or object store (``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE``,
``GIT_OBJECT_DIRECTORY`` ...) or change what commands mean (``GIT_CONFIG_*`` injected
configuration, pathspec modes, replace refs, grafts). They are set by git itself inside
hooks, by IDEs and by CI runners; inherited, they would make an export write to the wrong
repository or misread the right one. Only what gitexport sets per command survives.
Kept on purpose: identity (``GIT_AUTHOR_*``/``GIT_COMMITTER_*``, used when the caller names
someone), transport settings (``GIT_SSH_COMMAND``, ``GIT_SSL_*``, proxies) and tracing.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from gitexport.processes import kill_group

log = logging.getLogger(__name__)

#: Variables that redirect git to another repository / index / object store, or change how
#: it reads refs, paths and configuration. Removed from every git process's environment.
SCRUBBED = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_INDEX_VERSION",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_DISCOVERY_ACROSS_FILESYSTEM",
        "GIT_QUARANTINE_PATH",
        "GIT_REPLACE_REF_BASE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_GRAFT_FILE",
        "GIT_SHALLOW_FILE",
        "GIT_LITERAL_PATHSPECS",
        "GIT_GLOB_PATHSPECS",
        "GIT_NOGLOB_PATHSPECS",
        "GIT_ICASE_PATHSPECS",
        "GIT_PREFIX",
        "GIT_REFLOG_ACTION",
        "GIT_EDITOR",
        "GIT_SEQUENCE_EDITOR",
        "GIT_EXTERNAL_DIFF",
        "GIT_DIFF_OPTS",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_LFS_SKIP_SMUDGE",  # set explicitly where pointers are wanted
    }
)
#: Prefixes scrubbed the same way: injected configuration (``GIT_CONFIG``,
#: ``GIT_CONFIG_PARAMETERS``, ``GIT_CONFIG_COUNT``/``KEY_n``/``VALUE_n``) and our own
#: per-command secrets.
SCRUBBED_PREFIXES = ("GIT_CONFIG", "GITEXPORT_GIT_")
#: Kept although they match a prefix: they only say *where the user's own config files are*
#: (a CI runner or a test isolating its configuration), they inject nothing.
KEPT = frozenset({"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"})

DEFAULT_TIMEOUT = 600.0


class GitCommandError(RuntimeError):
    """A git command exited with a status the caller did not expect."""

    def __init__(self, args: Sequence[str], status: int, stderr: str):
        self.args_ = list(args)
        self.status = status
        self.stderr = stderr
        super().__init__(f"git {' '.join(args)} failed ({status}): {stderr.strip()}")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment without the variables of :data:`SCRUBBED`, plus *extra*.

    Messages in the C locale (gitexport parses some of them) and never a prompt: a command
    that would ask for a password fails instead of hanging.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k in KEPT or (k not in SCRUBBED and not k.startswith(SCRUBBED_PREFIXES))
    }
    env.update(LC_ALL="C", LANGUAGE="C", GIT_TERMINAL_PROMPT="0")
    if extra:
        env.update(extra)
    return env


class GitTimeout(RuntimeError):
    """A git command ran past its timeout; it and its children were killed."""

    def __init__(self, args: Sequence[str], timeout: float):
        self.args_ = list(args)
        self.timeout = timeout
        super().__init__(f"git {args[0] if args else ''} timed out after {timeout:.0f}s")


def execute(
    args: Sequence[str],
    *,
    cwd: Path | str | None = None,
    input: bytes | BinaryIO | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    replace_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``git <args>`` and return its exit status, stdout and stderr (bytes).

    Its own process group, so a timeout kills what git started too (git-remote-http,
    git-lfs, filters). *replace_env* is for :mod:`gitexport.git_remote`, which builds its
    environment from :func:`clean_env` itself; everyone else passes *env* extras. *input*
    is bytes, or an open file that becomes git's stdin (a large file: never read by us).
    """
    argv = ["git", *args]
    piped = isinstance(input, bytes)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(replace_env) if replace_env is not None else clean_env(env),
        stdin=subprocess.PIPE if piped else input if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input=input if piped else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        raise GitTimeout(args, timeout or 0.0) from None
    except BaseException:
        kill_group(proc)  # interrupted (Ctrl-C): leave no git behind
        proc.communicate()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def run(
    args: Sequence[str],
    *,
    cwd: Path | str | None = None,
    input: bytes | BinaryIO | None = None,
    env: Mapping[str, str] | None = None,
    ok: tuple[int, ...] = (0,),
    timeout: float | None = DEFAULT_TIMEOUT,
) -> tuple[int, bytes]:
    """Run ``git <args>`` in *cwd*; returns (exit status, stdout bytes).

    *env* is added to :func:`clean_env` (e.g. a private ``GIT_INDEX_FILE``). An exit status
    outside *ok* raises :class:`GitCommandError` with git's stderr.
    """
    proc = execute(args, cwd=cwd, input=input, env=env, timeout=timeout)
    if proc.returncode not in ok:
        raise GitCommandError(args, proc.returncode, proc.stderr.decode("utf-8", "replace"))
    return proc.returncode, proc.stdout


def text(args: Sequence[str], **kwargs) -> str:
    """:func:`run`'s stdout as stripped text."""
    return run(args, **kwargs)[1].decode("utf-8", "replace").strip()
