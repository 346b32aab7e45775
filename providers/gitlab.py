"""GitLab (gitlab.com or self-managed via ``base_url``) through python-gitlab.

Auth: a token (``GITLAB_TOKEN`` by default; personal/project/group access token with ``api``
scope). git gets ``oauth2`` + the token.

python-gitlab's own retries are off (``obey_rate_limit`` would sleep ``Retry-After`` up to 10
times with an unpatchable ``time.sleep``); ours are bounded and injectable. Its exceptions do
not carry headers, so a response hook on the session keeps the last response's headers (per
thread) for ``Retry-After``. Open merge requests are ``state=opened``. Generic package
uploads are streamed from the file (python-gitlab's ``generic_packages.upload`` reads the
whole file into memory): ``http_put(..., post_data=<file object>, raw=True)``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import gitlab
import requests
from gitlab.exceptions import GitlabError

from gitexport.errors import UserError
from gitexport.git_remote import Credentials, register_secret
from gitexport.http_retry import RetryPolicy

from .base import LABEL, Artifact, PullRequest, RepoRef, RepoSpec, sha256_file
from .errors import Forge, call_api

log = logging.getLogger("gitexport.providers.gitlab")
T = TypeVar("T")

DEFAULT_URL = "https://gitlab.com"


class GitLabProvider:
    name = "gitlab"

    def __init__(
        self,
        *,
        token: str | None = None,
        token_env: str = "GITLAB_TOKEN",
        base_url: str = DEFAULT_URL,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ):
        token = token if token is not None else os.environ.get(token_env)
        if not token:
            raise UserError(
                f"no GitLab token: set the environment variable {token_env} "
                "(a token with the api scope)"
            )
        register_secret(token)
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._last = threading.local()
        self.forge = Forge(
            "GitLab",
            self.base_url,
            _status_of,
            self._headers_of,
            credentials="the token",
            auth_advice="check that it is valid, not expired, and has the api scope",
        )
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        self.gl = gitlab.Gitlab(
            self.base_url,
            private_token=token,
            timeout=timeout,
            retry_transient_errors=False,
            per_page=100,
            session=session,
        )
        original = self.gl.http_request

        def http_request(*args, **kwargs):
            kwargs["obey_rate_limit"] = False
            kwargs["retry_transient_errors"] = False
            kwargs["max_retries"] = 0
            return original(*args, **kwargs)

        self.gl.http_request = http_request  # type: ignore[method-assign]
        self._username: str | None = None

    def _remember(self, response, *args, **kwargs):
        self._last.headers = dict(response.headers)
        self._last.status = response.status_code

    # -- plumbing ----------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T], *, permission: str = "", target: str = "") -> T:
        return call_api(
            self.forge, what, fn, policy=self.retry, permission=permission, target=target
        )

    def _headers_of(self, exc: BaseException):
        # python-gitlab's exceptions carry no headers: the response hook kept the last ones.
        return getattr(self._last, "headers", None) if isinstance(exc, GitlabError) else None

    def git_credentials(self) -> Credentials:
        return Credentials("oauth2", self._token)

    def _user(self) -> str:
        if self._username is None:

            def me():
                self.gl.auth()
                return self.gl.user.username

            self._username = self._call("read the authenticated user", me)
        return self._username

    # -- repository --------------------------------------------------------------------

    def ensure_repo(self, spec: RepoSpec) -> RepoRef:
        owner = spec.owner or self._user()
        full = f"{owner}/{spec.name}"
        attempted = []

        def step():
            try:
                return self.gl.projects.get(full), bool(attempted)
            except GitlabError as exc:
                if exc.response_code != 404:
                    raise
            data = {
                "name": spec.name,
                "path": spec.name,
                "visibility": spec.visibility,
                "description": spec.description,
                "initialize_with_readme": False,
            }
            if owner != self._user():
                data["namespace_id"] = self.gl.namespaces.get(owner).id
            attempted.append(True)
            return self.gl.projects.create(data), True

        project, created = self._call(
            "find or create the project",
            step,
            target=full,
            permission="the api scope and at least Developer (Maintainer to create in a group)",
        )
        return self._project_ref(project, created)

    def find_repo(self, spec: RepoSpec) -> RepoRef | None:
        full = f"{spec.owner or self._user()}/{spec.name}"

        def step():
            try:
                return self.gl.projects.get(full)
            except GitlabError as exc:
                if exc.response_code != 404:
                    raise
            return None

        project = self._call("find the project", step, target=full, permission="the read_api scope")
        return None if project is None else self._project_ref(project, False)

    def _project_ref(self, project, created: bool) -> RepoRef:
        owner_path, _, name = project.path_with_namespace.rpartition("/")
        return RepoRef(
            owner=owner_path,
            name=name,
            clone_url=project.http_url_to_repo,
            web_url=project.web_url,
            default_branch=project.default_branch,
            created=created,
            id=project.id,
        )

    def _project(self, repo: RepoRef):
        return self.gl.projects.get(repo.id, lazy=True)

    def set_default_branch(self, repo: RepoRef, branch: str) -> None:
        def edit():
            project = self._project(repo)
            project.default_branch = branch
            project.save()

        self._call(
            "set the default branch", edit, target=repo.full_name, permission="Maintainer role"
        )

    # -- merge requests ----------------------------------------------------------------

    def _find(self, repo: RepoRef, head: str, base: str):
        mrs = self._project(repo).mergerequests.list(
            state="opened", source_branch=head, target_branch=base, get_all=True
        )
        return next((mr for mr in mrs if mr.source_branch == head), None)

    def find_open_pr(self, repo: RepoRef, head: str, base: str) -> PullRequest | None:
        mr = self._call(
            "list merge requests", lambda: self._find(repo, head, base), target=repo.full_name
        )
        return PullRequest(mr.iid, mr.web_url, created=False) if mr else None

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
        reviewer_ids = self._user_ids(reviewers) if reviewers else []

        def step():
            mr = self._find(repo, head, base)
            if mr is not None:
                wanted_title = _draft_title(title, mr.title)
                changed = (mr.title, mr.description or "") != (wanted_title, body)
                missing = [label for label in labels if label not in (mr.labels or [])]
                if changed or missing:
                    mr.title, mr.description = wanted_title, body
                    if missing:
                        mr.labels = list(mr.labels or []) + missing
                    mr.save()
                return mr, False, changed
            data = {
                "source_branch": head,
                "target_branch": base,
                "title": f"Draft: {title}" if draft else title,
                "description": body,
                "labels": ",".join(labels),
                "remove_source_branch": True,
            }
            if reviewer_ids:
                data["reviewer_ids"] = reviewer_ids
            return self._project(repo).mergerequests.create(data), True, False

        mr, created, changed = self._call(
            "open or update the merge request",
            step,
            target=repo.full_name,
            permission="Developer role (api scope)",
        )
        return PullRequest(mr.iid, mr.web_url, created=created, updated=changed)

    def _user_ids(self, usernames: Sequence[str]) -> list[int]:
        ids = []
        for name in usernames:
            users = self._call(
                f"look up reviewer {name}", lambda name=name: self.gl.users.list(username=name)
            )
            if users:
                ids.append(users[0].id)
            else:
                log.warning("GitLab has no user %r; not asking them to review", name)
        return ids

    # -- releases ----------------------------------------------------------------------

    @staticmethod
    def _package_path(project_id, package: str, version: str, filename: str) -> str:
        return (
            f"/projects/{project_id}/packages/generic/{quote(package, safe='')}/"
            f"{quote(version, safe='')}/{quote(filename, safe='')}"
        )

    def release_asset_url(self, repo: RepoRef, tag: str, filename: str) -> str:
        return self.gl.api_url + self._package_path(
            repo.id, _package_name(repo.name), _package_version(tag), filename
        )

    def release_assets(self, repo: RepoRef, tag: str) -> dict[str, str] | None:
        project = self._project(repo)
        package, version = _package_name(repo.name), _package_version(tag)

        def step():
            release = _release_or_none(project, tag)
            if release is None:
                return None
            linked = {
                link.name
                for link in release.links.list(get_all=True)
                if link.url == self.release_asset_url(repo, tag, link.name)
            }
            newest: dict[str, tuple[int, str]] = {}  # a download serves the newest file
            for found in project.packages.list(
                package_name=package, package_version=version, package_type="generic", get_all=True
            ):
                if (found.name, found.version) != (package, version):  # the name filter is fuzzy
                    continue
                files = project.packages.get(found.id, lazy=True).package_files.list(get_all=True)
                for item in files:
                    if item.id > newest.get(item.file_name, (-1, ""))[0]:
                        newest[item.file_name] = (item.id, item.file_sha256 or "")
            return {
                name: f"sha256:{newest[name][1]}" if newest.get(name, (0, ""))[1] else ""
                for name in linked
            }

        return self._call(
            f"read release {tag}", step, target=repo.full_name, permission="the read_api scope"
        )

    def upload_package_file(self, project_id, package: str, version: str, path: Path) -> str:
        """PUT *path* to the generic package registry, streamed; returns its download URL.

        One attempt (callers retry); the file is reopened per attempt, never read whole.
        """
        api_path = self._package_path(project_id, package, version, Path(path).name)
        with open(path, "rb") as fh:  # requests sends a file object in blocks
            self.gl.http_put(
                api_path, post_data=fh, raw=True, query_data={"select": "package_file"}
            )
        return f"{self.gl.api_url}{api_path}"

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
        package = _package_name(repo.name)
        version = _package_version(tag)
        artifacts = []
        for path in files:
            path = Path(path)
            sha, size = sha256_file(path)
            url = self._call(
                f"upload {path.name}",
                lambda path=path: self.upload_package_file(repo.id, package, version, path),
                target=repo.full_name,
                permission="the api scope and Developer role (package registry)",
            )
            artifacts.append(Artifact(path.name, url, sha, size))

        project = self._project(repo)

        def get_or_create():
            release = _release_or_none(project, tag)
            if release is not None:
                return release
            return project.releases.create(
                {"tag_name": tag, "name": name, "ref": target, "description": body or name}
            )

        release = self._call(
            f"create release {tag}",
            get_or_create,
            target=repo.full_name,
            permission="Developer role",
        )
        for artifact in artifacts:

            def link(artifact=artifact):
                existing = {lk.name: lk for lk in release.links.list(get_all=True)}
                old = existing.get(artifact.name)
                if old is not None and old.url == artifact.url:
                    return
                if old is not None:
                    old.delete()
                release.links.create(
                    {"name": artifact.name, "url": artifact.url, "link_type": "package"}
                )

            self._call(f"link {artifact.name} to release {tag}", link, target=repo.full_name)
        return artifacts


def _release_or_none(project, tag: str):
    """Release *tag* of *project*, or None when GitLab answers 404."""
    try:
        return project.releases.get(tag)
    except GitlabError as exc:
        if exc.response_code != 404:
            raise
    return None


def _draft_title(title: str, current: str) -> str:
    """Keep an MR's draft state when its title is rewritten."""
    if re.match(r"(?i)^\s*(\[draft\]|draft:|\(draft\))", current or ""):
        return f"Draft: {title}"
    return title


def _package_version(tag: str) -> str:
    """GitLab package versions are plain: ``v7`` → ``7``."""
    return tag[1:] if re.fullmatch(r"v\d.*", tag) else tag


def _package_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "gitexport"


__all__ = ["GitLabProvider"]


def _status_of(exc: BaseException) -> tuple[int, str] | None:
    if isinstance(exc, GitlabError):
        return exc.response_code or 0, str(exc.error_message)
    return None
