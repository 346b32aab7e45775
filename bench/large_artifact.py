"""Peak memory of exporting a project whose model artifact is large, against a small model's
figure and against ``git lfs`` committing and pushing a file of the same size.

Each export runs in a fresh process (``--child``) through the product's real path:
``api.build`` (train, golden and parity predictions, hashing, render), ``api.publish`` to a
local bare repository (commit with the model through ``git lfs clean``, push, LFS objects
pushed) and ``api.archive`` (the ZIP). For the large figure, the model file the generated
``train.py`` wrote is grown to ``--size-mb`` right after training (random bytes appended in
1 MiB chunks, past the pickle's end so ``joblib.load`` still reads the model, and the
manifest's size and SHA-256 rewritten), so every later step sees a model of that size
exactly as if training had made it. The build keeps the model on disk (a ``FileRef`` in
``built.files``): the bench reads its size from the ref, never its bytes.

Figures: the peak RSS of the gitexport process itself (``ru_maxrss``, after each phase) and
of the largest process it started (training, git, git-lfs) as the kernel counts it: Linux
gives a child spawned by a big process that process's high-water mark at ``exec``, so that
column is at least gitexport's own RSS when it spawned; it is printed, not compared. The
anchor is ``git add`` + ``git commit`` + ``git push`` of a file of the same size in a
repository that tracks it with Git LFS (git-lfs streams). Goal (issue 13): the large export's own peak RSS < 100 MB above
the small model's. It asserts nothing.

    python bench/large_artifact.py [--example penguins] [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The measured processes cache bytecode, as a user's Python does (some shells turn it off).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

MODEL = "models/trained/model.joblib"
MANIFEST = "models/manifest.json"
CHUNK = 1024 * 1024  # small: growing and re-hashing the model must not show in the figures


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def grow(path: Path, size: int) -> None:
    """Append random bytes to *path* until it holds *size* bytes (incompressible, as floats)."""
    with path.open("ab") as out:
        left = size - path.stat().st_size
        while left > 0:
            n = min(CHUNK, left)
            out.write(os.urandom(n))
            left -= n


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def tree_mb(folder: Path) -> float:
    """Bytes under *folder* (a remote's LFS objects: the model went through LFS), in MB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def grow_model_after_training(size: int) -> None:
    """Make training's model *size* bytes before gitexport reads it (the build's own path)."""
    from gitexport import build

    run = build._run

    def run_then_grow(args, cwd, *rest, **kwargs):
        run(args, cwd, *rest, **kwargs)
        if args[:2] == ["-m", "src.models.train"]:
            model = Path(cwd) / MODEL
            grow(model, size)
            manifest = json.loads((Path(cwd) / MANIFEST).read_text())
            for item in manifest["artifacts"]:
                if item["path"] == MODEL:
                    item["size"], item["sha256"] = model.stat().st_size, sha256_of(model)
            (Path(cwd) / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    build._run = run_then_grow


def child(example: str, size_mb: int, tmp: Path) -> None:
    """One export in this process; prints its figures as JSON."""
    from gitexport import api
    from gitexport.options import Target

    figures = {"imports": rss_mb()}
    if size_mb:
        grow_model_after_training(size_mb * 1024 * 1024)
    t0 = time.perf_counter()
    built = api.build(api.example(example))
    figures["build"] = rss_mb()
    model = built.files.entry(MODEL) or built.release_files.entry(MODEL)  # a FileRef
    figures["model_mb"] = model.size / 2**20
    bare = tmp / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    api.publish(built, Target(provider="local", repo=str(bare)), token=None, workdir=tmp / "work")
    figures["commit+push"] = rss_mb()
    figures["remote_lfs_mb"] = tree_mb(bare / "lfs" / "objects")
    api.archive(built, tmp / "project.zip")
    figures["zip"] = rss_mb()
    figures["seconds"] = time.perf_counter() - t0
    figures["children"] = rss_mb(resource.RUSAGE_CHILDREN)
    print(json.dumps(figures))


def export_figures(example: str, size_mb: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="gitexport-bench-") as tmp:
        argv = [sys.executable, __file__, "--child", "--example", example]
        proc = subprocess.run(
            [*argv, "--size-mb", str(size_mb), "--tmp", tmp],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"export with a {size_mb} MB model failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_of(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of a command and the processes it waited for."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def git_lfs_figures(size_mb: int) -> tuple[dict[str, tuple[float, float]], float]:
    """``git add``, ``git commit`` and ``git push`` of a *size_mb* file tracked by Git LFS."""
    with tempfile.TemporaryDirectory(prefix="gitexport-bench-") as tmp:
        repo, bare = Path(tmp) / "repo", Path(tmp) / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        for args in (
            ["lfs", "install", "--local"],
            ["lfs", "track", "*.joblib"],
            ["add", ".gitattributes"],
            ["commit", "-q", "-m", "track"],
            ["remote", "add", "origin", str(bare)],
        ):
            subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
        (repo / "models").mkdir()
        grow(repo / "models" / "model.joblib", size_mb * 1024 * 1024)
        steps = {
            "git add": peak_of([*git, "add", "models/model.joblib"], repo),
            "git commit": peak_of([*git, "commit", "-q", "-m", "model"], repo),
            "git push": peak_of([*git, "push", "-q", "origin", "main"], repo),
        }
        return steps, tree_mb(bare / "lfs" / "objects")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="penguins")
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the large model")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.example, args.size_mb, args.tmp)
        return
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# large artifact: {args.example}, {os.cpu_count()} cores, load average {load}")
    small = export_figures(args.example, 0)
    large = export_figures(args.example, args.size_mb)
    lfs, lfs_remote = git_lfs_figures(args.size_mb)
    phases = ("imports", "build", "commit+push", "zip")
    print("peak RSS of the gitexport process after each phase (MB), and of its largest child")
    print(
        f"{'export':22} {'model':>10} "
        + " ".join(f"{p:>12}" for p in phases)
        + "   child     wall  remote LFS"
    )
    for name, fig in (("small (as trained)", small), (f"large ({args.size_mb} MB)", large)):
        print(
            f"{name:22} {fig['model_mb']:7.2f} MB "
            + " ".join(f"{fig[p]:12.0f}" for p in phases)
            + f"  {fig['children']:6.0f}  {fig['seconds']:6.1f} s  {fig['remote_lfs_mb']:7.2f} MB"
        )
    delta = large["zip"] - small["zip"]
    print(
        f"large - small, gitexport process peak: {delta:+.0f} MB "
        f"({delta / args.size_mb:.2f}x the model's size; goal < 100 MB)"
    )
    print("  (child: inherits gitexport's high-water mark when spawned, see the docstring)")
    print(f"anchor: git + git-lfs on a {args.size_mb} MB file (peak RSS of git and its children)")
    for step, (seconds, peak) in lfs.items():
        print(f"  {step:12} {peak:8.0f} MB {seconds:7.1f} s")
    print(f"  remote LFS objects: {lfs_remote:.2f} MB")
    anchor = max(peak for _, peak in lfs.values())
    print(f"large export's own peak vs git-lfs's peak: {large['zip']:.0f} MB vs {anchor:.0f} MB")


if __name__ == "__main__":
    main()
