"""Every local git operation gitexport performs: export commits, merges, history, zips.

How an export works
-------------------
The renderer hands over a finished tree in memory (:class:`ExportRequest`). Export commits
hold *pure generator output* and live on the export branch ``gitexport/<pipeline id>``; each
one's parent is the previous export, so ``git diff`` along that branch shows exactly what the
generator changed. ``main`` is the user's branch: the export branch is merged into it with a
normal three-way merge whose base is the previous export, so the user's own commits survive
and only the generator's changes come in.

Crash safety: nothing the user can see changes until the very end. Blobs, trees and commits
are written as (harmlessly unreachable) objects using a private index file; then the export
branch moves, then ``main`` moves, and the working tree is updated last. Before ``main``
moves, a journal (``.git/gitexport-checkout.json``) records the move, so if the process dies
while updating the working tree the next export finishes that update first. A brand-new
project is built in a sibling directory and renamed into place in one step.

Decisions (documented for reviewers and users)
----------------------------------------------
* *Dirty means dirty*: any entry in ``git status --porcelain`` (tracked changes, staged
  changes, untracked files; ignored files do not count) refuses the export.
* *Adopt*: a non-empty directory that is a git repository with history but no exports is
  refused unless ``adopt=True``. Adopting makes the first export a root commit on the export
  branch (still pure generator output) and merges it into the existing ``main`` as an
  unrelated history: the user's files stay, generated files are added, and a file both sides
  have with different content is a conflict. A non-empty directory that is not a git
  repository is always refused: gitexport does not commit files it did not write.
* The first export into a new or empty directory always lands on ``main`` (there is nothing
  to review it against), whatever ``merge`` says.
* ``main`` is always the branch merged into. When ``HEAD`` is not on ``main`` the ref moves but
  the working tree (which shows another branch) is left alone.
* Only this process's pipeline may export into a repository: the last export's
  ``Pipeline-Id`` trailer must match exactly.
* gitexport's own commits are the ones :func:`gitexport.lineage.is_export` recognises: their
  ``Export-Tree`` trailer names their own tree. An export amended by hand (``git commit
  --amend`` keeps the trailers, not the tree) is a user's commit: merged, never built upon.
* Every git process runs through :mod:`gitexport.gitcmd` (scrubbed ``GIT_*`` environment).
  git's own lock files a killed export leaves are removed by the next one, and only those
  (see "git's own locks" below).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, Literal, Self

from gitdb import IStream, LooseObjectDB

from gitexport import gitcmd, lineage
from gitexport import trailers as tr
from gitexport.errors import UserError
from gitexport.processes import pid_alive
from gitexport.tree import CHUNK, Content, FileRef, entries_of, entry_of

__all__ = [
    "CRASH_STEPS",
    "ExportOutcome",
    "ExportRecord",
    "ExportRequest",
    "FileChange",
    "GitError",
    "export_branch_name",
    "export_to_repo",
    "last_export",
    "preview_export",
    "read_history",
    "write_zip",
]

log = logging.getLogger(__name__)

MAIN = "main"
MAIN_REF = f"refs/heads/{MAIN}"
EXPORT_BRANCH_PREFIX = "gitexport/"
PIPELINE_ID_KEY = lineage.PIPELINE_ID
PIPELINE_VERSION_KEY = lineage.PIPELINE_VERSION
LINEAGE_PATH = ".gitexport/lineage.json"
LOCK_NAME = "gitexport.lock"
JOURNAL_NAME = "gitexport-checkout.json"
#: Which of git's own lock files a running gitexport git command may hold, and whose run.
LOCKS_JOURNAL_NAME = "gitexport-git-locks.json"
DEFAULT_NAME = "gitexport"
DEFAULT_EMAIL = "gitexport@users.noreply.local"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git knows this object implicitly
ZERO_SHA = "0" * 40
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1\n"

#: Test hook: ``GITEXPORT_CRASH_AT=<step>`` kills the process (exit 99) at that step.
CRASH_ENV = "GITEXPORT_CRASH_AT"
CRASH_STEPS = (
    "after-objects",  # blobs and tree written
    "after-commit",  # export commit written, no ref moved
    "after-branch-ref",  # export branch moved (a valid "pending" state)
    "before-merge",
    "after-merge-commit",  # merge commit written, main not moved
    "after-main-ref",  # main moved, working tree not yet updated (journal present)
    "after-worktree",  # everything done but the lock release
    "before-rename",  # new project fully built in its staging directory
    # Inside a git command that holds one of git's own locks (a kill mid-command leaves it):
    "in-branch-ref",  # refs/heads/gitexport/<id>.lock
    "in-lfs-install",  # config.lock
    "in-main-ref",  # refs/heads/main.lock
    "in-worktree",  # index.lock (read-tree / checkout-index)
    "in-fetch",  # refs/gitexport-remote/<branch>.lock (the push's fetch, gitexport.git_remote)
)

# Same heuristic as git: a NUL byte in the first 8000 bytes means binary.
_BINARY_SNIFF = 8000

Status = Literal["created", "merged", "pending", "conflict", "up_to_date"]
ChangeStatus = Literal["added", "modified", "deleted"]


class GitError(RuntimeError):
    """A git command failed unexpectedly (a bug or a broken repository, not a refusal)."""


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class ExportRequest:
    """A finished project tree plus what to say about it in the commit."""

    files: Mapping[str, bytes]  # POSIX relative path -> content
    executable: frozenset[str]  # committed with mode 100755
    lfs_paths: frozenset[str]  # committed as Git LFS pointers
    pipeline_id: str
    subject: str
    body: str
    trailers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FileChange:
    """One file that differs from the last export. Binary files carry no line counts."""

    path: str
    status: ChangeStatus
    added_lines: int
    deleted_lines: int
    binary: bool


@dataclass(frozen=True)
class ExportOutcome:
    """What :func:`export_to_repo` did.

    ``status``: ``created`` (first export into a new repository), ``merged`` (into ``main``,
    fast-forward or merge commit), ``pending`` (left on the export branch, ``merge=False``),
    ``conflict`` (left on the export branch; ``conflicts`` names the files), ``up_to_date``
    (the tree equals the last export, which is already on ``main``).
    """

    status: Status
    branch: str
    export_commit: str
    main_commit: str | None
    previous_export: str | None
    committed: bool  # False when the tree equalled the last export
    conflicts: tuple[str, ...] = ()
    changes: tuple[FileChange, ...] = ()  # relative to the previous export


@dataclass(frozen=True)
class ExportRecord:
    """One export commit, read back from its trailers.

    ``trailers`` maps each key to the list of its values, in message order (every value is a
    list, because keys such as ``Model-Digest`` repeat). ``lineage`` is only filled by
    :func:`last_export`.
    """

    commit: str
    subject: str
    date: str  # author date, ISO 8601
    trailers: dict[str, list[str]]
    pipeline_id: str
    pipeline_version: str | None
    on_main: bool
    branch: str | None
    lineage: bytes | None = None

    @property
    def status(self) -> str:
        return "merged" if self.on_main else "pending"

    def to_json(self) -> dict:
        data = {
            "commit": self.commit,
            "subject": self.subject,
            "date": self.date,
            "pipeline_id": self.pipeline_id,
            "pipeline_version": self.pipeline_version,
            "status": self.status,
            "on_main": self.on_main,
            "branch": self.branch,
            "trailers": self.trailers,
        }
        if self.lineage is not None:
            data["lineage"] = self.lineage.decode("utf-8", "replace")
        return data


# --------------------------------------------------------------------------- public API


def export_branch_name(pipeline_id: str) -> str:
    """``gitexport/<slug>``: a valid ref name for any pipeline id.

    Characters git dislikes become ``-``; if the slug had to differ from the id, a short hash
    of the real id is appended so that ``my pipeline`` and ``my-pipeline`` stay apart.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", pipeline_id)
    slug = re.sub(r"\.{2,}", ".", slug)
    slug = re.sub(r"-{2,}", "-", slug).strip(".-_")[:60].strip(".-_")
    if slug != pipeline_id or slug.endswith(".lock"):
        digest = hashlib.sha256(pipeline_id.encode()).hexdigest()[:8]
        slug = f"{slug}-{digest}" if slug else f"pipeline-{digest}"
    return EXPORT_BRANCH_PREFIX + slug


