"""``gitexport export``: generate, train and commit the project into a local git repo."""

from __future__ import annotations

import sys
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


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="generate the project, train it, and commit it to a local repo"
    )
    add_bundle_arguments(p)
    p.add_argument("--out", type=Path, help="the local repository (created if missing)")
    p.add_argument(
        "--ci-provider",
        choices=("github", "gitlab"),
        default="github",
        help="which CI system to generate for (default: github)",
    )
    p.add_argument(
        "--no-merge",
        action="store_true",
        help="leave a re-export on its export branch instead of merging it into main",
    )
    p.add_argument("--adopt", action="store_true", help="take over an existing non-gitexport repo")
    p.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    p.add_argument("--zip", type=Path, metavar="FILE", help="also write the project as a ZIP file")
    p.add_argument("--zip-with-git", action="store_true", help="include .git in the ZIP")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from gitexport import api
    from gitexport.errors import UserError

    if not args.out and not args.zip:
        raise UserError("say where to export: --out DIR (a local git repo) and/or --zip FILE")
    if args.zip and args.zip.is_dir():
        raise UserError(f"--zip {args.zip}: is a directory; name the ZIP file to write")
    options = export_options(
        args, ci_provider=args.ci_provider, merge=not args.no_merge, adopt=args.adopt
    )
    bundle = bundle_path(args)
    progress = ProgressLine(enabled=None if not args.json else False)
    try:
        if args.dry_run:
            repo = args.out if args.out and args.out.exists() else None
            markdown, changes = api.dry_run(bundle, repo, options)
            if args.json:
                print_json({"summary": markdown, "files": [c.__dict__ for c in changes]})
            else:
                sys.stdout.write(markdown)
            return 0
        if args.out:
            result = api.export(bundle, args.out, options, progress=progress, budget=budget(args))
            data = result.to_dict()
            for warning in result.warnings:
                warn(warning)
            if args.zip:
                if args.zip_with_git:
                    api.archive(args.out, args.zip, include_git=True)
                else:
                    api.archive(args.out, args.zip)
                data["zip"] = str(args.zip)
        else:
            built = api.build(bundle, options, progress=progress, budget=budget(args))
            for warning in built.plan.warnings:
                warn(warning)
            api.archive(built, args.zip)
            result = api.build_result(built)
            data = {**result.to_dict(), "zip": str(args.zip)}
    finally:
        progress.close()
    if args.json:
        print_json(data)
    else:
        print(human_result(result, data))
    return 3 if data.get("status") == "conflict" else 0


def human_result(result, data: dict) -> str:
    """The result as a person reads it: parity, metrics beside the canvas's, what happened."""
    p = data["pipeline"]
    lines = [f"{for_terminal(p['name'])} v{for_terminal(p['version'])}"]
    if result.parity is not None:
        lines.append(f"parity: {result.parity['description']}")
    for split in ("test", "cv"):
        canvas = result.canvas_metrics.get(split) or {}
        for name, value in (result.metrics.get(split) or {}).items():
            if isinstance(value, (int, float)):
                theirs = canvas.get(name)
                beside = f"   (canvas {theirs:.6f})" if isinstance(theirs, (int, float)) else ""
                lines.append(f"  {split:4} {name:18} {value:.6f}{beside}")
    status = getattr(result, "status", "built")
    repo = for_terminal(getattr(result, "repo", ""))
    if status == "up_to_date":
        lines.append(f"{repo}: up to date (nothing changed since the last export)")
    elif status == "conflict":
        lines.append(
            f"{repo}: the re-export conflicts with your changes on main in: "
            + ", ".join(for_terminal(c) for c in result.conflicts)
        )
        lines.append(
            f"main is untouched; the export is on branch {for_terminal(result.branch)} — "
            "merge it by hand"
        )
    elif status != "built":
        where = "main" if status in ("created", "merged") else f"branch {result.branch}"
        lines.append(f"{repo}: {status}, commit {result.commit[:12]} on {for_terminal(where)}")
    if "zip" in data:
        lines.append(f"zip: {for_terminal(data['zip'])}")
    return "\n".join(lines)
