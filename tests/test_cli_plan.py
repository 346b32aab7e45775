"""``gitexport plan``: the example bundles, the corpus of broken documents, hostile names."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from corpus.cases import CASES, CORPUS_DIR, STATIC, Broken

from gitexport.cli import main
from helpers import (
    EXAMPLES,
    REPO_ROOT,
    base_frame,
    base_pipeline,
    chain,
    config,
    make_document,
    node,
    write_bundle,
)


def run_cli(
    *args: str, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """``python -m gitexport ARGS`` in a real process."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("GITEXPORT_DEBUG", None)
    return subprocess.run(  # noqa: PLW1510 - the exit status is what the tests check
        [sys.executable, "-m", "gitexport", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=full_env,
        cwd=cwd or REPO_ROOT,
        timeout=300,
    )


def plan_json(bundle: Path) -> dict:
    proc = run_cli("plan", str(bundle), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


# --- the example bundles ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def penguins() -> dict:
    return plan_json(EXAMPLES / "penguins")


@pytest.fixture(scope="module")
def telco() -> dict:
    return plan_json(EXAMPLES / "telco_churn")


@pytest.fixture(scope="module")
def diamonds() -> dict:
    return plan_json(EXAMPLES / "diamonds")


@pytest.mark.parametrize("name", ["penguins", "telco_churn", "diamonds"])
def test_example_plans_as_text(name):
    proc = run_cli("plan", str(EXAMPLES / name))
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr
    assert proc.stdout.strip()


@pytest.mark.parametrize("name", ["penguins", "telco_churn", "diamonds"])
def test_example_source_facts(name):
    plan = plan_json(EXAMPLES / name)
    doc = json.loads((EXAMPLES / name / "pipeline.json").read_text())
    rel = doc["data_sources"][0]["path"]
    path = EXAMPLES / name / rel
    frame = pd.read_parquet(path) if rel.endswith(".parquet") else pd.read_csv(path)
    assert plan["source"]["bundle_file"] == rel
    assert plan["source"]["n_rows"] == len(frame)
    assert plan["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [c["name"] for c in plan["raw_columns"]] == list(frame.columns)
    assert plan["pipeline"]["id"] == doc["pipeline"]["id"]
    assert plan["pipeline"]["version"] == doc["pipeline"]["version"]
    assert plan["catalog_version"] == "1.4.0"
    assert plan["canvas_results"]["metrics"] == doc["results"]["metrics"]
    # the target is never a serving field
    target = plan["target"]
    assert target not in [f["name"] for f in plan["serving_schema"]]
    assert [c["role"] for c in plan["raw_columns"] if c["name"] == target] == ["target"]


def test_penguins_plan(penguins):
    data = pd.read_csv(EXAMPLES / "penguins/data/penguins.csv")
    p = penguins
    assert p["target"] == "species"
    assert p["problem_type"] == "classification"
    assert p["classes"] == sorted(data["species"].unique())
    assert p["split"] == {
        "node_id": "n2",
        "target": "species",
        "test_size": 0.25,
        "stratify": True,
        "random_state": 7,
    }
    assert [s["node_id"] for s in p["steps"]] == ["n3", "n4", "n5", "n6", "n7"]
    assert [s["role"] for s in p["steps"]] == [
        "row_filter",
        "stateful",
        "stateful",
        "stateful",
        "stateful",
    ]
    assert p["skipped"] == []
    assert p["model"]["node_id"] == "n8"
    assert p["model"]["estimator"]["name"] == "LogisticRegression"
    assert p["model"]["estimator"]["module"] == "sklearn.linear_model"
    assert p["model"]["estimator"]["kwargs"]["C"] == 0.5
    assert p["model"]["estimator"]["kwargs"]["max_iter"] == 2000
    # random_state is passed where the estimator takes one (train_model default: 42)
    assert p["model"]["estimator"]["kwargs"]["random_state"] == 42
    assert p["model"]["cv_folds"] == 5
    assert p["model"]["allows_nan"] is False
    assert p["evaluation"]["node_id"] == "n9"
    assert p["evaluation"]["metrics"] == ["accuracy", "f1", "confusion_matrix"]
    # one-hot removes its source columns; in-place steps keep positions
    one_hot = p["steps"][3]
    assert one_hot["node_type"] == "one_hot_encoding"
    assert set(one_hot["removes"]) == {"island", "sex"}
    assert "island" not in p["feature_columns"] and "sex" not in p["feature_columns"]
    for cat in sorted(data["island"].unique()):
        assert f"island_{cat}" in p["feature_columns"]

    serving = {f["name"]: f for f in p["serving_schema"]}
    assert list(serving) == [c for c in data.columns if c != "species"]
    # year: no missing value in the data, so no imputation or indicator takes it; LogisticRegression
    # cannot take NaN → a request must carry it.
    assert data["year"].notna().all()
    assert serving["year"]["nullable"] is False
    assert serving["year"]["kind"] == "integer"
    # one-hot with handle_unknown: ignore writes all zeros for a missing category
    assert serving["island"]["nullable"] is True
    assert serving["sex"]["nullable"] is True
    assert serving["island"]["categories"] == sorted(data["island"].dropna().unique())
    # Every row missing a measurement also misses `sex`: drop_missing_rows(sex) removes them from
    # training, so the automatic imputation finds nothing to fill at fit time and a missing
    # measurement at serving time reaches LogisticRegression → required.
    for col in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"):
        assert data.loc[data[col].isna(), "sex"].isna().all()
        assert serving[col]["nullable"] is False, col


def test_telco_plan(telco):
    data = pd.read_csv(EXAMPLES / "telco_churn/data/telco_churn.csv")
    p = telco
    assert p["target"] == "churn"
    assert p["problem_type"] == "classification"
    assert p["classes"] == ["No", "Yes"]
    assert p["evaluation"]["positive_label"] == "Yes"
    assert p["evaluation"]["node_id"] == "n10"
    assert [s["node_id"] for s in p["steps"]] == ["n3", "n4", "n5", "n6", "n7", "n8"]
    assert [s["node_type"] for s in p["steps"]] == [
        "drop_columns",
        "imputation",
        "one_hot_encoding",
        "label_encoding",
        "standard_scaler",
        "smote",
    ]
    assert p["steps"][-1]["role"] == "sampler"
    # the automatic label encoding takes every text column still there after drop + one-hot
    one_hot = ["internet_service", "contract", "payment_method", "multiple_lines"]
    text_left = [
        c
        for c in data.columns
        if not pd.api.types.is_numeric_dtype(data[c])
        and c not in ("customer_id", "churn", *one_hot)
    ]
    assert len(text_left) == 6
    assert p["steps"][3]["columns"] is None
    assert p["steps"][3]["touches"] == text_left
    assert p["model"]["node_id"] == "n9"
    assert p["model"]["estimator"]["name"] == "RandomForestClassifier"
    assert p["model"]["estimator"]["kwargs"]["n_estimators"] == 200

    skipped = {s["node_id"]: s for s in p["skipped"]}
    assert set(skipped) == {"n11", "n12"}
    assert "off the chain" in skipped["n11"]["reason"]
    assert skipped["n11"]["label"] == "Experiment: min-max"
    assert "disabled" in skipped["n12"]["reason"]
    assert skipped["n12"]["node_type"] == "robust_scaler"

    serving = [f["name"] for f in p["serving_schema"]]
    assert "customer_id" not in serving  # dropped by n3
    assert "churn" not in serving
    assert serving == [c for c in data.columns if c not in ("customer_id", "churn")]
    roles = {c["name"]: c["role"] for c in p["raw_columns"]}
    assert roles["customer_id"] == "unused"
    assert roles["churn"] == "target"
    # total_charges is imputed explicitly: a request may leave it out
    fields = {f["name"]: f for f in p["serving_schema"]}
    assert fields["total_charges"]["nullable"] is True
    assert fields["multiple_lines"]["categories"] == sorted(data["multiple_lines"].unique())
    # one-hot columns appended at the end, in node column order then sorted category order
    features = p["feature_columns"]
    assert "customer_id" not in features and "contract" not in features
    expected_tail = [
        f"{col}_{cat}"
        for col in ("internet_service", "contract", "payment_method", "multiple_lines")
        for cat in sorted(data[col].astype(str).unique())
    ]
    assert features[-len(expected_tail) :] == expected_tail


def test_diamonds_plan(diamonds):
    data = pd.read_parquet(EXAMPLES / "diamonds/data/diamonds.parquet")
    p = diamonds
    assert p["target"] == "price"
    assert p["problem_type"] == "regression"
    assert p["classes"] == []
    assert p["source"]["type"] == "parquet"
    assert p["source"]["file_format"] == "parquet"
    assert [s["node_id"] for s in p["steps"]] == ["n3", "n4", "n5"]
    assert [s["role"] for s in p["steps"]] == ["stateful", "row_filter", "stateful"]
    assert p["model"]["estimator"]["name"] == "HistGradientBoostingRegressor"
    assert p["model"]["cv_folds"] == 3
    assert p["evaluation"]["metrics"] == ["rmse", "mae", "r2"]
    assert p["skipped"] == []
    # ordinal encoding and log1p work in place: the model sees the raw columns, in order
    assert p["feature_columns"] == [c for c in data.columns if c != "price"]
    assert [f["name"] for f in p["serving_schema"]] == [c for c in data.columns if c != "price"]
    assert "pyarrow" in [pkg["name"] for pkg in p["packages"]]


def test_cli_version():
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert "0.1.0" in proc.stdout


# --- the corpus of broken documents ------------------------------------------------------


def _write_case(tmp_path: Path, case) -> Path:
    b = Broken(doc=base_pipeline(), df=base_frame(), root=tmp_path / "bundle")
    case.mutate(b)
    bundle = write_bundle(b.root, b.doc, b.df)
    if b.raw_text is not None:
        (bundle / "pipeline.json").write_text(b.raw_text, encoding="utf-8")
    return bundle


def test_the_corpus_base_is_valid(tmp_path, capsys):
    bundle = write_bundle(tmp_path, base_pipeline(), base_frame())
    assert main(["plan", str(bundle)]) == 0
    assert "error" not in capsys.readouterr().err


def test_corpus_is_large_enough():
    assert len(CASES) + len(STATIC) >= 25
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_document(case, tmp_path, capsys):
    bundle = _write_case(tmp_path, case)
    rc = main(["plan", str(bundle), "--json"])
    out, err = capsys.readouterr()
    assert rc == 2, err
    # Under --json stdout holds only the error object, with the same problems as stderr.
    error = json.loads(out)["error"]
    assert error["code"] == "invalid_document"
    assert len(error["problems"]) == len(error_lines(err))
    assert "Traceback" not in err
    lines = error_lines(err)
    assert lines, err
    assert all(line.startswith(("error: ", "warning: ")) for line in err.splitlines()), err
    assert any(all(s in line for s in case.expect) for line in lines), (
        f"no error line contains all of {case.expect!r}:\n{err}"
    )


@pytest.mark.parametrize("name", sorted(STATIC))
def test_static_broken_document(name, capsys):
    rc = main(["plan", str(CORPUS_DIR / name)])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = error_lines(err)
    assert any(all(s in line for s in STATIC[name]) for line in lines), err


@pytest.mark.parametrize(
    "name", ["malformed_json", "cycle", "box_cox_non_positive", "data_path_escapes_bundle"]
)
def test_broken_document_in_a_real_process(name, tmp_path):
    case = next(c for c in CASES if c.name == name)
    proc = run_cli("plan", str(_write_case(tmp_path, case)))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert any(all(s in line for s in case.expect) for line in error_lines(proc.stderr)), (
        proc.stderr
    )


def test_missing_bundle_is_exit_2(tmp_path):
    proc = run_cli("plan", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert "nowhere" in proc.stderr and "Traceback" not in proc.stderr


def test_several_document_problems_reported_at_once(tmp_path, capsys):
    doc = base_pipeline()
    config(doc, "n4")["strategy"] = "average"  # enum
    config(doc, "n5")["drop_frist"] = True  # unknown key
    config(doc, "n7")["cv_folds"] = "5"  # wrong type
    doc["data_sources"][0]["path"] = "data/missing.csv"  # missing file
    bundle = write_bundle(tmp_path, doc, base_frame())
    assert main(["plan", str(bundle)]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) >= 4, lines
    assert any("'n4'" in line and "config.strategy" in line for line in lines)
    assert any("'n5'" in line and "config.drop_frist" in line for line in lines)
    assert any("'n7'" in line and "config.cv_folds" in line for line in lines)
    assert any("missing.csv" in line for line in lines)


def test_several_plan_problems_reported_at_once(tmp_path, capsys):
    doc = base_pipeline()
    config(doc, "n6")["columns"] = ["age", "city"]  # city is one-hot encoded before n6
    config(doc, "n7")["hyperparameters"] = {"C": 1.0, "max_iters": 3}
    config(doc, "n8")["metrics"] = ["accuracy", "rmse"]
    bundle = write_bundle(tmp_path, doc, base_frame())
    assert main(["plan", str(bundle)]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) >= 3, lines
    assert any("'n6'" in line and "'city'" in line for line in lines)
    assert any("'n7'" in line and "max_iters" in line for line in lines)
    assert any("'n8'" in line and "'rmse'" in line for line in lines)


def test_several_graph_problems_reported_at_once(tmp_path, capsys):
    doc = base_pipeline()
    doc["graph"]["edges"].append({"id": "e_x", "source": "n6", "target": "ghost"})
    doc["graph"]["nodes"].append(node("x1", "minmax_scaler"))
    doc["graph"]["edges"] += [
        {"id": "e_y", "source": "n1", "target": "x1"},
        {"id": "e_z", "source": "x1", "target": "n4"},
    ]
    bundle = write_bundle(tmp_path, doc, base_frame())
    assert main(["plan", str(bundle)]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert any("'ghost'" in line for line in lines), lines
    assert any("'n4'" in line and "incoming" in line for line in lines), lines


# --- warnings -------------------------------------------------------------------------


def test_unknown_top_level_key_is_a_warning(tmp_path):
    doc = base_pipeline()
    doc["canvas_layout"] = {"zoom": 1.5}
    proc = run_cli("plan", str(write_bundle(tmp_path, doc, base_frame())), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert any("canvas_layout" in w for w in warnings), proc.stderr
    plan = json.loads(proc.stdout)
    assert any("canvas_layout" in w for w in plan["warnings"])


def test_newer_minor_catalog_is_a_warning(tmp_path):
    doc = base_pipeline()
    doc["catalog_version"] = "1.9.0"
    proc = run_cli("plan", str(write_bundle(tmp_path, doc, base_frame())))
    assert proc.returncode == 0, proc.stderr
    assert "1.9.0" in proc.stderr and "warning: " in proc.stderr


# --- hostile but legal names ---------------------------------------------------------------

HOSTILE = [
    'it\'s "quoted"',
    "line\nbreak",
    "{{ config }}",
    "{% raw %}x{% endraw %}",
    '"""doc"""',
    "é 中文 🙂",
    "class",
    "import",
    "__import__('os')",
    "back\\slash\\n",
    "tab\there ",
]
HOSTILE_TARGET = "if"
HOSTILE_CATEGORY_COLUMN = "{{ cat }} 'x'"
HOSTILE_CATEGORIES = ["{{a}}", "it's", "中文 🙂", '"""', "b\\c"]


def hostile_frame(n: int = 40) -> pd.DataFrame:
    data = {
        name: [float(i * (k + 1) % 7) + 0.5 for i in range(n)] for k, name in enumerate(HOSTILE)
    }
    data[HOSTILE_CATEGORY_COLUMN] = [
        HOSTILE_CATEGORIES[i % len(HOSTILE_CATEGORIES)] for i in range(n)
    ]
    data[HOSTILE_TARGET] = [("yes '\"", "{{ no }}")[i % 2] for i in range(n)]
    return pd.DataFrame(data)


def hostile_document() -> dict:
    nodes = [
        node("n1", "dataset", "Data {{ x }}", source_id="ds_1"),
        node("n2", "feature_target_split", 'Split """ \'', target=HOSTILE_TARGET, test_size=0.25),
        node("n3", "one_hot_encoding", "{% if %}\nOne\\hot", columns=[HOSTILE_CATEGORY_COLUMN]),
        node(
            "n4",
            "standard_scaler",
            "__import__('os').system('x')",
            columns=["line\nbreak", "__import__('os')"],
        ),
        node(
            "n5",
            "train_model",
            "é 中文 🙂 class",
            model_type="random_forest_classifier",
            hyperparameters={"n_estimators": 5},
            cv_folds=0,
        ),
        node("n6", "evaluate_model", "import", metrics=["accuracy"]),
    ]
    return make_document(
        nodes,
        chain("n1", "n2", "n3", "n4", "n5", "n6"),
        pipeline={
            "id": "pl_'\"{{x}}",
            "name": "{{ name }} \"é\" '''",
            "version": 1,
            "updated_at": "2026-11-20T10:31:00Z",
            "owner": 'o\'neil """',
        },
    )


def test_hostile_names_survive_the_csv():
    # the data file itself must carry the names: check the fixture, not the code
    import io

    buf = io.StringIO()
    hostile_frame().to_csv(buf, index=False)
    assert list(pd.read_csv(io.StringIO(buf.getvalue())).columns) == list(hostile_frame().columns)


def test_hostile_names_plan_intact(tmp_path):
    frame = hostile_frame()
    doc = hostile_document()
    bundle = write_bundle(tmp_path, doc, frame)
    plan = plan_json(bundle)
    header = list(frame.columns)
    assert [c["name"] for c in plan["raw_columns"]] == header
    assert plan["target"] == HOSTILE_TARGET
    assert plan["classes"] == sorted(frame[HOSTILE_TARGET].unique())
    assert [f["name"] for f in plan["serving_schema"]] == [c for c in header if c != HOSTILE_TARGET]
    by_name = {f["name"]: f for f in plan["serving_schema"]}
    assert by_name[HOSTILE_CATEGORY_COLUMN]["categories"] == sorted(HOSTILE_CATEGORIES)
    assert plan["feature_columns"] == HOSTILE + [
        f"{HOSTILE_CATEGORY_COLUMN}_{c}" for c in sorted(HOSTILE_CATEGORIES)
    ]
    labels = {n["id"]: n["data"]["label"] for n in doc["graph"]["nodes"]}
    assert [(s["node_id"], s["label"]) for s in plan["steps"]] == [
        ("n3", labels["n3"]),
        ("n4", labels["n4"]),
    ]
    assert plan["steps"][1]["columns"] == ["line\nbreak", "__import__('os')"]
    assert plan["model"]["label"] == labels["n5"]
    assert plan["pipeline"]["name"] == doc["pipeline"]["name"]
    assert plan["pipeline"]["owner"] == doc["pipeline"]["owner"]
    # the project slug is safe whatever the name
    assert plan["project_name"] and all(
        ch.isascii() and (ch.isalnum() or ch in "-._") for ch in plan["project_name"]
    )
    for step in plan["steps"]:
        assert step["step_name"].isidentifier()


def test_hostile_names_text_summary(tmp_path):
    proc = run_cli("plan", str(write_bundle(tmp_path, hostile_document(), hostile_frame())))
    assert proc.returncode == 0, proc.stderr
    assert "__import__('os')" in proc.stdout


def test_hostile_names_in_errors_are_quoted(tmp_path, capsys):
    doc = hostile_document()
    config(doc, "n4")["columns"] = ["no\nsuch {{ col }}"]
    assert main(["plan", str(write_bundle(tmp_path, doc, hostile_frame()))]) == 2
    lines = error_lines(capsys.readouterr().err)
    # one line per problem: the newline inside the name is escaped, not printed raw
    assert any("'n4'" in line and repr("no\nsuch {{ col }}") in line for line in lines), lines


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["telco_churn", "penguins"])
def test_plan_json_is_deterministic_across_processes(name, tmp_path):
    # a copy elsewhere, and different hash seeds: nothing may depend on set order or on the path
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLES / name, copy)
    first = run_cli("plan", str(EXAMPLES / name), "--json", env={"PYTHONHASHSEED": "1"})
    second = run_cli("plan", str(copy), "--json", env={"PYTHONHASHSEED": "2"}, cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    assert str(EXAMPLES) not in first.stdout  # no absolute paths in the plan


def test_human_output_escapes_control_and_bidi_characters_in_names(tmp_path):
    """A name cannot forge an output line or reorder one (the JSON keeps the exact text)."""
    bundle = tmp_path / "hostile"
    shutil.copytree(EXAMPLES / "penguins", bundle)
    doc = json.loads((bundle / "pipeline.json").read_text())
    doc["pipeline"]["name"] = "churn\nerror: forged line\u202e"
    doc["graph"]["nodes"][1]["data"]["label"] = "step\r\x1b[2Jcleared"
    (bundle / "pipeline.json").write_text(json.dumps(doc))
    text = run_cli("plan", str(bundle)).stdout
    assert not any(line.startswith("error:") for line in text.splitlines())
    assert "\u202e" not in text and "\x1b" not in text and "\r" not in text
    assert "churn\\nerror: forged line\\u202e" in text
    assert plan_json(bundle)["pipeline"]["name"] == "churn\nerror: forged line\u202e"


def test_a_pipeline_id_trailers_cannot_store_is_refused_before_anything_runs(tmp_path):
    bundle = tmp_path / "odd-id"
    shutil.copytree(EXAMPLES / "penguins", bundle)
    doc = json.loads((bundle / "pipeline.json").read_text())
    doc["pipeline"]["id"] = "pl\tpenguins"
    (bundle / "pipeline.json").write_text(json.dumps(doc))
    proc = run_cli("plan", str(bundle))
    assert proc.returncode == 2
    assert any(line.startswith("error: pipeline.id:") for line in proc.stderr.splitlines())
