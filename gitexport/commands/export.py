"""``gitexport export``: generate, train and commit the project into a local git repo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gitexport import git
from gitexport.build import BuiltProject, build_project
from gitexport.changes import change_summary
from gitexport.errors import UserError
from gitexport.export_commit import export_request, place_release_files
from gitexport.load import plan_bundle
from gitexport.render import RenderOptions, executable_paths

EXAMPLES = ("telco_churn", "penguins", "diamonds")


def add_bundle_source(p) -> None:
    """BUNDLE or --example NAME: where the canvas document comes from."""
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("bundle", nargs="?", help="a bundle folder or its pipeline.json")
    where.add_argument("--example", choices=EXAMPLES, help="use a bundled example instead")


def add_bundle_arguments(p) -> None:
    """Arguments shared by the verbs that build a project (export, diff, push)."""
    add_bundle_source(p)
    p.add_argument(
        "--data",
        choices=("none", "sample", "full"),
        default="sample",
        help="data shipped in the project: none (schema only), sample (default), full",
    )
    p.add_argument(
        "--artifacts",
        choices=("lfs", "release"),
        default="lfs",
        help="model artifacts in Git LFS (default) or as release assets",
    )
    p.add_argument("--no-docker", action="store_true", help="no Dockerfiles or compose file")
    p.add_argument("--no-kubernetes", action="store_true", help="no Kubernetes manifests")
    p.add_argument("--no-ci", action="store_true", help="no CI/CD workflows")
    p.add_argument(
        "--allow-parity-drift",
        action="store_true",
        help="export even if the project does not reproduce the canvas's predictions",
    )


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
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.set_defaults(run=run)


def bundle_path(args) -> Path:
    if args.example:
        from importlib import resources

        return Path(str(resources.files("gitexport").joinpath("examples", args.example)))
    return Path(args.bundle)


def render_options(args, provider: str = "github") -> RenderOptions:
    return RenderOptions(
        data=args.data,
        docker=not args.no_docker,
        kubernetes=not args.no_kubernetes,
        ci=not args.no_ci,
        provider=provider,
        artifacts=args.artifacts,
    )


def run(args) -> int:
    if not args.out and not args.zip:
        raise UserError("say where to export: --out DIR (a local git repo) and/or --zip FILE")
    planned = plan_bundle(bundle_path(args))
    for warning in planned.plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    built = build_project(
        planned, render_options(args, args.ci_provider), allow_parity_drift=args.allow_parity_drift
    )
    if args.dry_run:
        markdown, changes = change_summary(
            built, args.out if args.out and args.out.exists() else None
        )
        if args.json:
            print(
                json.dumps({"summary": markdown, "files": [c.__dict__ for c in changes]}, indent=2)
            )
        else:
            sys.stdout.write(markdown)
        return 0
    result: dict = {
        "pipeline_id": built.plan.pipeline.id,
        "version": built.plan.pipeline.version,
        "parity": None if built.parity is None else built.parity.describe(),
        "metrics": {k: built.metrics.get(k) for k in ("test", "cv")},
    }
    if args.out:
        outcome = git.export_to_repo(
            args.out, export_request(built), merge=not args.no_merge, adopt=args.adopt
        )
        place_release_files(args.out, built)
        result.update(
            status=outcome.status,
            commit=outcome.export_commit,
            branch=outcome.branch,
            main=outcome.main_commit,
            conflicts=list(outcome.conflicts),
            repo=str(args.out),
        )
    if args.zip:
        if args.zip_with_git and args.out:
            git.write_zip(args.out, args.zip, include_git=True)
        else:
            # A download is the whole project: release-asset artifacts included.
            files = {**built.files, **built.release_files}
            git.write_zip(files, args.zip, executable=frozenset(executable_paths(files)))
        result["zip"] = str(args.zip)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(human_result(built, result))
    return 3 if result.get("status") == "conflict" else 0


def human_result(built: BuiltProject, result: dict) -> str:
    plan = built.plan
    lines = [
        f"{plan.pipeline.name} v{plan.pipeline.version}: {plan.model.estimator.name}, {plan.problem_type}"
    ]
    if built.parity is not None:
        lines.append(f"parity: {built.parity.describe()}")
    canvas = plan.canvas_results.metrics
    for split in ("test", "cv"):
        for name, value in (built.metrics.get(split) or {}).items():
            if isinstance(value, list):
                continue
            theirs = (canvas.get(split) or {}).get(name)
            beside = f"   (canvas {theirs:.6f})" if isinstance(theirs, (int, float)) else ""
            lines.append(f"  {split:4} {name:18} {value:.6f}{beside}")
    status = result.get("status")
    if status == "up_to_date":
        lines.append(f"{result['repo']}: up to date (nothing changed since the last export)")
    elif status == "conflict":
        lines.append(
            f"{result['repo']}: the re-export conflicts with your changes on main in: "
            + ", ".join(result["conflicts"])
        )
        lines.append(
            f"main is untouched; the export is on branch {result['branch']} — merge it by hand"
        )
    elif status:
        where = "main" if status in ("created", "merged") else f"branch {result['branch']}"
        lines.append(f"{result['repo']}: {status}, commit {result['commit'][:12]} on {where}")
    if "zip" in result:
        lines.append(f"zip: {result['zip']}")
    return "\n".join(lines)
