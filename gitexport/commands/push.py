"""``gitexport push``: export a bundle and put it on GitHub, GitLab or a local bare repo.

The first export goes to ``main``; every later one to the export branch, with one pull
request (merge request) per re-export, updated in place while it is open. The back end of the
canvas's **Push to GitHub** button (``--json``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from gitexport import git
from gitexport.build import build_project
from gitexport.changes import change_summary
from gitexport.commands.export import add_bundle_arguments, bundle_path, render_options
from gitexport.errors import UserError
from gitexport.export_commit import export_request, place_release_files
from gitexport.git_remote import (
    GitNotFoundError,
    GitRemote,
    GitTransientError,
    install_log_redaction,
)
from gitexport.http_retry import Retryable, RetryGaveUp, RetryPolicy, call_with_retry
from gitexport.load import plan_bundle
from gitexport.providers.base import RepoSpec, export_branch, publish


def add_parser(sub) -> None:
    p = sub.add_parser("push", help="export and push to GitHub, GitLab or a local bare repo")
    add_bundle_arguments(p)
    p.add_argument("--provider", choices=("github", "gitlab", "local"), required=True)
    p.add_argument(
        "--repo",
        required=True,
        help="OWNER/NAME (GitHub, GitLab group path allowed) or a bare repo path (local)",
    )
    p.add_argument("--base-url", help="GitHub Enterprise / self-managed GitLab API base URL")
    p.add_argument(
        "--token-env",
        help="environment variable holding the token (default GITHUB_TOKEN or GITLAB_TOKEN)",
    )
    p.add_argument("--app-id", help="GitHub App id (with --private-key and --installation-id)")
    p.add_argument("--private-key", type=Path, help="GitHub App private key (PEM file)")
    p.add_argument("--installation-id", type=int, help="GitHub App installation id")
    vis = p.add_mutually_exclusive_group()
    vis.add_argument("--private", dest="visibility", action="store_const", const="private")
    vis.add_argument("--public", dest="visibility", action="store_const", const="public")
    p.set_defaults(visibility="private")
    p.add_argument("--draft", action="store_true", help="open the pull request as a draft")
    p.add_argument("--reviewer", action="append", default=[], help="ask this user to review")
    p.add_argument("--adopt", action="store_true", help="push into a repo holding something else")
    p.add_argument(
        "--workdir",
        type=Path,
        help="local working repository (default: a cache folder per provider and repo)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.set_defaults(run=run)


def make_provider(args):
    if args.provider == "local":
        from gitexport.providers.local import LocalProvider

        return LocalProvider(Path(args.repo))
    if args.provider == "github":
        from gitexport.providers.github import DEFAULT_API, GitHubProvider

        if args.app_id:
            if not (args.private_key and args.installation_id):
                raise UserError("a GitHub App needs --app-id, --private-key and --installation-id")
            return GitHubProvider(
                app_id=args.app_id,
                private_key_path=args.private_key,
                installation_id=args.installation_id,
                base_url=args.base_url or DEFAULT_API,
            )
        return GitHubProvider(
            token_env=args.token_env or "GITHUB_TOKEN", base_url=args.base_url or DEFAULT_API
        )
    from gitexport.providers.gitlab import DEFAULT_URL, GitLabProvider

    return GitLabProvider(
        token_env=args.token_env or "GITLAB_TOKEN", base_url=args.base_url or DEFAULT_URL
    )


def repo_spec(args, plan) -> RepoSpec:
    if args.provider == "local":
        owner, name = None, Path(args.repo).name.removesuffix(".git")
    else:
        owner, _, name = args.repo.strip("/").rpartition("/")
        if not name:
            raise UserError(f"--repo {args.repo!r}: expected OWNER/NAME")
        owner = owner or None
    description = plan.pipeline.description or f"{plan.pipeline.name}, exported by gitexport"
    return RepoSpec(
        name=name,
        pipeline_id=plan.pipeline.id,
        owner=owner,
        visibility=args.visibility,
        description=description[:300],
    )


def default_workdir(args) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gitexport" / "work"
    slug = args.repo if args.provider != "local" else str(Path(args.repo).absolute())
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in slug).strip("_.")
    return base / args.provider / safe


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
        raise UserError(
            f"fetching the earlier exports from {repo.web_url} gave up: {exc}"
        ) from None


def run(args) -> int:
    install_log_redaction()
    planned = plan_bundle(bundle_path(args))
    plan = planned.plan
    provider = make_provider(args)
    spec = repo_spec(args, plan)
    # Build (and train) first: a failed parity check must not leave an empty repo behind.
    ci_provider = "gitlab" if args.provider == "gitlab" else "github"
    built = build_project(
        planned, render_options(args, ci_provider), allow_parity_drift=args.allow_parity_drift
    )
    repo = provider.ensure_repo(spec)
    if args.artifacts == "release":
        # The manifest committed with the export names where each asset will live.
        tag = git.release_tag(str(plan.pipeline.version))
        urls = {
            Path(p).name: provider.release_asset_url(repo, tag, Path(p).name)
            for p in built.release_files
        }
        built.files["models/manifest.json"] = _manifest_with_urls(
            built.files["models/manifest.json"], urls
        )
    workdir = args.workdir or default_workdir(args)
    if not workdir.exists():
        seed_workdir(provider, repo, workdir, export_branch(plan.pipeline.id))
    summary, _ = change_summary(built, workdir if workdir.exists() else None)
    outcome = git.export_to_repo(workdir, export_request(built), merge=False, adopt=args.adopt)
    if outcome.status == "conflict":  # cannot happen with merge=False; defensive
        raise UserError(f"the export conflicts in {', '.join(outcome.conflicts)}")
    release_files = place_release_files(workdir, built)
    result = publish(
        provider,
        workdir,
        spec,
        title=f"Canvas pipeline {plan.pipeline.name}: version {plan.pipeline.version}",
        body=summary,
        artifacts=args.artifacts,
        release_files=release_files,
        draft=args.draft,
        reviewers=args.reviewer,
        adopt=args.adopt,
        repo=repo,
    )
    for artifact in result.artifacts:
        expected = json.loads(built.files["models/manifest.json"])
        named = {a["name"]: a for a in expected["artifacts"]}
        if artifact.name in named and named[artifact.name].get("url") != artifact.url:
            print(
                f"warning: {artifact.name} was uploaded to {artifact.url}, not to the URL the "
                "manifest names",
                file=sys.stderr,
            )
    data = result.to_dict()
    data["parity"] = built.parity.describe() if built.parity else None
    data["workdir"] = str(workdir)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"repository: {result.repo_url}")
        if result.status == "up_to_date":
            print("up to date: nothing changed since the last push")
        else:
            print(f"{result.status}: commit {(result.commit or '')[:12]} on {result.branch}")
        if result.pr_url:
            print(f"pull request: {result.pr_url}")
        for artifact in result.artifacts:
            print(f"artifact: {artifact.name} {artifact.url} sha256:{artifact.sha256}")
    return 0


def _manifest_with_urls(manifest: bytes, urls: dict[str, str]) -> bytes:
    data = json.loads(manifest)
    for item in data["artifacts"]:
        if item["name"] in urls:
            item["url"] = urls[item["name"]]
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
