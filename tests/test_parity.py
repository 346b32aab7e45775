"""Parity with the canvas across machines (gitexport/parity.py, the parity flow of build.py).

The fast tests exercise the pure verdict functions on hand-made predictions. The slow test
builds the "other machine" on this one: a pipeline with KNN imputation, SMOTE and a KNN model
over 0/1 features (ties between equally distant neighbours are broken by the BLAS/OpenMP
summation order) whose reference predictions are made by the generated project trained with
one thread, then exported with the default thread count: reproduced within numerical
tolerance, with the verdict in the trailers and the API's JSON. The same reference with
flipped labels is refused, naming the nodes and rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from gitexport import api
from gitexport.errors import ParityError
from gitexport.load import plan_bundle
from gitexport.options import ExportOptions
from gitexport.parity import (
    PARITY_CLASSIFICATION,
    SPREAD_FACTOR,
    THREAD_VARIABLES,
    Parity,
    SensitiveNode,
    assess_numerical,
    check_parity,
    metric_band,
    not_numerical,
    sensitive_nodes,
    thread_change,
)
from helpers import base_frame, base_pipeline, chain, make_document, node, write_bundle

FEATURES = [f"f{i}" for i in range(16)]
N_ROWS = 1200
TEST_SIZE = 0.25
NO_DATA = ExportOptions(data="none")  # no sample, so no golden predictions: less to run


def knn_frame(n: int = N_ROWS) -> pd.DataFrame:
    """0/1 features (many equally distant neighbours), a level with missing values, a
    minority class ``yes`` for SMOTE."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({name: rng.integers(0, 2, n) for name in FEATURES})
    level = rng.integers(0, 3, n).astype(float)
    level[rng.uniform(size=n) < 0.1] = np.nan
    frame["level"] = level
    signal = frame[["f0", "f1", "f2"]].sum(axis=1) + rng.normal(0, 0.8, n)
    frame["label"] = np.where(signal > 2.0, "yes", "no")
    return frame


def knn_document(results: dict | None = None) -> dict:
    nodes = [
        node("n1", "dataset", "Dataset", source_id="ds_1"),
        node(
            "n2",
            "feature_target_split",
            "Split",
            target="label",
            test_size=TEST_SIZE,
            stratify=True,
            random_state=0,
        ),
        node("n3", "imputation", "KNN impute", columns=["level", *FEATURES], strategy="knn"),
        node("n4", "smote", "SMOTE", random_state=0),
        node(
            "n5",
            "train_model",
            "KNN model",
            model_type="knn_classifier",
            hyperparameters={"n_neighbors": 5},
            cv_folds=3,
        ),
        node("n6", "evaluate_model", "Evaluate", metrics=["accuracy", "f1"], positive_label="yes"),
    ]
    doc = make_document(nodes, chain("n1", "n2", "n3", "n4", "n5", "n6"))
    doc["pipeline"]["id"] = "pl_parity_knn"
    if results is not None:
        doc["results"] = results
    return doc


# --- fast: the verdict functions -------------------------------------------------------------


def _parity(expected: list, predicted: list, *, task="classification", sensitive=True) -> Parity:
    nodes = [SensitiveNode("n5", "KNN model", "train_model", "kNN")] if sensitive else []
    same = [str(a) == str(b) for a, b in zip(expected, predicted, strict=True)]
    if task == "regression":
        same = [abs(a - b) <= 1e-6 * abs(b) for a, b in zip(predicted, expected, strict=True)]
    return Parity(rows=len(expected), reproduced=sum(same), task=task, sensitive_nodes=nodes)


def _moved(predicted: list, rows: int) -> list:
    """Our second run: *predicted* with the first *rows* rows moved to another label."""
    return ["c"] * rows + predicted[rows:]


def _assess(parity, expected, predicted, second, canvas=None, mine=None, again=None):
    return assess_numerical(
        parity,
        pd.DataFrame({"prediction": expected}),
        pd.Series(predicted),
        pd.Series(second),
        change="the thread count is 1",
        canvas_metrics=canvas or {},
        metrics=mine or {},
        metrics_second=again or {},
    )


def test_threshold_alone_gives_exact_or_failed():
    assert _parity(["a"] * 200, ["a"] * 199 + ["b"]).verdict == "exact"  # 99.5 %
    failed = _parity(["a"] * 100, ["a"] * 99 + ["b"])
    assert failed.verdict == "failed" and not failed.ok
    assert PARITY_CLASSIFICATION == 0.995


