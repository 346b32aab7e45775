"""The provider interface, its plain dataclasses, and :func:`publish` (the whole push flow).

A provider (GitHub, GitLab, a local bare repository) knows its forge's API: make or find the
repository, open or update a pull/merge request, upload release artifacts, and which
credentials git must use. Everything git-side (what to push where, LFS first, leases,
retries) lives in :func:`publish`, shared by all of them, on top of
:mod:`gitexport.git_remote`.

Rules :func:`publish` follows:

* The first export goes to ``main``; every later one to ``gitexport/<sanitised id>`` with a
  PR/MR into ``main`` (one PR: an open one is updated, never duplicated).
* An existing non-empty repository must hold this pipeline's exports (a ``Pipeline-Id:``
  trailer with this id on its ``main`` or export branch), else it is refused unless *adopt*.
* LFS objects are uploaded before any ref moves; refs move in one atomic push with leases.
* A remote export branch with commits that are neither in the local history nor gitexport
  commits of this pipeline (a human's commit) stops the push with a clear message: we never
  overwrite nor silently build on someone's work. (Merge them into the PR's base or delete the
  branch, then push again.)
* Nothing changed → no push, no PR call beyond finding the open one.
* A push refused because the remote moved → fetch, recompute, retry once, else stop.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from gitexport.errors import UserError
from gitexport.git import export_branch_name, release_tag
from gitexport.git_remote import (
    FETCH_NAMESPACE,
    Credentials,
    GitNotFoundError,
    GitRemote,
    GitRemoteError,
    GitTransientError,
    PushRejectedError,
    RefUpdate,
    redact,
)
from gitexport.http_retry import Retryable, RetryGaveUp, RetryPolicy, call_with_retry
from gitexport.trailers import sanitise_value

log = logging.getLogger("gitexport.providers")

Status = Literal["created", "pushed", "pr_opened", "pr_updated", "up_to_date"]
Visibility = Literal["private", "internal", "public"]
BASE_BRANCH = "main"
LABEL = "gitexport"


@dataclass(frozen=True)
class RepoSpec:
    """Which repository to push to, and how to create it if it does not exist."""

    name: str
    pipeline_id: str
    owner: str | None = None  # user, org (GitHub) or group path (GitLab); None: the token's user
    visibility: Visibility = "private"
    description: str = ""
    default_branch: str = BASE_BRANCH


@dataclass(frozen=True)
class RepoRef:
    """A repository that exists (now) on the forge."""

    owner: str
    name: str
    clone_url: str  # no credentials in it, ever
    web_url: str
    default_branch: str | None
    created: bool  # created by this call
    id: int | str | None = None  # the forge's id (GitLab project id)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    created: bool  # opened by this call (False: found / updated)
    updated: bool = False  # its title/body was edited by this call


@dataclass(frozen=True)
class Artifact:
    name: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PushResult:
    repo_url: str
    commit: str | None
    branch: str | None
    pr_url: str | None
    pr_number: int | None
    status: Status
    artifacts: list[Artifact] = field(default_factory=list)
    repo_created: bool = False

    def to_dict(self) -> dict:
        """JSON-ready (holds no secret by construction)."""
        return asdict(self)


@runtime_checkable
class Provider(Protocol):
    """One forge. Implementations: ``GitHubProvider``, ``GitLabProvider``, ``LocalProvider``."""

    name: str

    def ensure_repo(self, spec: RepoSpec) -> RepoRef:
        """Find the repository, or create it (empty, no auto-init)."""
        ...

    def git_credentials(self) -> Credentials | None:
        """Username + secret git and git-lfs must send (None: none needed)."""
        ...

    def set_default_branch(self, repo: RepoRef, branch: str) -> None:
        """Make *branch* the default branch (after it was first pushed)."""
        ...

    def find_open_pr(self, repo: RepoRef, head: str, base: str) -> PullRequest | None: ...

    def open_or_update_pr(
        self,
        repo: RepoRef,
        head: str,
        base: str,
        title: str,
        body: str,
        *,
        draft: bool = False,
        labels: Sequence[str] = (LABEL,),
        reviewers: Sequence[str] = (),
    ) -> PullRequest:
        """Open a PR/MR head→base, or edit the open one's title/body (never a second one)."""
        ...

    def upload_release(
        self,
        repo: RepoRef,
        tag: str,
        name: str,
        files: Sequence[Path],
        *,
        target: str,
        body: str = "",
    ) -> list[Artifact]:
        """Create (or reuse) release *tag* at commit *target*, upload *files* (streamed)."""
        ...

    def release_asset_url(self, repo: RepoRef, tag: str, filename: str) -> str:
        """Where :meth:`upload_release` will put *filename*: known before the upload, so the
        manifest committed with the export can name it."""
        ...