def release_tag(version: str) -> str:
    """The tag of the release holding a pipeline version's artifacts: ``v<version>``."""
    clean = re.sub(r"[^A-Za-z0-9._+-]+", "-", str(version).strip()).strip(".-")
    if not clean:
        raise UserError(f"pipeline version {version!r} gives an empty tag")
    return clean if clean.startswith("v") else f"v{clean}"


def export_to_repo(
    repo_dir: Path, request: ExportRequest, *, merge: bool = True, adopt: bool = False
) -> ExportOutcome:
    """Commit ``request`` to the export branch of ``repo_dir`` and (by default) merge it.

    Raises :class:`UserError` when the export is refused (see the module docstring).
    """
    _validate_request(request)
    repo_dir = _target_dir(repo_dir)
    if _is_empty_target(repo_dir):
        return _export_into_new_dir(repo_dir, request)
    repo = _open_target(repo_dir)
    with repo, _ExportLock(Path(repo.git_dir), repo_dir):
        _release_stale_git_locks(repo)
        _finish_interrupted_checkout(repo)
        previous = _previous_export(repo, request.pipeline_id, adopt=adopt)
        _refuse_dirty_worktree(repo, repo_dir)
        return _export_in_repo(repo, request, previous, merge=merge)


def fast_forward_main(repo_dir: Path, commit: str) -> bool:
    """Bring ``main`` forward to *commit* (the remote's ``main``, fetched) when it descends
    from it — a pull request merged on the forge. LFS files arrive as their pointers, as in a
    seeded working repository (an export needs the history, not the objects). Returns
    whether ``main`` moved; never moves it sideways or back."""
    repo_dir = _target_dir(repo_dir)
    repo = _open_target(repo_dir)
    with repo, _ExportLock(Path(repo.git_dir), repo_dir):
        _release_stale_git_locks(repo)
        _finish_interrupted_checkout(repo)
        old = _resolve(repo, MAIN_REF)
        if old is None or old == commit or not _is_ancestor(repo, old, commit):
            return False
        _refuse_dirty_worktree(repo, repo_dir)
        _advance_main(repo, old, commit, env={"GIT_LFS_SKIP_SMUDGE": "1"})
        return True


def check_export_target(repo_dir: Path, pipeline_id: str, *, adopt: bool = False) -> None:
    """Refuse now what :func:`export_to_repo` would refuse (a foreign directory or
    repository, another pipeline's exports, uncommitted changes), before the expensive
    work. Writes nothing."""
    repo_dir = _target_dir(repo_dir)
    if _is_empty_target(repo_dir):
        return
    with _open_target(repo_dir) as repo:
        _previous_export(repo, pipeline_id, adopt=adopt)
        _refuse_dirty_worktree(repo, repo_dir)


def _target_dir(repo_dir: Path) -> Path:
    repo_dir = Path(repo_dir).absolute()
    if repo_dir.is_symlink():
        # Follow it: the project goes where the link points (an empty folder, or one to be
        # made); renaming the finished project onto the link itself would fail.
        repo_dir = repo_dir.resolve()
    return repo_dir


def _open_target(repo_dir: Path) -> Repo:
    """The repository an export goes into (not empty: see :func:`_is_empty_target`)."""
    if not repo_dir.is_dir():
        raise UserError(f"{repo_dir} exists and is not a directory")
    repo = _open_repo(repo_dir)
    if repo is None:
        raise UserError(
            f"{repo_dir} is not empty and is not a git repository; export into an empty "
            "directory, or commit its files to git first and export with adopt"
        )
    return repo


def preview_export(repo_dir: Path, files: Mapping[str, bytes]) -> list[FileChange]:
    """Dry run: how ``files`` differ from the last export in ``repo_dir``. Writes nothing."""
    for path in files:
        _check_relative_path(path)
    repo = _open_repo(Path(repo_dir))
    if repo is None:
        return diff_trees({}, files)
    with repo:
        history = _history(repo)
        old = _tree_files(repo, history[0].commit) if history else {}
        return diff_trees(old, files)


def tree_paths(repo_dir: Path, commit: str) -> list[str]:
    """The file paths of *commit*'s tree."""
    repo = _open_repo(Path(repo_dir))
    if repo is None:
        return []
    with repo:
        return sorted(_tree_files(repo, commit))


def read_history(repo_dir: Path) -> list[ExportRecord]:
    """Every export commit on ``main`` or an export branch, newest first."""
    repo = _open_repo(Path(repo_dir))
    if repo is None:
        return []
    with repo:
        return _history(repo)


def main_commit(repo_dir: Path) -> str | None:
    """The commit ``main`` points at (None: no repository or no ``main`` yet)."""
    repo = _open_repo(Path(repo_dir))
    if repo is None:
        return None
    with repo:
        return _resolve(repo, MAIN_REF)


def last_export(repo_dir: Path) -> ExportRecord | None:
    """The newest export, with the ``.gitexport/lineage.json`` it committed (if any)."""
    repo = _open_repo(Path(repo_dir))
    if repo is None:
        return None
    with repo:
        history = _history(repo)
        if not history:
            return None
        newest = history[0]
        return replace(newest, lineage=_read_blob(repo, newest.commit, LINEAGE_PATH))


