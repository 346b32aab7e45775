"""``gitexport push``: export a bundle and put it on GitHub, GitLab or a local bare repo.

The first export goes to ``main``; every later one to the export branch, with one pull
request (merge request) per re-export, updated in place while it is open.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitexport.commands._args import (
    add_bundle_arguments,
    add_json,
    budget,
    bundle_path,
    export_options,
)
from gitexport.console import ProgressLine, print_json, warn
from gitexport.terminal import for_terminal

DEFAULT_TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}


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
    add_json(p)
    p.set_defaults(run=run)


def token_from_env(args) -> str | None:
    """The token named by --token-env (or the forge's usual variable); None for local/App."""
    from gitexport.errors import ForgeAuthError, UserError

    if args.provider == "local":
        return None
    if args.app_id:
        if args.provider != "github" or not (args.private_key and args.installation_id):
            raise UserError("a GitHub App needs --app-id, --private-key and --installation-id")
        return None
    name = args.token_env or DEFAULT_TOKEN_ENV[args.provider]
    token = os.environ.get(name)
    if not token:
        forge = "GitHub" if args.provider == "github" else "GitLab"
        raise ForgeAuthError(f"no {forge} token: set the environment variable {name}")
    return token


def run(args) -> int:
    from gitexport import api
    from gitexport.git_remote import install_log_redaction, register_secret

    install_log_redaction()
    token = token_from_env(args)
    register_secret(token)
    target = api.Target(
        provider=args.provider,
        repo=args.repo,
        base_url=args.base_url,
        private=args.visibility == "private",
        draft=args.draft,
        reviewers=tuple(args.reviewer),
        app_id=args.app_id,
        private_key=args.private_key,
        installation_id=args.installation_id,
    )
    options = export_options(args, adopt=args.adopt)
    bundle = bundle_path(args)
    progress = ProgressLine(enabled=None if not args.json else False)
    try:
        result = api.push(
            bundle,
            target,
            options,
            token=token,
            workdir=args.workdir,
            progress=progress,
            budget=budget(args),
        )
    finally:
        progress.close()
    for warning in result.warnings:
        warn(warning)
    if args.json:
        print_json(result.to_dict())
        return 0
    print(f"repository: {for_terminal(result.repo_url)}")
    if result.status == "up_to_date":
        print("up to date: nothing changed since the last push")
    else:
        print(
            f"{result.status}: commit {(result.commit or '')[:12]} on {for_terminal(result.branch)}"
        )
    if result.pull_request.url:
        print(f"pull request: {for_terminal(result.pull_request.url)}")
    for artifact in result.artifacts:
        print(f"artifact: {artifact.name} {for_terminal(artifact.url)} sha256:{artifact.sha256}")
    return 0
