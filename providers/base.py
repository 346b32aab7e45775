"""The provider interface and its plain dataclasses.

A provider (GitHub, GitLab, a local bare repository) knows its forge's API: make or find the
repository, open or update a pull/merge request, upload release artifacts, and which
credentials git must use. Everything git-side (what to push where, LFS first, leases,
retries) is :func:`gitexport.publish.publish`, shared by all of them, on top of
:mod:`gitexport.git_remote`. Providers are looked up by name in
:mod:`gitexport.providers.registry`; their HTTP errors are mapped once, in
:mod:`gitexport.providers.errors`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from gitexport.git import export_branch_name
from gitexport.git_remote import Credentials

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

    def find_repo(self, spec: RepoSpec) -> RepoRef | None:
        """The repository if it exists (never created here), else None."""
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

    def release_assets(self, repo: RepoRef, tag: str) -> dict[str, str] | None:
        """What release *tag* holds, read only: ``{file name: "sha256:<hex>"}`` of each asset
        a download of its :meth:`release_asset_url` serves (``""`` where the forge gives no
        digest); None when there is no such release."""
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


__all__ = [
    "BASE_BRANCH",
    "LABEL",
    "Artifact",
    "Credentials",
    "Provider",
    "PullRequest",
    "PushResult",
    "RepoRef",
    "RepoSpec",
    "Status",
    "export_branch",
    "sha256_file",
]
