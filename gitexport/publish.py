"""A built project onto a forge: provider, working repository, commit, push, pull request.

The push algorithm itself (what to push where, LFS first, leases, one PR) is
:func:`gitexport.providers.base.publish`; this module prepares what it needs from a
:class:`~gitexport.build.BuiltProject` and a :class:`~gitexport.options.Target`: the provider
(from the registry), the repository spec, the local working repository (seeded from the
remote when missing), the export commit and the release manifest.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from gitexport import git
from gitexport.build import BuiltProject
from gitexport.changes import change_summary
from gitexport.errors import ConflictError, ForgeUnavailableError, UserError
from gitexport.export_commit import export_request, place_release_files
from gitexport.git_remote import GitNotFoundError, GitRemote, GitTransientError
from gitexport.http_retry import Retryable, RetryGaveUp, RetryPolicy, call_with_retry
from gitexport.options import Target
from gitexport.progress import Reporter
from gitexport.providers.base import PushResult, RepoSpec, export_branch, publish

log = logging.getLogger(__name__)


def make_provider(target: Target, token: str | None):
    """The forge adapter for *target* (a token, or the GitHub App fields of the target)."""
    if target.provider == "local":
        from gitexport.providers.local import LocalProvider

        return LocalProvider(Path(target.repo))
    if target.provider == "github":
        from gitexport.providers.github import DEFAULT_API, GitHubProvider

        base_url = target.base_url or DEFAULT_API
        if target.app_id:
            return GitHubProvider(
                app_id=target.app_id,
                private_key_path=target.private_key,
                installation_id=target.installation_id,
                base_url=base_url,
            )
        if not token:
            raise UserError("no GitHub token given")
        return GitHubProvider(token=token, base_url=base_url)
    from gitexport.providers.gitlab import DEFAULT_URL, GitLabProvider

    if not token:
        raise UserError("no GitLab token given")
    return GitLabProvider(token=token, base_url=target.base_url or DEFAULT_URL)


def repo_spec(target: Target, plan) -> RepoSpec:
    if target.provider == "local":
        owner, name = None, Path(target.repo).name.removesuffix(".git")
    else:
        owner, _, name = target.repo.strip("/").rpartition("/")
        if not name:
            raise UserError(f"repository {target.repo!r}: expected OWNER/NAME")
        owner = owner or None
    description = plan.pipeline.description or f"{plan.pipeline.name}, exported by gitexport"
    return RepoSpec(
        name=name,
        pipeline_id=plan.pipeline.id,
        owner=owner,
        visibility="private" if target.private else "public",
        description=description[:300],
    )


def default_workdir(target: Target) -> Path:
    """A cache folder per provider and repository (the canvas's working copies)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gitexport" / "work"
    slug = target.repo if target.provider != "local" else str(Path(target.repo).absolute())
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in slug).strip("_.")
    return base / target.provider / safe


def seed_workdir(provider, repo, workdir: Path, branch: str) -> None:
    """Start a working repository from the remote's exports (a canvas on a new machine)."""
    credentials = provider.git_credentials()

    def fetch(repo_dir: Path) -> dict[str, str]:
        remote = GitRemote(repo_dir, repo.clone_url, credentials)
        heads = remote.ls_remote()
        return remote.fetch([b for b in ("main", branch) if b in heads])

    def retryable(exc: BaseException) -> Retryable | None:
        if isinstance(exc, GitTransientError):
            return Retryable("network error")
        if isinstance(exc, GitNotFoundError) and repo.created:
            return Retryable("the new repository is not reachable yet")
        return None

    policy = getattr(provider, "retry", None) or RetryPolicy()
    try:
        call_with_retry(
            lambda: git.seed_from_remote(workdir, fetch),
            policy=policy,
            classify=retryable,
            what="fetching the earlier exports",
        )
    except RetryGaveUp as exc:
        raise ForgeUnavailableError(
            f"fetching the earlier exports from {repo.web_url} gave up: {exc}"
        ) from None


def manifest_with_urls(manifest: bytes, urls: dict[str, str]) -> bytes:
    data = json.loads(manifest)
    for item in data["artifacts"]:
        if item["name"] in urls:
            item["url"] = urls[item["name"]]
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def publish_built(
    built: BuiltProject,
    target: Target,
    *,
    token: str | None,
    reporter: Reporter,
    workdir: Path | None = None,
    adopt: bool = False,
) -> tuple[PushResult, Path, list[str]]:
    """Commit *built* in the working repository and publish it to *target*.

    Returns the forge's result, the working repository used, and warnings. Phases: ``commit``
    (the local export commit), ``push`` and ``pull_request`` (inside :func:`publish`).
    """
    plan = built.plan
    provider = make_provider(target, token)
    spec = repo_spec(target, plan)
    reporter.enter("commit", "preparing the repository")
    repo = provider.ensure_repo(spec)
    if built.options.artifacts == "release":
        # The manifest committed with the export names where each asset will live.
        tag = git.release_tag(str(plan.pipeline.version))
        urls = {
            Path(p).name: provider.release_asset_url(repo, tag, Path(p).name)
            for p in built.release_files
        }
        built.files["models/manifest.json"] = manifest_with_urls(
            built.files["models/manifest.json"], urls
        )
    workdir = Path(workdir) if workdir else default_workdir(target)
    if not workdir.exists():
        seed_workdir(provider, repo, workdir, export_branch(plan.pipeline.id))
    summary, _ = change_summary(built, workdir if workdir.exists() else None)
    outcome = git.export_to_repo(workdir, export_request(built), merge=False, adopt=adopt)
    if outcome.status == "conflict":  # cannot happen with merge=False; defensive
        raise ConflictError(f"the export conflicts in {', '.join(outcome.conflicts)}")
    release_files = place_release_files(workdir, built)
    reporter.enter("push", f"pushing to {repo.web_url}")
    result = publish(
        provider,
        workdir,
        spec,
        title=f"Canvas pipeline {plan.pipeline.name}: version {plan.pipeline.version}",
        body=summary,
        artifacts=built.options.artifacts,
        release_files=release_files,
        draft=target.draft,
        reviewers=list(target.reviewers),
        adopt=adopt,
        repo=repo,
    )
    warnings = []
    expected = {a["name"]: a for a in json.loads(built.files["models/manifest.json"])["artifacts"]}
    for artifact in result.artifacts:
        if artifact.name in expected and expected[artifact.name].get("url") != artifact.url:
            warnings.append(
                f"{artifact.name} was uploaded to {artifact.url}, not to the URL the manifest names"
            )
    return result, workdir, warnings