# -- helpers shared by the providers ---------------------------------------------------


def export_branch(pipeline_id: str) -> str:
    """``gitexport/<sanitised pipeline id>``: the same branch the local export commits to."""
    return export_branch_name(pipeline_id)


def sha256_file(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """SHA-256 hex digest and size of *path*, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


# -- local git queries -----------------------------------------------------------------


def _git(repo: Path, *args: str, check: bool = True) -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_plain_env(),
        check=False,
    )
    if proc.returncode != 0:
        if check:
            raise UserError(f"git {' '.join(args)} failed in {repo}: {redact(proc.stderr.strip())}")
        return None
    return proc.stdout


def _plain_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0")
    return env


def _rev(repo: Path, ref: str) -> str | None:
    out = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return out.strip() if out else None


def _is_ancestor(repo: Path, a: str, b: str) -> bool:
    proc = subprocess.run(
        ["git", "-C", str(repo), "merge-base", "--is-ancestor", a, b],
        capture_output=True,
        timeout=120,
        env=_plain_env(),
        check=False,
    )
    return proc.returncode == 0


def _trailer(repo: Path, commit: str, key: str) -> str | None:
    out = _git(
        repo,
        "log",
        "-1",
        f"--format=%(trailers:key={key},valueonly,separator=%x00)",
        commit,
        check=False,
    )
    value = (out or "").strip().split("\x00")[0].strip()
    return value or None


def _holds_pipeline(repo: Path, commits: Sequence[str], pipeline_id: str, depth: int = 500) -> bool:
    if not commits:
        return False
    out = (
        _git(
            repo,
            "log",
            f"-n{depth}",
            "--format=%(trailers:key=Pipeline-Id,valueonly)",
            *commits,
            check=False,
        )
        or ""
    )
    # Trailer values are written sanitised (one line, no control characters): compare alike.
    wanted = sanitise_value(pipeline_id)
    return any(line.strip() == wanted for line in out.splitlines())


def _foreign_commits(repo: Path, remote_tip: str, pipeline_id: str) -> list[str]:
    """Commits of *remote_tip* that are in no local branch and are not gitexport commits."""
    out = (
        _git(
            repo,
            "rev-list",
            "--format=%H%x00%an%x00%s%x00%(trailers:key=Pipeline-Id,valueonly,separator=%x1F)",
            "--no-commit-header",
            remote_tip,
            "--not",
            "--branches",
            check=False,
        )
        or ""
    )
    foreign = []
    for line in out.splitlines():
        parts = line.split("\x00")
        if len(parts) < 4:
            continue
        sha, author, subject, ids = parts[:4]
        if sanitise_value(pipeline_id) not in [i.strip() for i in ids.split("\x1f")]:
            foreign.append(f"{sha[:10]} {subject!r} by {author}")
    return foreign


# -- publish ---------------------------------------------------------------------------


@dataclass
class _Plan:
    updates: list[RefUpdate]
    main_pushed: bool
    export_needed: bool  # the export branch must exist with a PR
    source: str
    remote_heads: dict[str, str]


def publish(
    provider: Provider,
    local_repo: Path | str,
    spec: RepoSpec,
    *,
    title: str,
    body: str,
    artifacts: Literal["lfs", "release"] = "lfs",
    release_files: Sequence[Path] = (),
    draft: bool = False,
    reviewers: Sequence[str] = (),
    labels: Sequence[str] = (LABEL,),
    adopt: bool = False,
    retry: RetryPolicy | None = None,  # default: the provider's own policy
    git_timeout: float = 600.0,
    repo: RepoRef | None = None,  # the caller's ensure_repo() result (keeps ``created``)
) -> PushResult:
    """Push the export in *local_repo* to *provider*: the whole flow, see the module doc.

    *artifacts*: ``"lfs"`` (the default) pushes the LFS objects of the pushed commits (always
    done when they use LFS, before any ref moves); ``"release"`` also creates release
    ``v<Pipeline-Version>`` at the pushed commit and uploads *release_files* to it (after the
    push: the forges tag only commits they have), returning their URLs and SHA-256.
    """
    retry = retry or getattr(provider, "retry", None) or RetryPolicy()
    local = Path(local_repo)
    if _git(local, "rev-parse", "--git-dir", check=False) is None:
        raise UserError(f"{local} is not a git repository (run `gitexport export` first)")
    branch = export_branch(spec.pipeline_id)
    local_main = _rev(local, f"refs/heads/{BASE_BRANCH}")
    if local_main is None:
        raise UserError(f"{local} has no `{BASE_BRANCH}` branch: nothing has been exported yet")
    local_export = _rev(local, f"refs/heads/{branch}")
    source = local_export or local_main
    if artifacts not in ("lfs", "release"):
        raise UserError(f"unknown artifacts mode {artifacts!r} (expected lfs or release)")

    repo = repo or provider.ensure_repo(spec)
    remote = GitRemote(local, repo.clone_url, provider.git_credentials(), timeout=git_timeout)
    log.info("pushing %s to %s", local, repo.web_url)

    def git_call(fn: Callable, what: str):
        def classify(exc: BaseException) -> Retryable | None:
            if isinstance(exc, GitTransientError):
                return Retryable("network error")
            if isinstance(exc, GitNotFoundError) and repo.created:
                return Retryable("the new repository is not reachable yet")
            return None

        try:
            return call_with_retry(fn, policy=retry, classify=classify, what=what)
        except RetryGaveUp as exc:
            raise UserError(f"{what} gave up: {exc}") from None

    pr: PullRequest | None = None
    for attempt in (1, 2):
        plan = _make_plan(
            local,
            remote,
            spec,
            branch,
            local_main,
            local_export,
            source,
            adopt=adopt,
            git_call=git_call,
            repo=repo,
        )
        if not plan.updates:
            break
        # LFS objects first: no ref may point at a commit whose objects are missing.
        updates = plan.updates
        remote_has = [c for c in plan.remote_heads.values() if _rev(local, c) is not None]
        git_call(
            lambda u=updates, h=remote_has: remote.lfs_push([x.source for x in u], remote_has=h),
            "git lfs push",
        )
        try:
            git_call(lambda u=updates: remote.push(u), "git push")
            break
        except PushRejectedError as exc:
            if attempt == 2:
                raise UserError(
                    f"the push to {repo.web_url} was rejected twice; the remote keeps moving "
                    f"({exc}). Nothing was overwritten; try again later."
                ) from None
            log.info("push rejected (%s); fetching and trying once more", exc)

    pushed_commit = None
    if plan.updates:
        pushed_commit = plan.updates[-1].source
        if plan.main_pushed and repo.default_branch != BASE_BRANCH:
            provider.set_default_branch(repo, BASE_BRANCH)

    status: Status
    result_branch: str | None = None
    if plan.export_needed:
        result_branch = branch
        export_pushed = any(u.remote_ref == f"refs/heads/{branch}" for u in plan.updates)
        # Unchanged branch: report the open PR; open one only if an earlier run pushed the
        # branch but died before opening it.
        pr = None if export_pushed else provider.find_open_pr(repo, branch, BASE_BRANCH)
        if pr is None:
            pr = provider.open_or_update_pr(
                repo,
                branch,
                BASE_BRANCH,
                title,
                body,
                draft=draft,
                labels=labels,
                reviewers=reviewers,
            )
            status = "pr_opened" if pr.created else "pr_updated"
        else:
            status = "up_to_date"
    elif plan.main_pushed:
        result_branch = BASE_BRANCH
        status = "created" if repo.created else "pushed"
    else:
        status = "up_to_date"

    uploaded: list[Artifact] = []
    # Reconciled on every run, not only when refs moved: a run that pushed the commit but
    # died before (or during) the upload is completed by the next one. Uploads are
    # idempotent (an asset with the same digest is reused).
    release_commit = pushed_commit or plan.source
    if artifacts == "release" and release_files:
        version = _trailer(local, release_commit, "Pipeline-Version")
        if not version:
            raise UserError(
                f"commit {release_commit[:10]} has no Pipeline-Version trailer: "
                "cannot name the release"
            )
        uploaded = provider.upload_release(
            repo,
            release_tag(version),
            f"{spec.pipeline_id} {version}",
            [Path(f) for f in release_files],
            target=release_commit,
            body=f"Artifacts of pipeline `{spec.pipeline_id}` version {version}.",
        )

    return PushResult(
        repo_url=repo.web_url,
        commit=pushed_commit or (plan.source if status == "up_to_date" else None),
        branch=result_branch,
        pr_url=pr.url if pr else None,
        pr_number=pr.number if pr else None,
        status=status,
        artifacts=uploaded,
        repo_created=repo.created,
    )


def _make_plan(
    local: Path,
    remote: GitRemote,
    spec: RepoSpec,
    branch: str,
    local_main: str,
    local_export: str | None,
    source: str,
    *,
    adopt: bool,
    git_call: Callable,
    repo: RepoRef,
) -> _Plan:
    heads: dict[str, str] = git_call(remote.ls_remote, "git ls-remote")
    wanted = [b for b in (BASE_BRANCH, branch) if b in heads]
    fetched: dict[str, str] = git_call(lambda: remote.fetch(wanted), "git fetch") if wanted else {}
    if heads and not adopt and not _holds_pipeline(local, list(fetched.values()), spec.pipeline_id):
        raise UserError(
            f"{repo.web_url} already exists and does not hold the exports of pipeline "
            f"{spec.pipeline_id!r} (no `Pipeline-Id: {spec.pipeline_id}` commit on "
            f"{' or '.join(wanted) or 'any of its branches we look at'}); choose another "
            "repository name, or pass --adopt to push into it anyway"
        )
    updates: list[RefUpdate] = []
    main_pushed = False
    remote_main = fetched.get(BASE_BRANCH)
    if remote_main is None:
        updates.append(RefUpdate(local_main, f"refs/heads/{BASE_BRANCH}", None))
        main_pushed = True
        export_needed = source != local_main and not _is_ancestor(local, source, local_main)
    else:
        export_needed = not _is_ancestor(local, source, remote_main)
    if export_needed:
        remote_export = fetched.get(branch)
        if remote_export == source:
            pass  # already there
        elif remote_export is None or _is_ancestor(local, remote_export, source):
            updates.append(RefUpdate(source, f"refs/heads/{branch}", remote_export))
        else:
            foreign = _foreign_commits(local, f"{FETCH_NAMESPACE}{branch}", spec.pipeline_id)
            if foreign:
                listed = "\n".join(f"  {c}" for c in foreign[:10])
                raise UserError(
                    f"the branch {branch} on {repo.web_url} has {len(foreign)} commit(s) that "
                    f"gitexport did not make:\n{listed}\nRefusing to overwrite them. Merge them "
                    f"into {BASE_BRANCH} (or the export), or delete the branch, then push again."
                )
            updates.append(RefUpdate(source, f"refs/heads/{branch}", remote_export))
    return _Plan(updates, main_pushed, export_needed, source, heads)


__all__ = [
    "BASE_BRANCH",
    "LABEL",
    "Artifact",
    "Credentials",
    "GitRemoteError",
    "Provider",
    "PullRequest",
    "PushResult",
    "RepoRef",
    "RepoSpec",
    "export_branch",
    "publish",
    "release_tag",
    "sha256_file",
]
