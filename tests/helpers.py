"""Small helpers for building canvas documents and bundles in tests.

Stable names (other test modules import them): ``make_document``, ``write_bundle``; also
``node``, ``chain``, ``base_frame``, ``base_pipeline``, ``EXAMPLES``, ``REPO_ROOT``.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "gitexport" / "examples"
EXAMPLE_NAMES = ("penguins", "telco_churn", "diamonds")


def node(
    node_id: str, type_: str, label: str | None = None, *, disabled: bool = False, **config
) -> dict:
    """A graph node in the canvas (React Flow) shape."""
    data = {
        "label": label if label is not None else type_.replace("_", " ").title(),
        "config": config,
    }
    if disabled:
        data["disabled"] = True
    return {"id": node_id, "type": type_, "position": {"x": 0, "y": 0}, "data": data}


def edge(source: str, target: str, edge_id: str | None = None) -> dict:
    return {"id": edge_id or f"e_{source}_{target}", "source": source, "target": target}


def chain(*node_ids: str) -> list[dict]:
    """Edges linking the given nodes one after the other."""
    return [edge(a, b) for a, b in itertools.pairwise(node_ids)]


def make_document(nodes: list[dict], edges: list[dict], **overrides) -> dict:
    """A valid ``canvas-pipeline/1`` document around the given graph.

    Defaults: one CSV source ``ds_1`` at ``data/data.csv``. ``overrides`` replace top-level
    keys (``data_sources=...``, ``export=...``, ``catalog_version=...``); a value of ``None``
    removes the key.
    """
    document = {
        "format": "canvas-pipeline/1",
        "catalog_version": "1.4.0",
        "pipeline": {
            "id": "pl_test",
            "name": "Test pipeline",
            "version": 1,
            "updated_at": "2026-11-20T10:31:00Z",
            "owner": "test@example.com",
        },
        "data_sources": [{"id": "ds_1", "name": "data", "type": "csv", "path": "data/data.csv"}],
        "graph": {"nodes": copy.deepcopy(nodes), "edges": copy.deepcopy(edges)},
    }
    for key, value in overrides.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def write_bundle(
    tmp_path: Path, document: dict, data: pd.DataFrame | None = None, name: str = "data.csv"
) -> Path:
    """Write ``pipeline.json`` (and ``data/<name>`` when ``data`` is given); return the bundle folder."""
    bundle = Path(tmp_path)
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "pipeline.json").write_text(
        json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    if data is not None:
        (bundle / "data").mkdir(exist_ok=True)
        path = bundle / "data" / name
        if name.endswith((".parquet", ".pq")):
            data.to_parquet(path, index=False)
        else:
            data.to_csv(path, index=False)
    return bundle


# --- a small valid pipeline used as the base of many tests ---------------------------------


def base_frame(n: int = 60) -> pd.DataFrame:
    """Deterministic data: ids, numbers (one with missing values, one with non-positive values),
    a category, free text, a date, a binary target ``label``, a 3-class ``kind`` and a
    numeric ``price``."""
    rng = np.random.default_rng(0)
    income = rng.uniform(1_000, 9_000, n).round(2)
    income[[i for i in (3, 17, 41) if i < n]] = np.nan
    return pd.DataFrame(
        {
            "id": [f"r{i:03d}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "income": income,
            "score": rng.normal(0, 1, n).round(3),  # has negative values
            "city": [("a", "b", "c")[i % 3] for i in range(n)],
            "note": [f"Note  #{i}!" for i in range(n)],
            "signup": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
            "kind": [("x", "y", "z")[i % 3] for i in range(n)],
            "price": rng.uniform(10, 100, n).round(2),
            "label": [("no", "yes")[i % 2] for i in range(n)],
        }
    )


def base_nodes() -> list[dict]:
    return [
        node("n1", "dataset", "Dataset", source_id="ds_1"),
        node(
            "n2",
            "feature_target_split",
            "Split",
            target="label",
            test_size=0.25,
            stratify=True,
            random_state=0,
        ),
        node("n3", "drop_columns", "Drop ids", columns=["id", "note", "signup", "kind"]),
        node("n4", "imputation", "Impute", columns=["income"], strategy="median"),
        node("n5", "one_hot_encoding", "One hot", columns=["city"]),
        node("n6", "standard_scaler", "Scale", columns=[]),
        node(
            "n7",
            "train_model",
            "Model",
            model_type="logistic_regression",
            hyperparameters={"C": 1.0, "max_iter": 500},
            cv_folds=3,
        ),
        node("n8", "evaluate_model", "Evaluate", metrics=["accuracy", "f1"]),
    ]


BASE_CHAIN = ("n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8")


def base_pipeline() -> dict:
    """A valid classification document over :func:`base_frame` (target ``label``)."""
    return make_document(base_nodes(), chain(*BASE_CHAIN))


def find_node(document: dict, node_id: str) -> dict:
    for n in document["graph"]["nodes"]:
        if n["id"] == node_id:
            return n
    raise KeyError(node_id)


def config(document: dict, node_id: str) -> dict:
    """The ``data.config`` of a node (mutable)."""
    return find_node(document, node_id)["data"]["config"]


def penguins_variant(tmp_path: Path, version: int, c: float) -> Path:
    """The penguins example bundle at another version, with another LogisticRegression ``C``.

    The canvas's reference predictions belong to its original run, so they are left out.
    """
    import shutil

    target = tmp_path / f"penguins-v{version}-c{c}"
    if not target.exists():
        shutil.copytree(EXAMPLES / "penguins", target)
        doc = json.loads((target / "pipeline.json").read_text())
        doc["pipeline"]["version"] = version
        for item in doc["graph"]["nodes"]:
            if item["type"] == "train_model":
                item["data"]["config"]["hyperparameters"]["C"] = c
        doc["results"].pop("reference_predictions")
        (target / "pipeline.json").write_text(json.dumps(doc, indent=2))
    return target


def training_processes(under: Path) -> list[int]:
    """PIDs of running generated-project trainings (`python -m src.models.train`, or the
    interpreter gitexport prestarts for it once it runs in a staging folder) whose staging
    folder is below *under* (other tests' trainings, in parallel, are not ours)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue
        runs_training = b"src.models.train" in argv or any(
            arg.startswith(b"# gitexport-prestarted") for arg in argv
        )
        staged = cwd.name.startswith("gitexport-build-")
        if runs_training and staged and cwd.is_relative_to(under.resolve()):
            pids.append(int(proc.name))
    return pids


BIN = Path(sys.executable).parent  # the test virtualenv's scripts: linters, act, scanners


def tool(name: str) -> str:
    """The path of a command-line tool (the venv's first), or skip (fail under CI)."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        message = f"{name} is not installed (it comes with pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found
