"""Time each export phase per bundled example: plan, render, train, commit, no-op re-export.

Prints figures (seconds, and peak RSS of this process in MB); it asserts nothing.

    python bench/export_phases.py [EXAMPLE ...]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from gitexport import git
from gitexport.build import build_project
from gitexport.export_commit import export_request
from gitexport.load import plan_bundle
from gitexport.render import RenderOptions

EXAMPLES = ("telco_churn", "penguins", "diamonds")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(example: str) -> dict[str, float]:
    bundle = Path(str(resources.files("gitexport").joinpath("examples", example)))
    t0 = time.perf_counter()
    planned = plan_bundle(bundle)
    plan_s = time.perf_counter() - t0
    built = build_project(planned, RenderOptions())
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        t0 = time.perf_counter()
        git.export_to_repo(repo, export_request(built))
        commit_s = time.perf_counter() - t0
        # A no-op re-export does everything again (plan, render, train) and commits nothing.
        t0 = time.perf_counter()
        again = build_project(plan_bundle(bundle), RenderOptions())
        outcome = git.export_to_repo(repo, export_request(again))
        noop_s = time.perf_counter() - t0
        assert outcome.status == "up_to_date", outcome.status
    return {
        "plan": plan_s,
        "render": built.timings["render"],
        "train": built.timings["train"],
        "commit": commit_s,
        "no-op re-export": noop_s,
        "files": len(built.files),
        "MB": sum(len(v) for v in built.files.values()) / 1e6,
    }


def main(argv: list[str]) -> int:
    examples = argv or list(EXAMPLES)
    header = ("example", "plan", "render", "train", "commit", "no-op re-export", "files", "MB")
    print(" ".join(f"{h:>16}" for h in header))
    for example in examples:
        row = bench(example)
        cells = [f"{example:>16}"] + [
            f"{row[h]:>16.3f}" if isinstance(row[h], float) else f"{row[h]:>16}" for h in header[1:]
        ]
        print(" ".join(cells))
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB (training runs in a subprocess)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
