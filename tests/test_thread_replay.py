"""A generated project's retraining reproduces its shipped model on any core count (issue 13).

telco_churn's SMOTE sums neighbour distances in an order that depends on the OpenMP thread
count (docs/spec-notes.md, items 1 and 22). The export records the counts it trained with in
models/manifest.json and the generated training replays them: a retraining restricted to one
CPU (``sched_setaffinity``, as a 1-core CI runner) gives the same model bytes, while choosing
another count through the environment gives another model (so the pipeline really is
sensitive and the replay is what makes the first check pass).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitexport.build import build_project, input_assets
from gitexport.load import plan_bundle
from gitexport.parity import THREAD_VARIABLES
from gitexport.render import RenderOptions, render_project
from gitexport.tree import write_tree
from helpers import EXAMPLES

pytestmark = pytest.mark.slow

DATA = EXAMPLES / "telco_churn" / "data" / "telco_churn.csv"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def telco(tmp_path_factory) -> Path:
    """telco exported with two threads (set, so that it holds on a machine of any size)."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "2"))
    try:
        built = build_project(plan_bundle(EXAMPLES / "telco_churn"), RenderOptions())
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    root = tmp_path_factory.mktemp("telco")
    write_tree(root, built.files)
    return root


def retrain(root: Path, out: Path, *, cpus: set[int] | None = None, threads: int | None = None):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if threads is not None:
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    proc = subprocess.run(
        [sys.executable, "-m", "src.models.train", "--data", str(DATA), "--output-dir", str(out)],
        cwd=root,
        env=env,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "models" / "manifest.json").read_text())
    return sha256(out / "models" / "trained" / "model.joblib"), manifest, proc.stderr


def test_the_manifest_records_the_thread_counts_of_the_shipped_model(telco):
    manifest = json.loads((telco / "models" / "manifest.json").read_text())
    assert manifest["threads"] == {"blas": 2, "openmp": 2}
    (model,) = manifest["artifacts"]
    assert model["sha256"] == sha256(telco / model["path"])
    card = (telco / "MODEL_CARD.md").read_text()
    assert "### Retraining on another machine" in card and "SMOTE's neighbour search" in card


def test_retraining_on_one_cpu_reproduces_the_shipped_model(telco, tmp_path):
    shipped = json.loads((telco / "models" / "manifest.json").read_text())
    digest, manifest, log = retrain(telco, tmp_path / "one-cpu", cpus={0})
    assert digest == shipped["artifacts"][0]["sha256"]
    assert manifest["threads"] == shipped["threads"]
    assert f"'openmp': {shipped['threads']['openmp']}" in log  # the replayed counts are logged


def test_another_thread_count_chosen_in_the_environment_gives_another_model(telco, tmp_path):
    shipped = json.loads((telco / "models" / "manifest.json").read_text())
    digest, manifest, log = retrain(telco, tmp_path / "other", threads=1)
    assert manifest["threads"] == {"blas": 1, "openmp": 1}
    assert "thread counts from the environment (OMP_NUM_THREADS" in log
    assert digest != shipped["artifacts"][0]["sha256"]


def test_a_pipeline_without_sensitive_steps_records_no_threads():
    planned = plan_bundle(EXAMPLES / "penguins")  # median imputation, random forest: no BLAS order
    _, assets = input_assets(planned, RenderOptions())
    files = render_project(planned.plan, RenderOptions(), assets)
    train = files["src/models/train.py"].decode()
    assert "recorded_threads" not in train and 'manifest["threads"]' not in train
    assert "Retraining on another machine" not in files["MODEL_CARD.md"].decode()
