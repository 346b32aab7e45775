"""``gitexport diff BUNDLE --repo DIR``: what a re-export would change, before writing anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gitexport.build import build_project
from gitexport.changes import change_summary
from gitexport.commands.export import add_bundle_arguments, bundle_path, render_options
from gitexport.load import plan_bundle


def add_parser(sub) -> None:
    p = sub.add_parser("diff", help="show what re-exporting a bundle into a repo would change")
    add_bundle_arguments(p)
    p.add_argument(
        "--repo", type=Path, required=True, help="the local repository of earlier exports"
    )
    p.add_argument("--ci-provider", choices=("github", "gitlab"), default="github")
    p.add_argument("--json", action="store_true", help="the summary and file list as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    planned = plan_bundle(bundle_path(args))
    built = build_project(
        planned, render_options(args, args.ci_provider), allow_parity_drift=args.allow_parity_drift
    )
    markdown, changes = change_summary(built, args.repo)
    if args.json:
        print(json.dumps({"summary": markdown, "files": [c.__dict__ for c in changes]}, indent=2))
    else:
        sys.stdout.write(markdown)
    return 0