def seed_from_remote(target: Path, fetch: Callable[[Path], Mapping[str, str]]) -> bool:
    """Make ``target`` a working repository holding a remote's exports, for a re-export.

    ``fetch(repo_dir)`` (network, with credentials: :mod:`gitexport.git_remote`) fetches the
    remote's ``main`` and export branch into a fresh repository and returns branch → commit.
    Those become local branches and ``main`` is checked out, LFS files as their pointers (the
    objects stay on the server; an export only needs the history). Built in a sibling
    directory and renamed into place, like a first export. Returns False, creating nothing,
    when the remote holds no ``main`` yet.
    """
    target = Path(target).absolute()
    staging = target.parent / _staging_name(target.name, os.getpid())
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with Repo.init(staging) as repo:
            _install_lfs(repo)
            heads = dict(fetch(staging))
            if MAIN not in heads:
                shutil.rmtree(staging, ignore_errors=True)
                return False
            for branch, commit in heads.items():
                _git(repo, "update-ref", f"refs/heads/{branch}", commit)
            _git(repo, "checkout", "-q", "-f", MAIN, env={"GIT_LFS_SKIP_SMUDGE": "1"})
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return True


def read_export_file(repo_dir: Path, commit: str, path: str) -> bytes | None:
    """A file as ``commit`` stored it (LFS files as their pointers), or None if absent."""
    repo = _open_repo(Path(repo_dir))
    if repo is None:
        return None
    with repo:
        return _read_blob(repo, commit, path)


def write_zip(
    source: Path | Mapping[str, bytes],
    zip_path: Path,
    include_git: bool = False,
    *,
    executable: frozenset[str] = frozenset(),
    prefix: str = "",
) -> list[str]:
    """Write a reproducible zip of a project; returns the entry names.

    ``source`` is either a project directory or an in-memory tree (path -> bytes, with
    ``executable`` naming the 100755 files). For a git repository only tracked files are
    zipped (so a local ``.venv`` or data dump never ends up in a download) plus, with
    ``include_git``, the ``.git`` directory itself. Entries are sorted and carry a fixed
    1980-01-01 timestamp, so the same tree always gives the same bytes. No entry can point
    outside the project root: names are checked, and symlinks are skipped, not followed.
    ``prefix`` (e.g. ``"my-project/"``) puts every entry under one top-level folder.
    """
    zip_path = Path(zip_path).absolute()
    if isinstance(source, Mapping):
        if include_git:
            raise ValueError("include_git needs a repository directory, not an in-memory tree")
        entries = _zip_entries_from_files(source, executable)
    else:
        entries = _zip_entries_from_dir(Path(source).absolute(), include_git, skip=zip_path)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if prefix:
        _check_relative_path(prefix.rstrip("/"))
    names = _write_zip_entries(
        zip_path, [(prefix + name, data, mode) for name, data, mode in entries]
    )
    return names


# --------------------------------------------------------------------------- git runner


class Repo:
    """A local repository: its top level, its git directory, and its loose-object store.

    Every command runs through :func:`gitexport.gitcmd.run` (scrubbed environment), in the
    top level, so git finds this repository and no other.
    """

    def __init__(self, working_dir: Path | str, git_dir: Path | str):
        self.working_dir = str(working_dir)
        self.git_dir = str(git_dir)
        self._odb: LooseObjectDB | None = None

    @classmethod
    def init(cls, path: Path) -> Repo:
        path = Path(path)
        gitcmd.run(["init", "-q", "-b", MAIN, str(path)])
        return cls(path, path / ".git")

    @property
    def odb(self) -> LooseObjectDB:
        if self._odb is None:
            self._odb = LooseObjectDB(os.path.join(self.git_dir, "objects"))
        return self._odb

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self._odb = None


def _git(
    repo: Repo,
    *args: str,
    input: bytes | BinaryIO | None = None,
    env: Mapping[str, str] | None = None,
    ok: tuple[int, ...] = (0,),
) -> tuple[int, bytes]:
    """Run one git command in ``repo``; returns (exit status, stdout bytes).

    Exit statuses that carry meaning (merge-tree's 1 = conflicts) are listed in *ok* and are
    not exceptions; *env* adds to the scrubbed environment (a private index, an identity).
    """
    try:
        return gitcmd.run(args, cwd=repo.working_dir, input=input, env=env, ok=ok)
    except gitcmd.GitCommandError as exc:
        raise GitError(str(exc)) from None


def _git_text(repo: Repo, *args: str, **kwargs) -> str:
    return _git(repo, *args, **kwargs)[1].decode("utf-8", "replace").strip()


def _open_repo(repo_dir: Path) -> Repo | None:
    """The repository whose top level is ``repo_dir``, or None (no parent search)."""
    if not (repo_dir / ".git").exists():
        return None
    try:
        status, out = gitcmd.run(
            ["rev-parse", "--absolute-git-dir", "--show-toplevel"], cwd=repo_dir, ok=(0, 128)
        )
    except (gitcmd.GitCommandError, OSError):
        return None
    lines = out.decode("utf-8", "surrogateescape").splitlines()
    if status != 0 or len(lines) != 2:
        return None
    if Path(lines[1]).resolve() != Path(repo_dir).resolve():
        return None
    return Repo(repo_dir, lines[0])


