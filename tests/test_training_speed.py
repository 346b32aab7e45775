"""The generated training's parallel folds and its in-process predictions (issue 13).

The folds run on worker processes beside the training process (forked before it computes
anything), which takes the folds no worker has started yet once its final fit is done; the
artifacts must not depend on how many processes share them: one (no worker), two and three
give the same model and metrics bytes. ``--predict`` writes what
``python -m src.models.predict`` writes for the same rows, so the export can skip that process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gitexport import api

pytestmark = pytest.mark.slow

# The quickest example to train (a logistic regression with 5-fold CV), and one whose SMOTE
# sums depend on the thread count (the workers must compute with the training's counts).
EXAMPLES = ("penguins", "telco_churn")
TIMEOUT = 600


def _python(args: list, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONHASHSEED": "0", **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module", params=EXAMPLES)
def project(request, tmp_path_factory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("training") / "project"
    planned = api.load(api.example(request.param))
    for rel, data in api.render_tree(planned, api.ExportOptions()).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root, planned.data_path.resolve(), planned.plan.target


ARTIFACTS = ("models/trained/model.joblib", "models/metrics.json", "models/manifest.json")


def test_parallel_folds_give_the_artifacts_of_one_worker(project, tmp_path):
    root, data, target = project
    rows = pd.read_csv(data).drop(columns=[target]).dropna().head(25)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    outputs = {}
    for jobs in ("1", "2", "3"):
        out = tmp_path / f"jobs{jobs}"
        # By option or by environment variable: both reach the training.
        option = ["--jobs", jobs] if jobs != "2" else []
        proc = _python(
            ["-m", "src.models.train", "--data", data, "--output-dir", out, *option]
            + ["--predict", f"{tmp_path / 'rows.csv'}:{out / 'predicted.csv'}"],
            root,
            TRAINING_JOBS="2" if jobs == "2" else "",
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs[jobs] = out
    for rel in ARTIFACTS:
        for jobs in ("2", "3"):
            assert (outputs["1"] / rel).read_bytes() == (outputs[jobs] / rel).read_bytes(), rel
    assert "cv" in pd.read_json(outputs["2"] / "models/metrics.json", typ="series")

    # The in-process predictions are those of the predict module on the saved model.
    shipped = root / "models"
    shipped.mkdir(exist_ok=True)
    for rel in ARTIFACTS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((outputs["2"] / rel).read_bytes())
    separate = tmp_path / "separate.csv"
    proc = _python(["-m", "src.models.predict", tmp_path / "rows.csv", "--output", separate], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (outputs["2"] / "predicted.csv").read_bytes() == separate.read_bytes()
    assert (outputs["1"] / "predicted.csv").read_bytes() == separate.read_bytes()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--predict", "no-colon.csv"], {}, "expected ROWS.csv:OUTPUT.csv"),
        ([], {"TRAINING_JOBS": "0"}, "must not be 0"),
    ],
)
def test_bad_training_options_are_named(project, args, env, message, tmp_path):
    root, data, _ = project
    proc = _python(
        ["-m", "src.models.train", "--data", data, "--output-dir", tmp_path, *args], root, **env
    )
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-2000:]