def test_disagreement_within_twice_the_own_spread_is_within_tolerance():
    expected = ["a"] * 100
    predicted = ["a"] * 94 + ["b"] * 6  # 6 rows disagree with the canvas
    second = _moved(predicted, 3)  # our own predictions move on 3 rows
    result = _assess(_parity(expected, predicted), expected, predicted, second)
    assert result.verdict == "within_tolerance" and result.ok
    assert result.spread.rows_moved == 3
    assert result.describe().startswith("reproduced within numerical tolerance: 94 of 100")
    assert "KNN model (n5)" in result.describe()
    assert result.trailer() == "within_tolerance 94/100; sensitive nodes n5"
    data = result.to_dict()
    assert data["verdict"] == "within_tolerance" and data["ok"] is True
    assert data["sensitive_nodes"] == [
        {"node_id": "n5", "label": "KNN model", "node_type": "train_model"}
    ]
    assert data["numerical_spread"]["rows_moved"] == 3
    json.dumps(data)  # the API's object is JSON


def test_disagreement_beyond_twice_the_spread_fails_naming_rows_and_nodes():
    expected = ["a"] * 100
    predicted = ["a"] * 93 + ["b"] * 7
    second = _moved(predicted, 3)  # 7 > 2 × 3
    result = _assess(_parity(expected, predicted), expected, predicted, second)
    assert result.verdict == "failed" and not result.ok
    assert "7 rows disagree, more than 2 × the 3 rows" in result.reason
    assert "KNN model (n5)" in result.reason


def test_no_own_movement_or_no_sensitive_node_is_not_numerical():
    expected, predicted = ["a"] * 10, ["a"] * 9 + ["b"]
    still = _assess(_parity(expected, predicted), expected, predicted, predicted)
    assert still.verdict == "failed" and "did not move" in still.reason
    plain = not_numerical(_parity(expected, predicted, sensitive=False))
    assert plain.verdict == "failed" and "not numerical" in plain.describe()


def test_metrics_outside_their_band_fail():
    expected = ["a"] * 100
    predicted = ["a"] * 95 + ["b"] * 5
    second = _moved(predicted, 3)
    mine = {"test": {"accuracy": 0.80}, "rows": {"test": 100, "train_after_filters": 300}}
    again = {"test": {"accuracy": 0.81}}
    near = _assess(
        _parity(expected, predicted), expected, predicted, second, {"test": {"accuracy": 0.82}}
    )
    assert near.verdict == "within_tolerance"  # the canvas metric is not checked without ours
    close = _assess(
        _parity(expected, predicted),
        expected,
        predicted,
        second,
        {"test": {"accuracy": 0.82}},
        mine,
        again,
    )
    assert close.verdict == "within_tolerance", close.reason
    (check,) = close.spread.metrics
    assert check.band == pytest.approx(max(SPREAD_FACTOR * 0.01, (0.82 * 0.18 / 100) ** 0.5))
    far = _assess(
        _parity(expected, predicted),
        expected,
        predicted,
        second,
        {"test": {"accuracy": 0.95}},
        mine,
        again,
    )
    assert far.verdict == "failed"
    assert "test accuracy 0.8000 vs 0.9500" in far.reason


def test_metric_band_uses_the_standard_error_or_twice_the_own_move():
    assert metric_band("accuracy", 0.75, 300, 0.0) == pytest.approx((0.75 * 0.25 / 300) ** 0.5)
    assert metric_band("accuracy", 0.75, 300, 0.1) == pytest.approx(0.2)
    assert metric_band("rmse", 4.0, 100, 0.0) == pytest.approx(0.4)


def test_regression_uses_the_largest_relative_move_too():
    expected = [100.0, 200.0, 300.0, 400.0]
    predicted = [100.0, 200.0, 300.0, 400.004]  # relative 1e-5 from the canvas on one row
    second = [100.0, 200.0, 300.0006, 400.004]  # our own largest move: relative 2e-6
    parity = _parity(expected, predicted, task="regression")
    result = _assess(parity, expected, predicted, second)
    assert result.verdict == "failed" and "deviates by a relative 1e-05" in result.reason
    wider = [100.0, 200.0, 300.0, 400.0016]  # our own largest move: relative 6e-6
    ok = _assess(parity, expected, predicted, wider)
    assert ok.verdict == "within_tolerance", ok.reason
    assert ok.spread.max_deviation == pytest.approx(6e-6, rel=1e-3)


def test_thread_change_alters_the_thread_count():
    assert thread_change({}) == dict.fromkeys(THREAD_VARIABLES, "1")
    assert thread_change({"OMP_NUM_THREADS": "4"})["OMP_NUM_THREADS"] == "1"
    assert thread_change({"OMP_NUM_THREADS": "1"}) == dict.fromkeys(THREAD_VARIABLES, "2")


def test_sensitive_nodes_come_from_the_plan(tmp_path):
    frame = knn_frame(200)
    planned = plan_bundle(write_bundle(tmp_path / "knn", knn_document(), frame))
    assert [(n.node_id, n.node_type) for n in sensitive_nodes(planned.plan)] == [
        ("n3", "imputation"),
        ("n4", "smote"),
        ("n5", "train_model"),
    ]
    base = plan_bundle(write_bundle(tmp_path / "base", base_pipeline(), base_frame()))
    assert sensitive_nodes(base.plan) == []  # median imputation, logistic regression


