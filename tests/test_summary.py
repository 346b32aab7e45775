"""The pipeline-level summary of a re-export (the pull-request body), from plan data."""

from __future__ import annotations

from gitexport.git import FileChange
from gitexport.summary import ExportSide, pipeline_changes, render_summary


def step(node_id, node_type, label, **kwargs):
    return {
        "node_id": node_id,
        "node_type": node_type,
        "label": label,
        "training": f"does {node_type}",
        "call": {"module": "m", "name": "C", "kwargs": kwargs},
    }


def plan(version, steps, model_kwargs, skipped=()):
    return {
        "pipeline": {"name": "Churn", "version": version},
        "steps": steps,
        "model": {
            "estimator": {"module": "sklearn.ensemble", "name": "RF", "kwargs": model_kwargs}
        },
        "split": {"test_size": 0.2},
        "evaluation": {"metrics": ["accuracy"]},
        "skipped": list(skipped),
    }


OLD = plan(
    6,
    [step("n3", "drop_columns", "Drop", columns=["id"]), step("n4", "imputation", "Impute")],
    {"n_estimators": 100},
)
NEW = plan(
    7,
    [
        step("n3", "drop_columns", "Drop", columns=["id", "email"]),
        step("n9", "standard_scaler", "Scale | *all*"),
    ],
    {"n_estimators": 200},
    skipped=[{"node_id": "n4", "label": "Impute", "reason": "disabled"}],
)


def test_nodes_added_removed_changed_and_model_parameters():
    lines = pipeline_changes(OLD, NEW)
    # Labels and values are Markdown-escaped: a label cannot break the table or the list.
    assert (
        "- added node `n9` Scale \\| \\*all\\* (standard_scaler): does standard\\_scaler" in lines
    )
    assert "- removed node `n4` Impute (imputation)" in lines
    assert "- node `n3` Drop: `columns`: \\['id'\\] → \\['id', 'email'\\]" in lines
    assert "- model parameter `n_estimators`: 100 → 200" in lines
    assert "- node `n4` Impute now skipped: disabled" in lines


def test_an_unchanged_pipeline_says_so_and_lists_files():
    body = render_summary(
        ExportSide(OLD, {"test": {"accuracy": 0.8}}, None),
        ExportSide(OLD, {"test": {"accuracy": 0.8}}, None),
        [
            FileChange("README.md", "modified", 2, 1, False),
            FileChange("m.joblib", "added", 0, 0, True),
        ],
        canvas_metrics={"test": {"accuracy": 0.8}},
    )
    assert "No change to the pipeline's nodes or model." in body
    assert "| test | accuracy | 0.8000 | 0.8000 | 0.8000 |" in body
    assert "| `README.md` | modified | +2 −1 |" in body
    assert "| `m.joblib` | added | binary |" in body


def test_first_export_has_no_before():
    body = render_summary(ExportSide(None, None, None), ExportSide(NEW, None, None), [])
    assert "version 7 (first export)" in body
    assert "No file changes." in body