def _resolve(repo: Repo, ref: str) -> str | None:
    status, out = _git(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", ok=(0, 1))
    return out.decode().strip() if status == 0 else None


def _tree_of(repo: Repo, commit: str) -> str:
    return _git_text(repo, "rev-parse", f"{commit}^{{tree}}")


def _is_ancestor(repo: Repo, ancestor: str, descendant: str) -> bool:
    status, _ = _git(repo, "merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1))
    return status == 0


def _update_ref(
    repo: Repo, ref: str, new: str, old: str | None, *, crash: str | None = None
) -> None:
    """Move ``ref`` only if it still points at ``old`` (compare-and-swap)."""
    if new == old:
        return
    with _holding_git_locks(repo, [f"{ref}.lock"], crash=crash):
        _git(repo, "update-ref", "-m", "gitexport", ref, new, old or ZERO_SHA)


def _head_is_main(repo: Repo) -> bool:
    status, out = _git(repo, "symbolic-ref", "-q", "HEAD", ok=(0, 1))
    return status == 0 and out.decode().strip() == MAIN_REF


def _identity_env() -> dict[str, str]:
    """gitexport's identity unless the caller's environment names someone."""
    env = {}
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = os.environ.get(f"GIT_{role}_NAME") or DEFAULT_NAME
        env[f"GIT_{role}_EMAIL"] = os.environ.get(f"GIT_{role}_EMAIL") or DEFAULT_EMAIL
    return env


def crash_point(step: str) -> None:
    """The crash-test hook for other modules (:data:`CRASH_STEPS`)."""
    _crash_point(step)


def _crash_point(step: str) -> None:
    """Die here if the crash-test hook asks for it (tests only; see :data:`CRASH_STEPS`)."""
    assert step in CRASH_STEPS, step
    if os.environ.get(CRASH_ENV) == step:
        os._exit(99)


# --------------------------------------------------------------------------- validation


def _check_relative_path(path: str) -> None:
    """A POSIX path that stays inside the project and does not touch ``.git``."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\0" in path
        or any(part in ("", ".", "..") for part in parts)
        or any(part.lower() == ".git" for part in parts)
    ):
        raise ValueError(f"unsafe project path {path!r}")


def _validate_request(request: ExportRequest) -> None:
    for path in request.files:
        _check_relative_path(path)
    for name, paths in (("executable", request.executable), ("lfs_paths", request.lfs_paths)):
        unknown = sorted(set(paths) - set(request.files))
        if unknown:
            raise ValueError(f"{name} names files not in the tree: {unknown}")
    lineage.check_pipeline_id(request.pipeline_id)  # compared exactly, so stored exactly
    tr.format_trailers(request.trailers)  # raises on a bad key
    given = [v for k, v in request.trailers if k.lower() == PIPELINE_ID_KEY.lower()]
    if any(v != request.pipeline_id for v in given):
        raise ValueError("the Pipeline-Id trailer does not match pipeline_id")


def _message_trailers(request: ExportRequest, tree: str) -> tuple[tuple[str, str], ...]:
    """The request's trailers, with ``Pipeline-Id`` first if the caller left it out, and
    ``Export-Tree`` (the tree written, which an amend does not keep) last."""
    pairs = tuple((k, v) for k, v in request.trailers if k.lower() != lineage.EXPORT_TREE.lower())
    if not any(k.lower() == PIPELINE_ID_KEY.lower() for k, _ in pairs):
        pairs = ((PIPELINE_ID_KEY, request.pipeline_id), *pairs)
    return (*pairs, (lineage.EXPORT_TREE, tree))


def _is_empty_target(repo_dir: Path) -> bool:
    return not repo_dir.exists() or (repo_dir.is_dir() and not any(repo_dir.iterdir()))


# --------------------------------------------------------------------------- the export


def _export_into_new_dir(target: Path, request: ExportRequest) -> ExportOutcome:
    """Build the repository in a sibling directory, then rename it into place atomically.

    A crash leaves ``target`` untouched; the next export removes the orphaned staging dir.
    """
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging_dirs(parent, target.name)
    staging = parent / _staging_name(target.name, os.getpid())
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with Repo.init(staging) as repo:
            outcome = _export_in_repo(repo, request, previous=None, merge=True)
        _crash_point("before-rename")
        try:
            os.rename(staging, target)  # POSIX: atomically replaces an empty directory
        except OSError as exc:
            raise UserError(
                f"{target} was filled by someone else during the export; nothing was written"
            ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return outcome


def _staging_name(target_name: str, pid: int) -> str:
    return f".{target_name}.gitexport-{pid}.tmp"


def _remove_stale_staging_dirs(parent: Path, target_name: str) -> None:
    pattern = re.compile(re.escape(f".{target_name}.gitexport-") + r"(\d+)\.tmp\Z")
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if match and not pid_alive(int(match.group(1))):
            log.info("removing %s left by an interrupted export", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _previous_export(repo: Repo, pipeline_id: str, *, adopt: bool) -> str | None:
    """The export commit the new one builds on; refuses a foreign pipeline or repository.

    That is the newest export commit (found by its trailers) on ``main`` or an export
    branch: normally the export branch's tip, but also right when that branch is gone (a
    fresh clone) or stale (a newer export came in with a pull).
    """
    history = _history(repo)
    branch = export_branch_name(pipeline_id)
    tip = _resolve(repo, f"refs/heads/{branch}")
    if tip and tip not in {record.commit for record in history}:
        raise UserError(
            f"branch {branch} has commits gitexport did not make; it must hold generated "
            "output only, so move those commits to another branch and rerun"
        )
    if history:
        wanted = pipeline_id  # exact: ids are stored as they are (lineage)
        if history[0].pipeline_id != wanted:
            raise UserError(
                f"{repo.working_dir} holds exports of pipeline {history[0].pipeline_id!r}; "
                f"refusing to export pipeline {wanted!r} into it"
            )
        return history[0].commit
    if _git(repo, "for-each-ref", "--count=1")[1].strip() and not adopt:
        raise UserError(
            f"{repo.working_dir} is a git repository without gitexport history; "
            "export into an empty directory, or pass adopt to merge the export into its main"
        )
    return None


def _refuse_dirty_worktree(repo: Repo, repo_dir: Path) -> None:
    # --no-optional-locks: a refusal must not even refresh the index.
    _, out = _git(
        repo, "--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=all"
    )
    entries = [e for e in out.decode("utf-8", "replace").split("\0") if e]
    if entries:
        shown = ", ".join(e[3:] for e in entries[:5]) + (" ..." if len(entries) > 5 else "")
        raise UserError(f"{repo_dir} has uncommitted changes ({shown}); commit or stash them first")


def _export_in_repo(
    repo: Repo, request: ExportRequest, previous: str | None, *, merge: bool
) -> ExportOutcome:
    """Commit the tree onto the export branch, then bring it into ``main`` if asked to."""
    branch = export_branch_name(request.pipeline_id)
    branch_ref = f"refs/heads/{branch}"
    changes = tuple(diff_trees(_tree_files(repo, previous) if previous else {}, request.files))

    tree = _write_tree(repo, request)
    _crash_point("after-objects")
    committed = previous is None or _tree_of(repo, previous) != tree
    if committed:
        message = tr.build_message(request.subject, request.body, _message_trailers(request, tree))
        export_commit = _commit_tree(repo, tree, [previous] if previous else [], message)
    else:
        export_commit = previous
    _crash_point("after-commit")
    _update_ref(repo, branch_ref, export_commit, _resolve(repo, branch_ref), crash="in-branch-ref")
    _crash_point("after-branch-ref")

    outcome = ExportOutcome(
        status="up_to_date",
        branch=branch,
        export_commit=export_commit,
        main_commit=_resolve(repo, MAIN_REF),
        previous_export=previous,
        committed=committed,
        changes=changes,
    )
    main_before = outcome.main_commit
    if main_before and _is_ancestor(repo, export_commit, main_before):
        return outcome
    if main_before and not merge:
        return replace(outcome, status="pending")

    _crash_point("before-merge")
    if main_before is None or _is_ancestor(repo, main_before, export_commit):
        main_after = export_commit  # first export, or the user has not committed since
    else:
        ours = main_before
        base = _amended_export_base(repo, main_before, export_commit) if previous else None
        if base is not None:
            # main grew from an amended export (a root amend shares no history with the
            # export branch): merge as if main had grown from the export it amended, so
            # the three-way base is that export and the user's amendment is kept.
            ours = _commit_tree(repo, _tree_of(repo, main_before), [base], "merge base\n")
        merged_tree, conflicts = _merge_tree(repo, ours, export_commit, unrelated=previous is None)
        if conflicts:
            return replace(outcome, status="conflict", conflicts=conflicts)
        message = tr.build_message(
            f"Merge {branch} into {MAIN}",
            f"Brings in the generated project from {export_commit[:12]} "
            f"({tr.sanitise_subject(request.subject)}).",
            (),
        )
        main_after = _commit_tree(repo, merged_tree, [main_before, export_commit], message)
        _crash_point("after-merge-commit")

    _install_lfs(repo)
    _advance_main(repo, main_before, main_after)
    status = "created" if main_before is None else "merged"
    return replace(outcome, status=status, main_commit=main_after)


def _amended_export_base(repo: Repo, main: str, export_commit: str) -> str | None:
    """When *main* shares no history with the export chain of *export_commit*: the export
    that an amended commit in main's history was made from (its ``Export-Tree``), if any."""
    status, _ = _git(repo, "merge-base", main, export_commit, ok=(0, 1))
    if status == 0:
        return None  # a real merge base exists; git's own choice is right
    chain = {
        e.tree: e.sha for e in _log(repo, [export_commit]) if lineage.is_export(e.message, e.tree)
    }
    for entry in _log(repo, [main], limit=1000):
        found = lineage.parse(entry.message)
        if found.export_tree and found.export_tree != entry.tree and found.export_tree in chain:
            return chain[found.export_tree]
    return None


def _store_blob(repo: Repo, data: Content) -> str:
    # GitPython writes the loose object itself: no process per file. A ref streams in chunks.
    if isinstance(data, FileRef):
        with open(data.path, "rb") as fh:
            return repo.odb.store(IStream(b"blob", data.size, fh)).hexsha.decode()
    return repo.odb.store(IStream(b"blob", len(data), BytesIO(data))).hexsha.decode()


def _lfs_clean(repo: Repo, data: Content) -> bytes:
    """The LFS pointer for ``data``; git-lfs stores the object in ``.git/lfs/objects``.

    A ref's file is git-lfs's stdin itself: git-lfs streams it, nothing passes through us.
    No path argument on purpose: given one, git-lfs stats that file in the working tree
    and trusts its (old!) size, truncating the new content to it.
    """
    if isinstance(data, FileRef):
        with open(data.path, "rb") as fh:
            pointer = _git(repo, "lfs", "clean", input=fh)[1]
        size = data.size
    else:
        pointer = _git(repo, "lfs", "clean", input=data)[1]
        size = len(data)
    if f"\nsize {size}\n".encode() not in pointer:
        raise GitError(f"git lfs clean returned an unexpected pointer: {pointer[:200]!r}")
    return pointer


def _write_tree(repo: Repo, request: ExportRequest) -> str:
    """Write every blob and the tree through a private index; nothing visible changes."""
    entries = []
    for path in sorted(request.files):
        data = entry_of(request.files, path)
        if path in request.lfs_paths:
            data = _lfs_clean(repo, data)
        mode = "100755" if path in request.executable else "100644"
        entries.append(f"{mode} {_store_blob(repo, data)}\t{path}\0")
    with tempfile.TemporaryDirectory(prefix="gitexport-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        _git(repo, "update-index", "-z", "--index-info", input="".join(entries).encode(), env=env)
        _check_lfs_attributes(repo, request, env)
        return _git_text(repo, "write-tree", env=env)


def _check_lfs_attributes(repo: Repo, request: ExportRequest, env: Mapping[str, str]) -> None:
    """``lfs_paths`` must be exactly the files ``.gitattributes`` sends through LFS.

    Otherwise a checkout would leave pointer text in the worktree, or ``git status`` would
    report generated files as modified straight after the export.
    """
    paths = "".join(f"{p}\0" for p in sorted(request.files)).encode()
    _, out = _git(repo, "check-attr", "-z", "--cached", "--stdin", "filter", input=paths, env=env)
    fields = out.decode().split("\0")
    lfs_by_attr = {fields[i] for i in range(0, len(fields) - 2, 3) if fields[i + 2] == "lfs"}
    mismatched = sorted(lfs_by_attr ^ set(request.lfs_paths))
    if mismatched:
        raise ValueError(f"lfs_paths and .gitattributes disagree about: {mismatched}")


def _commit_tree(repo: Repo, tree: str, parents: list[str], message: str) -> str:
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    return _git_text(repo, *args, "-F", "-", input=message.encode(), env=_identity_env())


def _merge_tree(
    repo: Repo, ours: str, theirs: str, *, unrelated: bool
) -> tuple[str, tuple[str, ...]]:
    """Merge without touching index or worktree: (merged tree, conflicting paths)."""
    args = ["merge-tree", "--write-tree", "--name-only", "-z"]
    if unrelated:
        args.append("--allow-unrelated-histories")
    status, out = _git(repo, *args, ours, theirs, ok=(0, 1, 128))
    if status == 128:
        raise UserError(
            f"cannot merge export {theirs[:12]} into {MAIN}: {MAIN} no longer shares "
            "history with the previous export; the export stays on its branch for review"
        )
    fields = out.decode("utf-8", "replace").split("\0")
    tree, conflicts = fields[0], []
    for name in fields[1:]:
        if not name:
            break  # an empty field ends the conflicted-file list
        conflicts.append(name)
    return tree, tuple(conflicts) if status == 1 else ()


def _install_lfs(repo: Repo) -> None:
    """Local LFS filters (needed to smudge on checkout) and, if possible, its hooks."""
    with _holding_git_locks(repo, ["config.lock"], crash="in-lfs-install"):
        status, _ = _git(repo, "lfs", "install", "--local", ok=(0, 1, 2))
        if status != 0:
            # Another tool owns the hooks; the filters are what the checkout needs.
            log.warning("git lfs could not install its hooks; push LFS objects with `git lfs push`")
            _git(repo, "lfs", "install", "--local", "--skip-repo")


# --------------------------------------------------------------------------- worktree


def _journal_path(repo: Repo) -> Path:
    return Path(repo.git_dir) / JOURNAL_NAME


def _advance_main(
    repo: Repo, old: str | None, new: str, *, env: Mapping[str, str] | None = None
) -> None:
    """Move ``main``, then bring the working tree along; a journal covers the gap."""
    checked_out = _head_is_main(repo)
    if checked_out:
        # Also the proof, should this run be killed, that a leftover index.lock is ours.
        record = {"old": old, "new": new, **_owner_record(), "locks": ["index.lock"]}
        _write_atomically(_journal_path(repo), json.dumps(record).encode())
    _update_ref(repo, MAIN_REF, new, old, crash="in-main-ref")
    _crash_point("after-main-ref")
    if checked_out:
        _crash_point("in-worktree")
        _checkout_changes(repo, old, new, env=env)
        _journal_path(repo).unlink()
    _crash_point("after-worktree")


def _finish_interrupted_checkout(repo: Repo) -> None:
    """Complete a working-tree update that a killed export left half done."""
    journal = _journal_path(repo)
    record = _read_journal(journal)
    if record is None:
        return
    if _resolve(repo, MAIN_REF) == record["new"] and _head_is_main(repo):
        log.warning("finishing the working-tree update of an interrupted export")
        _checkout_changes(repo, record["old"], record["new"])
    journal.unlink()


# --------------------------------------------------------------------------- git's own locks
#
# git guards the index, refs and config with ``<file>.lock`` files; a git process killed
# mid-command (because gitexport was killed) leaves its lock, and every later git command
# on that file fails ("index.lock: File exists"). Before a locking command gitexport records
# which locks it may leave and whose run it is (pid, host, boot); the next export removes
# exactly those, and only once that run is provably gone (:func:`_owner_gone`). A lock no
# journal of a dead run names is someone else's: it is never touched, the export stops
# with a message naming it.


def _holding_git_locks(repo: Repo, locks: list[str], *, crash: str | None = None):
    return holding_git_locks(Path(repo.git_dir), locks, crash=crash)


@contextmanager
def holding_git_locks(
    git_dir: Path, locks: list[str], *, journal: str = LOCKS_JOURNAL_NAME, crash: str | None = None
):
    """Around a git command that takes *locks* (paths relative to *git_dir*): a journal
    naming them and this run, so :func:`release_locks_of_dead_runs` may remove them should
    this process be killed mid-command."""
    path = Path(git_dir) / journal
    _write_atomically(path, json.dumps({**_owner_record(), "locks": locks}).encode())
    try:
        if crash:
            _crash_point(crash)
        yield
    finally:
        path.unlink(missing_ok=True)


def _owner_record() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot": _boot_id()}


def _boot_id() -> str:
    """This machine's boot (Linux); '' where unknown. A pid is only meaningful within it."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _owner_gone(record: Mapping) -> bool:
    """Whether the run that wrote *record* has provably ended: on this host, in an earlier
    boot, or in this boot with its pid no longer alive. A run on another host cannot be
    checked, so it is never presumed gone."""
    if record.get("host") != socket.gethostname():
        return False
    boot = record.get("boot") or ""
    if boot and _boot_id() and boot != _boot_id():
        return True
    pid = record.get("pid")
    return isinstance(pid, int) and not pid_alive(pid)


def _read_journal(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        raise UserError(
            f"{path} is damaged (not gitexport's JSON); if no export is running, delete it "
            "and check the repository with `git status`"
        ) from None
    if not isinstance(record, dict):
        raise UserError(f"{path} is damaged; if no export is running, delete it")
    return record


def release_locks_of_dead_runs(git_dir: Path, journal: str, *, keep_journal: bool = False):
    """Remove the lock files *journal* names if the run that wrote it is provably gone."""
    git_dir = Path(git_dir)
    path = git_dir / journal
    record = _read_journal(path)
    if record is None or not _owner_gone(record):
        return
    for name in record.get("locks", []):
        lock = git_dir / name
        if _inside(lock, git_dir) and lock.is_file():
            log.warning("removing %s left by an interrupted gitexport run", lock)
            lock.unlink()
    if not keep_journal:
        path.unlink(missing_ok=True)


def _release_stale_git_locks(repo: Repo) -> None:
    """Remove git lock files a killed gitexport run left (see above), and nothing else."""
    git_dir = Path(repo.git_dir)
    release_locks_of_dead_runs(git_dir, LOCKS_JOURNAL_NAME)
    # The checkout journal stays: _finish_interrupted_checkout completes what it records.
    release_locks_of_dead_runs(git_dir, JOURNAL_NAME, keep_journal=True)
    for name in ("index.lock", f"{MAIN_REF}.lock", "config.lock"):
        if (git_dir / name).exists():
            raise UserError(
                f"{git_dir / name} exists: a git command is running in {repo.working_dir}, "
                "or one was killed. gitexport did not leave it; if no git command is running, "
                "delete that file and rerun"
            )


def _inside(path: Path, root: Path) -> bool:
    return os.path.normpath(path).startswith(os.path.normpath(root) + os.sep)


def _checkout_changes(
    repo: Repo, old: str | None, new: str, *, env: Mapping[str, str] | None = None
) -> None:
    """Update index and worktree from commit ``old`` to ``new``, touching only what changed.

    Idempotent, so it also finishes an interrupted update. It never overwrites content that
    is neither the old nor the new version of a file (a user's edit): it refuses instead.
    """
    old_tree = _tree_of(repo, old) if old else EMPTY_TREE
    new_tree = _tree_of(repo, new)
    changed = _changed_paths(repo, old_tree, new_tree)
    _refuse_foreign_content(repo, changed)
    # Two-tree index-only merge: keeps stat data of unchanged entries (so no re-hashing of
    # big files), and accepts an index already at ``new`` (an interrupted earlier run).
    _git(repo, "read-tree", "-m", "-i", old_tree, new_tree)
    root = Path(repo.working_dir)
    for path, (_, new_sha) in changed.items():
        if new_sha == ZERO_SHA:
            _remove_worktree_file(root, path)
    present = [path for path, (_, new_sha) in changed.items() if new_sha != ZERO_SHA]
    if present:
        # checkout-index runs the smudge filter, so LFS files arrive as real content.
        paths = "".join(f"{p}\0" for p in present).encode()
        _git(repo, "checkout-index", "-f", "-u", "-q", "-z", "--stdin", input=paths, env=env)


def _changed_paths(repo: Repo, old_tree: str, new_tree: str) -> dict[str, tuple[str, str]]:
    """path -> (old blob, new blob), ZERO_SHA for a missing side."""
    _, out = _git(repo, "diff-tree", "-r", "-z", "--no-renames", old_tree, new_tree)
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    changed = {}
    for meta, path in zip(
        fields[0::2], fields[1::2], strict=False
    ):  # trailing "" after the last NUL
        _, _, old_sha, new_sha, _ = meta.lstrip(":").split(" ")
        changed[path] = (old_sha, new_sha)
    return changed


def _refuse_foreign_content(repo: Repo, changed: Mapping[str, tuple[str, str]]) -> None:
    root = Path(repo.working_dir)
    existing = [p for p in changed if (root / p).is_file() and not (root / p).is_symlink()]
    if not existing:
        return
    # hash-object applies the clean filters (LFS) exactly as `git add` would.
    stdin = "".join(f"{p}\n" for p in existing).encode()
    _, out = _git(repo, "hash-object", "--stdin-paths", input=stdin)
    foreign = [
        path
        for path, sha in zip(existing, out.decode().split(), strict=True)
        if sha not in changed[path]
    ]
    if foreign:
        raise UserError(
            f"files changed while the export was updating the working tree: {foreign}; "
            f"{MAIN} already holds the export, so commit or discard those edits and rerun"
        )


def _remove_worktree_file(root: Path, path: str) -> None:
    """Delete a file the export removed, and any directories it leaves empty."""
    target = root / path
    target.unlink(missing_ok=True)
    for parent in target.parents:
        if parent == root:
            break
        try:
            parent.rmdir()
        except OSError:
            break  # not empty (or already gone): stop climbing


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- locking


class _ExportLock:
    """``.git/gitexport.lock``: one export per repository at a time.

    The file holds ``<pid> <host> boot=<boot id>``; while held, a thread refreshes its mtime
    every :attr:`HEARTBEAT_SECONDS`. A lock is taken over only when its owner is provably
    gone:

    * same host and boot, and the pid is not alive;
    * same host, another boot (the machine restarted since);
    * another host (a container sharing the volume): its pid cannot be checked from here, so
      only a heartbeat older than :attr:`STALE_AFTER_SECONDS` (the owner stopped refreshing
      for many intervals: it died, or its machine did) proves it gone.

    A lock that is not in this format was not written by gitexport (or is damaged): the
    export stops and says to delete it if no export is running.
    """

    # A lock file seen empty is being written right now, unless it is older than this.
    _EMPTY_GRACE_SECONDS = 10.0
    HEARTBEAT_SECONDS = 15.0
    STALE_AFTER_SECONDS = 300.0
    _FORMAT = re.compile(r"(\d+) (\S+)(?: boot=(\S*))?\n?\Z")

    def __init__(self, git_dir: Path, repo_dir: Path):
        self.path = git_dir / LOCK_NAME
        self.repo_dir = repo_dir
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> Self:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{os.getpid()} {socket.gethostname()} boot={_boot_id()}\n")
            self._beat = threading.Thread(target=self._heartbeat, daemon=True)
            self._beat.start()
            return self
        raise UserError(f"could not lock {self.path}; try again")

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        self.path.unlink(missing_ok=True)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.HEARTBEAT_SECONDS):
            try:
                os.utime(self.path)
            except OSError:
                return

    def _take_over_if_stale(self) -> None:
        try:
            content = self.path.read_text(errors="replace")
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return  # released meanwhile: just retry
        if not content.strip():
            if age < self._EMPTY_GRACE_SECONDS:
                raise self._busy("another process")
        else:
            match = self._FORMAT.match(content)
            if match is None:
                raise UserError(
                    f"{self.path} is not a gitexport lock (it holds {content[:80]!r}, not "
                    "'<pid> <host>'): something else wrote it, or it is damaged. If no export "
                    f"into {self.repo_dir} is running, delete {self.path} and rerun"
                )
            pid, host, boot = int(match.group(1)), match.group(2), match.group(3) or ""
            record = {"pid": pid, "host": host, "boot": boot}
            if host != socket.gethostname():
                if age < self.STALE_AFTER_SECONDS:
                    raise self._busy(
                        f"process {pid} on host {host}, alive {age:.0f}s ago; taken over "
                        f"once it has not refreshed the lock for {self.STALE_AFTER_SECONDS:.0f}s"
                    )
            elif not _owner_gone(record):
                raise self._busy(f"process {pid} on {host}")
        log.warning("removing stale lock %s (%s)", self.path, content.strip() or "empty")
        # Remove only the lock we judged stale, not one a competitor just created.
        try:
            if self.path.read_text(errors="replace") == content:
                self.path.unlink()
        except FileNotFoundError:
            pass

    def _busy(self, holder: str) -> UserError:
        return UserError(
            f"another export into {self.repo_dir} is running ({holder}); wait for it to "
            f"finish, or delete {self.path} if that process is gone"
        )


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class CommitInfo:
    """One commit as :func:`read_commits` lists it."""

    sha: str
    tree: str
    author: str
    date: str  # author date, ISO 8601
    message: str


def _log(
    repo: Repo, refs: Iterable[str], *, limit: int | None = None, not_branches: bool = False
) -> list[CommitInfo]:
    args = ["log", "-z", "--topo-order", "--format=%H%n%T%n%an%n%aI%n%B"]
    if limit is not None:
        args.append(f"-n{limit}")
    args += list(refs)
    if not_branches:
        args += ["--not", "--branches"]
    _, out = _git(repo, *args, "--")
    entries = []
    for raw in out.decode("utf-8", "replace").split("\0"):
        if raw.strip():
            sha, tree, author, date, message = (raw.lstrip("\n").split("\n", 4) + [""] * 4)[:5]
            entries.append(CommitInfo(sha, tree, author, date, message))
    return entries


def read_commits(
    repo_dir: Path, refs: Iterable[str], *, limit: int | None = None, not_branches: bool = False
) -> list[CommitInfo]:
    """The commits reachable from *refs* (minus every local branch's, with *not_branches*),
    newest first: what :mod:`gitexport.lineage` needs to tell gitexport's commits apart."""
    refs = list(refs)
    repo = _open_git_dir(Path(repo_dir))
    if repo is None or not refs:
        return []
    with repo:
        return _log(repo, refs, limit=limit, not_branches=not_branches)


def _open_git_dir(repo_dir: Path) -> Repo | None:
    """A repository with or without a work tree (the push's working copy, a bare remote)."""
    try:
        status, out = gitcmd.run(["rev-parse", "--absolute-git-dir"], cwd=repo_dir, ok=(0, 128))
    except (gitcmd.GitCommandError, OSError):
        return None
    return Repo(repo_dir, out.decode().strip()) if status == 0 else None


def _export_branches(repo: Repo) -> dict[str, str]:
    _, out = _git(
        repo,
        "for-each-ref",
        "--format=%(refname:short) %(objectname)",
        f"refs/heads/{EXPORT_BRANCH_PREFIX}",
    )
    return dict(line.split(" ", 1) for line in out.decode().splitlines() if line)


def _reachable(repo: Repo, ref: str) -> set[str]:
    return set(_git(repo, "rev-list", ref)[1].decode().split())


def _history(repo: Repo) -> list[ExportRecord]:
    """gitexport's export commits (:func:`gitexport.lineage.is_export`), newest first."""
    branches = _export_branches(repo)
    main = _resolve(repo, MAIN_REF)
    refs = ([main] if main else []) + sorted(set(branches.values()))
    if not refs:
        return []
    on_main = _reachable(repo, main) if main else set()
    branch_members = {name: _reachable(repo, sha) for name, sha in sorted(branches.items())}
    records = []
    for entry in _log(repo, refs):
        if not lineage.is_export(entry.message, entry.tree):
            continue  # a user's commit, also one amended from an export
        found = lineage.parse(entry.message).trailers
        records.append(
            ExportRecord(
                commit=entry.sha,
                subject=entry.message.split("\n", 1)[0],
                date=entry.date,
                trailers=found,
                pipeline_id=found[PIPELINE_ID_KEY][0],
                pipeline_version=found.get(PIPELINE_VERSION_KEY, [None])[0],
                on_main=entry.sha in on_main,
                branch=next((b for b, m in branch_members.items() if entry.sha in m), None),
            )
        )
    return records


def _read_blob(repo: Repo, commit: str, path: str) -> bytes | None:
    # 128: no such path in that commit (or not a file there).
    status, out = _git(repo, "cat-file", "blob", f"{commit}:{path}", ok=(0, 128))
    return out if status == 0 else None


def _tree_files(repo: Repo, commit: str) -> dict[str, bytes]:
    """Every file of a commit, as stored (LFS files as their pointers)."""
    _, listing = _git(repo, "ls-tree", "-r", "-z", "--full-tree", commit)
    entries = []
    for record in listing.decode("utf-8", "surrogateescape").split("\0"):
        if record:
            meta, path = record.split("\t", 1)
            _, kind, sha = meta.split(" ")
            if kind == "blob":
                entries.append((path, sha))
    if not entries:
        return {}
    _, out = _git(
        repo, "cat-file", "--batch", input="".join(f"{sha}\n" for _, sha in entries).encode()
    )
    files, pos = {}, 0
    for path, sha in entries:
        header_end = out.index(b"\n", pos)
        got, _, size = out[pos:header_end].decode().split(" ")
        if got != sha:
            raise GitError(f"git cat-file answered {got} for {sha}")
        start = header_end + 1
        files[path] = out[start : start + int(size)]
        pos = start + int(size) + 1
    return files


# --------------------------------------------------------------------------- diffs


def _lfs_oid(data: bytes) -> str | None:
    """The sha256 an LFS pointer names, or None if ``data`` is not a pointer."""
    if len(data) > 1024 or not data.startswith(LFS_POINTER_PREFIX):
        return None
    match = re.search(rb"^oid sha256:([0-9a-f]{64})$", data, re.MULTILINE)
    return match.group(1).decode() if match else None


def _same_content(stored: bytes, fresh: Content) -> bool:
    """Whether a committed blob equals new content; an LFS pointer stands for its object.
    A ref (a large file) is compared by its digest, never read."""
    oid = _lfs_oid(stored)
    if isinstance(fresh, FileRef):
        return fresh.sha256 == (oid or hashlib.sha256(stored).hexdigest())
    if oid and _lfs_oid(fresh) is None:
        return hashlib.sha256(fresh).hexdigest() == oid
    return stored == fresh


def _is_binary(data: Content | None) -> bool:
    """A NUL in the first bytes, an LFS pointer, or a ref (kept on disk: no line counts)."""
    if isinstance(data, FileRef):
        return True
    return data is not None and (b"\0" in data[:_BINARY_SNIFF] or _lfs_oid(data) is not None)


def _count_line_changes(before: bytes, after: bytes) -> tuple[int, int]:
    matcher = difflib.SequenceMatcher(
        None, before.splitlines(keepends=True), after.splitlines(keepends=True), autojunk=False
    )
    added = deleted = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            deleted += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    return added, deleted


def diff_trees(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> list[FileChange]:
    """How *new* (a built tree, refs included) differs from *old* (a commit's blobs, LFS
    files as their pointers); what :func:`preview_export` reports."""
    changes = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), entry_of(new, path)
        if before is not None and after is not None and _same_content(before, after):
            continue
        status: ChangeStatus = (
            "added" if before is None else "deleted" if after is None else "modified"
        )
        binary = _is_binary(before) or _is_binary(after)
        added, deleted = (0, 0) if binary else _count_line_changes(before or b"", after or b"")
        changes.append(FileChange(path, status, added, deleted, binary))
    return changes


# --------------------------------------------------------------------------- zip

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# A zip entry's content: bytes, a ref, or a file of a project folder (both streamed).
_ZipContent = bytes | FileRef | Path


def _zip_entries_from_files(
    files: Mapping[str, bytes], executable: frozenset[str]
) -> list[tuple[str, _ZipContent, int]]:
    entries = []
    for path, data in entries_of(files):
        _check_relative_path(path)
        entries.append((path, data, 0o755 if path in executable else 0o644))
    return entries


def _zip_entries_from_dir(
    root: Path, include_git: bool, *, skip: Path
) -> list[tuple[str, _ZipContent, int]]:
    repo = _open_repo(root)
    if repo is not None:
        with repo:
            _, out = _git(repo, "ls-files", "-z")
        names = [n for n in out.decode("utf-8", "surrogateescape").split("\0") if n]
    else:
        names = [p.relative_to(root).as_posix() for p in _walk_files(root)]
        names = [n for n in names if n.split("/", 1)[0] != ".git"]  # added below if asked
    if include_git and (root / ".git").is_dir():
        names += [
            p.relative_to(root).as_posix()
            for p in _walk_files(root / ".git")
            if p.name not in (LOCK_NAME, JOURNAL_NAME)
        ]
    entries = []
    for name in names:
        path = root / name
        if path == skip or path.is_symlink() or not path.is_file():
            continue  # never follow a link out of the project; a deleted file is absent
        mode = 0o755 if os.access(path, os.X_OK) else 0o644
        entries.append((name, path, mode))
    return entries


def _walk_files(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        found += [Path(dirpath, f) for f in filenames]
    return found


def _write_zip_entries(zip_path: Path, entries: list[tuple[str, _ZipContent, int]]) -> list[str]:
    tmp = zip_path.with_name(f".{zip_path.name}.{os.getpid()}.tmp")
    names = []
    with zipfile.ZipFile(tmp, "w") as archive:
        for name, data, mode in sorted(entries, key=lambda entry: entry[0]):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # unix, so the mode bits above are honoured
            info.compress_type = zipfile.ZIP_DEFLATED
            if isinstance(data, bytes):
                archive.writestr(info, data, compresslevel=6)
            else:
                _zip_stream(archive, info, data.path if isinstance(data, FileRef) else data)
            names.append(name)
    os.replace(tmp, zip_path)
    return names


def _zip_stream(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    """Deflate *path* into *archive* in chunks (what ``writestr`` does with bytes in memory:
    the same entry, byte for byte)."""
    with open(path, "rb") as src:
        info.file_size = os.fstat(src.fileno()).st_size  # decides zip64 up front, as writestr
        # No level given: zlib's default is level 6, the level writestr is given above.
        with archive.open(info, "w") as dest:
            shutil.copyfileobj(src, dest, CHUNK)
