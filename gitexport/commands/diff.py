"""``gitexport diff BUNDLE --repo DIR``: what a re-export would change, before writing anything."""

from __future__ import annotations

import sys
from pathlib import Path

from gitexport.commands._args import add_bundle_arguments, add_json, bundle_path, export_options
from gitexport.console import print_json


def add_parser(sub) -> None:
    p = sub.add_parser("diff", help="show what re-exporting a bundle into a repo would change")
    add_bundle_arguments(p)
    p.add_argument(
        "--repo", type=Path, required=True, help="the local repository of earlier exports"
    )
    p.add_argument("--ci-provider", choices=("github", "gitlab"), default="github")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from gitexport import api

    options = export_options(args, ci_provider=args.ci_provider)
    markdown, changes = api.dry_run(bundle_path(args), args.repo, options)
    if args.json:
        print_json({"summary": markdown, "files": [c.__dict__ for c in changes]})
    else:
        sys.stdout.write(markdown)
    return 0