def test_check_parity_counts_and_names_first_differences(tmp_path):
    planned = plan_bundle(write_bundle(tmp_path / "knn", knn_document(), knn_frame(200)))
    reference = pd.DataFrame({"prediction": ["yes", "no", "no", "yes"]})
    parity = check_parity(planned.plan, reference, pd.Series(["yes", "no", "yes", "yes"]))
    assert (parity.rows, parity.reproduced, parity.verdict) == (4, 3, "failed")
    assert parity.first_differences == [{"row": 2, "canvas": "no", "export": "yes"}]
    assert [n.node_id for n in parity.sensitive_nodes] == ["n3", "n4", "n5"]


# --- slow: the other machine, made on this one -----------------------------------------------


def _pin_threads(monkeypatch, count: str | None) -> None:
    for name in THREAD_VARIABLES:
        if count is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, count)


def _predict_with(project: Path, rows: pd.DataFrame, threads: str) -> pd.Series:
    inp, out = project / "reference-input.csv", project / "reference-output.csv"
    rows.to_csv(inp, index=False)
    env = {"PATH": os.environ.get("PATH", ""), **dict.fromkeys(THREAD_VARIABLES, threads)}
    subprocess.run(
        [sys.executable, "-m", "src.models.predict", str(inp), "--output", str(out)],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    return pd.read_csv(out)["prediction"]


@pytest.mark.slow
def test_reference_from_another_thread_count_is_reproduced_within_tolerance(tmp_path, monkeypatch):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: the default thread count is already 1, no other order to try")
    frame = knn_frame()
    # The canvas's machine: the generated project trained with one thread.
    _pin_threads(monkeypatch, "1")
    canvas = api.build(write_bundle(tmp_path / "canvas", knn_document(), frame), NO_DATA)
    project = tmp_path / "canvas-project"
    for rel, data in canvas.files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes(data)
    features = frame.drop(columns=["label"])
    _, test_rows = train_test_split(
        features, test_size=TEST_SIZE, stratify=frame["label"], random_state=0
    )
    test_rows = test_rows.sort_index()  # the test split, in data-source row order (SPEC)
    reference = test_rows.assign(prediction=_predict_with(project, test_rows, "1").to_numpy())
    results = {
        "metrics": {
            split: {k: v for k, v in canvas.metrics[split].items() if not isinstance(v, list)}
            for split in ("test", "cv")
        },
        "reference_predictions": "reference_predictions.csv",
    }

    # A reference far outside the numerical spread: the labels of a fifth of the rows flipped.
    flipped = reference.copy()
    rows = flipped.index[: len(flipped) // 5]
    flipped.loc[rows, "prediction"] = flipped.loc[rows, "prediction"].map(
        {"yes": "no", "no": "yes"}
    )
    far = write_bundle(tmp_path / "far", knn_document(results), frame)
    flipped.to_csv(far / "reference_predictions.csv", index=False)

    # This machine: the default thread count. Both builds mostly wait on their subprocesses.
    _pin_threads(monkeypatch, None)
    bundle = write_bundle(tmp_path / "bundle", knn_document(results), frame)
    reference.to_csv(bundle / "reference_predictions.csv", index=False)
    with ThreadPoolExecutor(2) as pool:
        refused = pool.submit(api.build, far, NO_DATA)
        result = api.export(bundle, tmp_path / "repo")
        with pytest.raises(ParityError) as caught:
            refused.result()
    parity = result.parity
    assert parity["rows"] == len(test_rows)
    # The thread count alone changed the canvas's predictions on this data.
    assert parity["reproduced"] < PARITY_CLASSIFICATION * parity["rows"], parity
    assert parity["verdict"] == "within_tolerance", parity["reason"]
    assert parity["ok"] is True and result.status == "created"
    assert [n["node_id"] for n in parity["sensitive_nodes"]] == ["n3", "n4", "n5"]
    assert parity["numerical_spread"]["rows_moved"] > 0
    assert all(m["within"] for m in parity["numerical_spread"]["metrics"])
    assert json.loads(result.model_dump_json())["parity"]["verdict"] == "within_tolerance"
    message = subprocess.run(
        ["git", "-C", str(tmp_path / "repo"), "log", "-1", "--format=%B", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    trailers = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert f"Parity: within_tolerance {parity['reproduced']}/{parity['rows']}; " in trailers
    assert "sensitive nodes n3, n4, n5" in trailers
    assert "reproduced within numerical tolerance" in message
    card = (tmp_path / "repo" / "MODEL_CARD.md").read_text()
    assert "Verdict: reproduced within numerical tolerance" in card

    text = str(caught.value)
    assert "not reproduced" in text and "rows disagree, more than 2 ×" in text
    assert "KNN impute (n3)" in text and "SMOTE (n4)" in text and "KNN model (n5)" in text
    assert "row 0: canvas" in text
