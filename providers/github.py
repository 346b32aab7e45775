"""GitHub (and GitHub Enterprise via ``base_url``) through PyGithub.

Auth: a token (from ``token_env``, default ``GITHUB_TOKEN``) or a GitHub App installation
(app id + private key PEM file + installation id). git gets ``x-access-token`` + the token
(for an App: the installation token PyGithub obtains and refreshes).

PyGithub's defaults are replaced: its ``GithubRetry`` can block for most of an hour on a
rate limit and re-sends POSTs, so the urllib3 retry only covers failed connections of
idempotent requests (:func:`bounded_urllib3_retry`), with a timeout, and status-level
retries (5xx, 429, secondary rate limits) are ours: bounded, honouring ``Retry-After``, with
an injectable sleep. A POST is only retried through a step that first looks for what a lost
attempt may have created (repo, PR, asset), so a 502 never yields a duplicate.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import github
from github import Auth, Github, GithubException

from gitexport.errors import UserError
from gitexport.git_remote import Credentials, register_secret
from gitexport.http_retry import RetryPolicy, bounded_urllib3_retry

from .base import LABEL, Artifact, PullRequest, RepoRef, RepoSpec, sha256_file
from .errors import Forge, call_api

log = logging.getLogger("gitexport.providers.github")
T = TypeVar("T")

DEFAULT_API = "https://api.github.com"


class GitHubProvider:
    name = "github"

    def __init__(
        self,
        *,
        token: str | None = None,
        token_env: str = "GITHUB_TOKEN",
        app_id: int | str | None = None,
        private_key_path: Path | str | None = None,
        installation_id: int | None = None,
        base_url: str = DEFAULT_API,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.forge = Forge("GitHub", self.base_url, _status_of, _headers_of)
        self._app_auth = None
        if app_id is not None or private_key_path is not None or installation_id is not None:
            if not (app_id and private_key_path and installation_id):
                raise UserError(
                    "a GitHub App needs all of: app id, private key file, installation id"
                )
            try:
                pem = Path(private_key_path).read_text()
            except OSError as exc:
                raise UserError(
                    f"cannot read the GitHub App private key {private_key_path}: {exc.strerror}"
                ) from None
            auth = Auth.AppAuth(int(app_id), pem).get_installation_auth(int(installation_id))
            self._app_auth = auth
            self._token = None
        else:
            token = token if token is not None else os.environ.get(token_env)
            if not token:
                raise UserError(
                    f"no GitHub token: set the environment variable {token_env} "
                    "(a token with repo / contents+pull-requests write access)"
                )
            register_secret(token)
            self._token = token
            auth = Auth.Token(token)
        self.gh = Github(
            auth=auth,
            base_url=self.base_url,
            timeout=int(timeout),
            retry=bounded_urllib3_retry(),
            per_page=100,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )
        self._login: str | None = None
        self._repos: dict = {}

    # -- plumbing ----------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T], *, permission: str = "", target: str = "") -> T:
        return call_api(
            self.forge, what, fn, policy=self.retry, permission=permission, target=target
        )

    def _secret(self) -> str:
        if self._app_auth is not None:
            token = self._call(
                "obtain an installation token",
                lambda: self._app_auth.token,
                permission="a valid App id, key and installation id",
            )
            register_secret(token)
            return token
        return self._token  # type: ignore[return-value]

    def git_credentials(self) -> Credentials:
        return Credentials("x-access-token", self._secret())

    def _owner(self, spec: RepoSpec) -> str:
        if spec.owner:
            return spec.owner
        if self._app_auth is not None:
            raise UserError("with a GitHub App, say which owner (org or user) the repo goes to")
        if self._login is None:
            self._login = self._call(
                "read the authenticated user", lambda: self.gh.get_user().login
            )
        return self._login

    # -- repository --------------------------------------------------------------------

    def ensure_repo(self, spec: RepoSpec) -> RepoRef:
        owner = self._owner(spec)
        full = f"{owner}/{spec.name}"

        attempted = []

        def step() -> tuple[object, bool]:
            try:
                # Found after our own create attempt lost its answer: we still created it.
                return self.gh.get_repo(full), bool(attempted)
            except GithubException as exc:
                if exc.status != 404:
                    raise
            attempted.append(True)
            return self._create(owner, spec), True

        repo, created = self._call(
            "find or create the repository",
            step,
            target=full,
            permission="repo (classic) or administration: write",
        )
        self._repos[repo.full_name] = repo
        return self._ref(repo, created)

    def find_repo(self, spec: RepoSpec) -> RepoRef | None:
        full = f"{self._owner(spec)}/{spec.name}"

        def step():
            try:
                return self.gh.get_repo(full)
            except GithubException as exc:
                if exc.status != 404:
                    raise
            return None

        repo = self._call("find the repository", step, target=full, permission="metadata: read")
        if repo is None:
            return None
        self._repos[repo.full_name] = repo
        return self._ref(repo, False)

    def _gh_repo(self, ref: RepoRef):
        if ref.full_name not in self._repos:
            self._repos[ref.full_name] = self._call(
                "open the repository", lambda: self.gh.get_repo(ref.full_name), target=ref.full_name
            )
        return self._repos[ref.full_name]

    def _create(self, owner: str, spec: RepoSpec):
        private = spec.visibility != "public"
        login = self._login
        if login is None and self._app_auth is None:
            login = self._login = self.gh.get_user().login
        if owner == login:
            parent = self.gh.get_user()
            kwargs = {}
        else:
            parent = self.gh.get_organization(owner)
            kwargs = {"visibility": spec.visibility} if spec.visibility == "internal" else {}
        try:
            # auto_init=False: an empty repo; GitHub ignores a default branch here, so main is
            # pushed first and made the default afterwards (set_default_branch).
            return parent.create_repo(
                spec.name, description=spec.description, private=private, auto_init=False, **kwargs
            )
        except GithubException as exc:
            if exc.status == 422 and "already exists" in _message(exc).lower():
                return self.gh.get_repo(f"{owner}/{spec.name}")  # a lost earlier attempt
            raise

    def _ref(self, repo, created: bool) -> RepoRef:
        return RepoRef(
            owner=repo.owner.login,
            name=repo.name,
            clone_url=repo.clone_url,
            web_url=repo.html_url,
            default_branch=repo.default_branch,
            created=created,
            id=repo.id,
        )

    def set_default_branch(self, repo: RepoRef, branch: str) -> None:
        self._call(
            "set the default branch",
            lambda: self._gh_repo(repo).edit(default_branch=branch),
            target=repo.full_name,
            permission="administration: write",
        )

    # -- pull requests -----------------------------------------------------------------

    def _find(self, repo: RepoRef, head: str, base: str):
        gh_repo = self._gh_repo(repo)
        # head must be "owner:branch": a bare branch name is ignored and returns every PR.
        for pr in gh_repo.get_pulls(state="open", head=f"{repo.owner}:{head}", base=base):
            if pr.head.ref == head:
                return pr
        return None

    def find_open_pr(self, repo: RepoRef, head: str, base: str) -> PullRequest | None:
        pr = self._call(
            "list pull requests",
            lambda: self._find(repo, head, base),
            target=repo.full_name,
            permission="pull requests: read",
        )
        return PullRequest(pr.number, pr.html_url, created=False) if pr else None

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
        gh_repo = self._gh_repo(repo)

        def step():
            pr = self._find(repo, head, base)
            if pr is not None:
                changed = (pr.title, pr.body or "") != (title, body)
                if changed:
                    pr.edit(title=title, body=body)
                return pr, False, changed
            try:
                pr = gh_repo.create_pull(base=base, head=head, title=title, body=body, draft=draft)
            except GithubException as exc:
                if draft and exc.status == 422 and "draft" in _message(exc).lower():
                    log.warning(
                        "draft pull requests are not available in %s; opening a regular one",
                        repo.full_name,
                    )
                    pr = gh_repo.create_pull(base=base, head=head, title=title, body=body)
                else:
                    raise
            return pr, True, False

        pr, created, changed = self._call(
            "open or update the pull request",
            step,
            target=repo.full_name,
            permission="pull requests: write",
        )
        names = {label.name for label in pr.labels} if not created else set()
        missing = [label for label in labels if label not in names]
        if missing:
            self._call(
                "label the pull request",
                lambda: pr.add_to_labels(*missing),
                target=repo.full_name,
                permission="issues: write",
            )
        if created and reviewers:
            users = [r for r in reviewers if "/" not in r]
            teams = [r.split("/", 1)[1] for r in reviewers if "/" in r]
            try:
                self._call(
                    "request reviewers",
                    lambda: pr.create_review_request(reviewers=users, team_reviewers=teams),
                    target=repo.full_name,
                )
            except UserError as exc:  # a reviewer who cannot review must not fail the export
                log.warning("%s", exc)
        return PullRequest(pr.number, pr.html_url, created=created, updated=changed)

    # -- releases ----------------------------------------------------------------------

    def release_asset_url(self, repo: RepoRef, tag: str, filename: str) -> str:
        # GitHub's browser_download_url of a release asset.
        return f"{repo.web_url}/releases/download/{quote(tag, safe='')}/{quote(filename, safe='')}"

    def release_assets(self, repo: RepoRef, tag: str) -> dict[str, str] | None:
        gh_repo = self._gh_repo(repo)

        def step():
            release = _release_or_none(gh_repo, tag)
            if release is None:
                return None
            return {asset.name: asset.digest or "" for asset in release.get_assets()}

        return self._call(
            f"read release {tag}", step, target=repo.full_name, permission="contents: read"
        )

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
        gh_repo = self._gh_repo(repo)

        def get_or_create():
            release = _release_or_none(gh_repo, tag)
            if release is not None:
                return release
            return gh_repo.create_git_release(
                tag=tag, name=name, message=body, target_commitish=target
            )

        release = self._call(
            f"create release {tag}",
            get_or_create,
            target=repo.full_name,
            permission="contents: write",
        )
        artifacts = []
        for path in files:
            path = Path(path)
            sha, size = sha256_file(path)

            def upload(path=path, sha=sha):
                for asset in release.get_assets():
                    if asset.name == path.name:
                        if (asset.digest or "") == f"sha256:{sha}":
                            return asset  # already there (a lost earlier attempt, or a rerun)
                        asset.delete_asset()
                return release.upload_asset(
                    str(path), name=path.name, content_type="application/octet-stream"
                )

            asset = self._call(
                f"upload {path.name}", upload, target=repo.full_name, permission="contents: write"
            )
            artifacts.append(Artifact(path.name, asset.browser_download_url, sha, size))
        return artifacts


def _release_or_none(gh_repo, tag: str):
    """Release *tag* of *gh_repo*, or None when GitHub answers 404."""
    try:
        return gh_repo.get_release(tag)
    except GithubException as exc:
        if exc.status != 404:
            raise
    return None


def _status_of(exc: BaseException) -> tuple[int, str] | None:
    if isinstance(exc, GithubException):
        return exc.status, _message(exc)
    return None


def _headers_of(exc: BaseException):
    return exc.headers if isinstance(exc, GithubException) else None


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict):
        text = str(data.get("message", ""))
        errors = data.get("errors")
        if errors:
            text += " " + "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            )
        return text.strip()
    return str(data or "")


__all__ = ["GitHubProvider", "github"]
