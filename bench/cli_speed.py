"""Where a user waits on the command line: start-up, `log`, an unchanged re-export and push.

Each figure is printed beside its anchor measured in the same run (git doing the nearest
thing), as a ratio. Wall time is the best of several runs; memory is the peak RSS of the
child process. It asserts nothing.

    python bench/cli_speed.py [--example telco_churn]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The measured processes cache bytecode, as a user's Python does (some shells turn it off).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

RUNS = 5


def measure(argv: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Best wall time over RUNS runs (s) and the child's own peak RSS (MB)."""
    best, peak = float("inf"), 0.0
    for _ in range(RUNS):
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        best = min(best, time.perf_counter() - started)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(argv)} failed")
        peak = max(peak, usage.ru_maxrss / 1024)
    return best, peak


def row(what: str, ours: tuple[float, float], anchor_name: str, anchor: tuple[float, float]):
    ratio = ours[0] / anchor[0] if anchor[0] else float("inf")
    print(
        f"{what:34} {ours[0]:8.3f} s {ours[1]:7.1f} MB   {anchor_name:22} "
        f"{anchor[0]:8.3f} s   ×{ratio:6.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--example", default="telco_churn")
    args = parser.parse_args()
    gitexport = [sys.executable, "-m", "gitexport"]
    with tempfile.TemporaryDirectory(prefix="gitexport-bench-") as tmp:
        repo = Path(tmp) / "repo"
        print(f"first export of {args.example} (not timed as a figure) ...", flush=True)
        started = time.perf_counter()
        subprocess.run(
            [*gitexport, "export", "--example", args.example, "--out", str(repo)],
            check=True,
            capture_output=True,
            env={**os.environ},
        )
        print(f"  took {time.perf_counter() - started:.1f} s")
        # A push to a bare repository (the local provider: no network here), then the no-op.
        remote, work = Path(tmp) / "remote.git", Path(tmp) / "work"
        push = [*gitexport, "push", "--example", args.example, "--provider", "local"]
        push += ["--repo", str(remote), "--workdir", str(work)]
        started = time.perf_counter()
        subprocess.run(push, check=True, capture_output=True)
        print(f"first push (not timed as a figure) took {time.perf_counter() - started:.1f} s")
        # The same with release assets: the no-op also reads the release's assets and digests.
        released, work_r = Path(tmp) / "released.git", Path(tmp) / "work-release"
        push_release = [*gitexport, "push", "--example", args.example, "--provider", "local"]
        push_release += ["--repo", str(released), "--workdir", str(work_r)]
        push_release += ["--artifacts", "release"]
        started = time.perf_counter()
        subprocess.run(push_release, check=True, capture_output=True)
        elapsed = time.perf_counter() - started
        print(f"first push with release assets (not timed as a figure) took {elapsed:.1f} s\n")
        print(f"{'what':34} {'ours':>19}   {'anchor':22} {'anchor':>10}   ratio")
        row(
            "gitexport --help",
            measure([*gitexport, "--help"]),
            "git --help",
            measure([shutil.which("git") or "git", "--help"]),
        )
        row(
            "gitexport log",
            measure([*gitexport, "log", str(repo)]),
            "git log -n 20",
            measure(["git", "-C", str(repo), "log", "-n", "20"]),
        )
        row(
            "re-export, nothing changed",
            measure([*gitexport, "export", "--example", args.example, "--out", str(repo)]),
            "git status",
            measure(["git", "-C", str(repo), "status"]),
        )
        row(
            "push, nothing changed (local)",
            measure(push),
            "git ls-remote",
            measure(["git", "-C", str(work), "ls-remote", str(remote)]),
        )
        row(
            "push, nothing changed (release)",
            measure(push_release),
            "git ls-remote",
            measure(["git", "-C", str(work_r), "ls-remote", str(released)]),
        )


if __name__ == "__main__":
    main()
