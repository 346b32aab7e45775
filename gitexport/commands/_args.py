"""Arguments several verbs share, and how they become the library's option objects.

Not a verb: commands import this module, never each other. Nothing heavy is imported here
(``gitexport --help`` must stay fast).
"""

from __future__ import annotations

from pathlib import Path

EXAMPLES = ("telco_churn", "penguins", "diamonds")  # also gitexport.api.EXAMPLES


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
    p.add_argument(
        "--train-timeout",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="stop training after this long (default 3600)",
    )
    p.add_argument(
        "--train-memory",
        type=int,
        metavar="MB",
        help="limit each training / prediction process to this much memory",
    )


def add_json(p) -> None:
    p.add_argument(
        "--json", action="store_true", help="print the result object as JSON (nothing else)"
    )


def bundle_path(args) -> Path:
    if args.example:
        from gitexport.api import example

        return example(args.example)
    return Path(args.bundle)


def export_options(args, **extra):
    from gitexport.options import ExportOptions

    return ExportOptions(
        data=args.data,
        artifacts=args.artifacts,
        docker=not args.no_docker,
        kubernetes=not args.no_kubernetes,
        ci=not args.no_ci,
        allow_parity_drift=args.allow_parity_drift,
        **extra,
    )


def budget(args):
    from gitexport.options import Budget

    return Budget(seconds=args.train_timeout, memory_mb=args.train_memory)
