"""A full export build (render, train with 5-fold CV, golden and parity predictions) against a
plain script that fits the same pipeline and its cross-validation in one process.

Both run as fresh processes (interpreter start and imports included, as a user runs them):

* ours: ``gitexport.api.build(api.example(EXAMPLE))``;
* anchor: a plain script in the generated project (rendered once, before any timing, and put
  on ``sys.path``, no install): read the data file, the project's ``validate_frame``, the same
  ``train_test_split``, scikit-learn's ``cross_validate`` of the project's ``build_pipeline``
  with the plan's folds (``StratifiedKFold``/``KFold``) and metrics, then one final fit —
  what ``src/models/train.py`` does, without gitexport around it (no render, no subprocess,
  no golden or reference predictions, no artifacts written).

Wall time is the best of ``--runs`` (and each run's pair, run back to back, with the
median of their ratios); the ratio is ours / anchor (issue 13's goal: ≤ 0.7×).
It also prints the anchor's own *parallel floor* on this machine: its imports and reading,
plus its fits (the folds and the final fit) spread perfectly over the cores — what any
export would take with no planning, rendering or predicting of its own. On two cores that
floor is about 0.55× of the anchor, so 0.7× leaves gitexport some 1.4 s for planning and
rendering, less than importing scikit-learn for the plan takes. It asserts nothing.

    python bench/export_vs_plain.py [--example telco_churn] [--runs 3]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The measured processes cache bytecode, as a user's Python does (some shells turn it off).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# The anchor: run with the project root as argv[1] and the data file as argv[2].
PLAIN = """
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate, train_test_split
from src.config import load_config
from src.data.data_loader import CSV_OPTIONS
from src.data.data_validator import TARGET, validate_frame
from src.features.pipeline import build_pipeline
from src.models.evaluate import compute_metrics
from src.models.train import rows_kept_by_filters

config = load_config()
model_config = load_config("model_config.yaml")
split = config["split"]
evaluation = config["evaluation"]
classification = "positive_label" in evaluation
frame = validate_frame(pd.read_csv(sys.argv[2], **CSV_OPTIONS))
frame = frame[frame[TARGET].notna()]
features, target = frame.drop(columns=[TARGET]), frame[TARGET]
if not classification:
    target = target.astype("float64")
stratify = target if classification and split.get("stratify") else None
x_train, x_test, y_train, y_test = train_test_split(
    features, target, test_size=split["test_size"], random_state=split["random_state"],
    stratify=stratify,
)
params = dict(model_config["params"])
folds = model_config["cv_folds"]
t_import = time.perf_counter() - t0
t1 = time.perf_counter()
kept = rows_kept_by_filters(build_pipeline(params), x_train, y_train)
if folds:
    splitter = StratifiedKFold(n_splits=folds) if classification else KFold(n_splits=folds)
    # The plan's metrics, scored as training scores them (positive label, macro averages).
    scores = cross_validate(
        build_pipeline(params, row_filters=False), x_train.loc[kept], y_train.loc[kept], cv=splitter,
        scoring=lambda est, x, y: compute_metrics(est, x, y, **evaluation),
    )
t_cv = time.perf_counter() - t1
t2 = time.perf_counter()
pipeline = build_pipeline(params).fit(x_train, y_train)
t_fit = time.perf_counter() - t2
print({"import_and_read": t_import, "cv": t_cv, "fit": t_fit, "folds": folds})
"""

OURS = """
import sys, time
t0 = time.perf_counter()
from gitexport import api
built = api.build(api.example(sys.argv[1]))
print({**built.timings, "total_in_process": time.perf_counter() - t0})
"""


def timed(argv: list[str]) -> tuple[float, str]:
    """Wall time (s) of one child process and its last stdout line."""
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    return elapsed, lines[-1] if lines else ""


def render_project(example: str, root: Path) -> Path:
    """The generated project before training (what the anchor imports), and the data file."""
    from gitexport import api

    planned = api.load(api.example(example))
    for rel, data in api.render_tree(planned, api.ExportOptions()).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return planned.data_path.resolve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="telco_churn")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs of each")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# export vs plain fit: {args.example}, {os.cpu_count()} cores, load average {load}")
    with tempfile.TemporaryDirectory(prefix="gitexport-bench-") as tmp:
        root = Path(tmp) / "project"
        data = render_project(args.example, root)
        plain_best, ours_best = float("inf"), float("inf")
        pairs = []
        plain_detail = ours_detail = ""
        for _ in range(args.runs):
            # Alternate the two so a change in the machine's load hits both alike.
            plain, detail = timed([sys.executable, "-c", PLAIN, str(root), str(data)])
            if plain < plain_best:
                plain_best, plain_detail = plain, detail
            ours, detail = timed([sys.executable, "-c", OURS, args.example])
            if ours < ours_best:
                ours_best, ours_detail = ours, detail
            pairs.append((ours, plain))
    print(f"{'what':44} {'wall (s)':>9}   detail (s)")
    print(f"{'plain script: CV + final fit (anchor)':44} {plain_best:9.2f}   {plain_detail}")
    print(f"{'gitexport api.build (render+train+parity)':44} {ours_best:9.2f}   {ours_detail}")
    print(f"ratio ours / plain (best of each): {ours_best / plain_best:.2f}x   (goal <= 0.7x)")
    phases = ast.literal_eval(plain_detail)
    cores = min(os.cpu_count() or 1, phases["folds"] + 1)
    floor = phases["import_and_read"] + (phases["cv"] + phases["fit"]) / cores
    print(
        f"parallel floor of the plain script on {cores} cores: {floor:.2f} s "
        f"= {floor / plain_best:.2f}x of it; ours = {ours_best / floor:.2f}x the floor"
    )
    if len(pairs) > 1:
        # Each run's pair ran back to back: their ratio is less exposed to a load change.
        ratios = [o / p for o, p in pairs]
        listed = ", ".join(f"{o:.1f}/{p:.1f} s = {o / p:.2f}x" for o, p in pairs)
        print(f"per run (ours/plain): {listed}; median {statistics.median(ratios):.2f}x")
    print(json.dumps({"ours_s": ours_best, "plain_s": plain_best}))


if __name__ == "__main__":
    main()
