"""Hostile and careless input (issue 12): every bad input a named DocumentError (exit 2)
before any expensive work; limits that keep loading and planning cheap; free text capped;
names escaped for the terminal; the shipped sample read back as the source's own options."""

from __future__ import annotations

import importlib
import json
import sys

import pandas as pd
import pytest

from gitexport import document as document_module
from gitexport import graph as graph_module
from gitexport.document import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    load_bundle,
    read_document_json,
)
from gitexport.errors import DocumentError, Problem, node_where
from gitexport.load import plan_bundle
from gitexport.render import Assets, RenderOptions, render_project
from gitexport.sample import SAMPLE_ROWS, sample_bytes, sample_rows
from gitexport.terminal import for_terminal
from helpers import (
    BASE_CHAIN,
    base_frame,
    base_nodes,
    base_pipeline,
    chain,
    config,
    find_node,
    make_document,
    node,
    write_bundle,
)


def problems_of(bundle, loader=load_bundle) -> list[str]:
    with pytest.raises(DocumentError) as info:
        loader(bundle)
    assert info.value.exit_code == 2
    return [str(p) for p in info.value.problems]


def write_text(tmp_path, text: str):
    (tmp_path / "pipeline.json").write_text(text, encoding="utf-8")
    return tmp_path


# --- JSON that parses but must not be trusted ----------------------------------------------


def test_duplicate_keys_are_refused_naming_key_and_place(tmp_path):
    text = json.dumps(base_pipeline(), indent=1)
    # a second "C" inside the model node's hyperparameters, a second "format" at the top
    text = text.replace('"C": 1.0,', '"C": 1.0, "C": 100.0,', 1)
    text = text.replace('"format": ', '"format": "canvas-pipeline/1", "format": ', 1)
    write_bundle(tmp_path, base_pipeline(), base_frame())
    problems = problems_of(write_text(tmp_path, text))
    assert any("node 'n7' (Model), config.hyperparameters" in p and "'C'" in p for p in problems)
    assert any(p.startswith("the document: key 'format' appears more than once") for p in problems)


def test_nesting_deeper_than_the_limit_is_refused(tmp_path):
    doc = base_pipeline()
    deep: list = []
    for _ in range(100):
        deep = [deep]
    doc["extra"] = deep
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert any("nested more than 64 levels deep" in p for p in problems)


def test_nesting_past_pythons_recursion_limit_is_a_document_error(tmp_path):
    text = json.dumps(base_pipeline())[:-1] + ', "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(DocumentError, match="nested more than 64 levels"):
        read_document_json(write_text(tmp_path, text))


@pytest.mark.parametrize(
    "literal, says",
    [
        ("NaN", "nan is not a finite number"),
        ("Infinity", "inf is not a finite number"),
        ("-Infinity", "-inf is not a finite number"),
        ("1e400", "inf is not a finite number"),
        ("1" + "0" * 400, "integer with 401 digits is too large"),
        ("1" + "0" * 5000, "a number cannot be read"),
    ],
)
def test_non_finite_and_huge_numbers_are_refused_where_they_are(tmp_path, literal, says):
    text = json.dumps(base_pipeline()).replace('"C": 1.0', f'"C": {literal}', 1)
    write_bundle(tmp_path, base_pipeline(), base_frame())
    problems = problems_of(write_text(tmp_path, text))
    assert any(says in p for p in problems), problems
    if "cannot be read" not in says:
        assert any(p.startswith("node 'n7' (Model), config.hyperparameters.C: ") for p in problems)


@pytest.mark.parametrize(
    "bad", ["x" * 5000 + ".csv", "data/" + "d" * 300 + "/data.csv", "a\0b.csv"]
)
def test_data_path_the_file_system_cannot_take_is_a_document_error(tmp_path, bad):
    doc = base_pipeline()
    doc["data_sources"][0]["path"] = bad
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert any(p.startswith("data_sources[0] (ds_1).path: data file ") for p in problems), problems


def test_bundle_path_the_file_system_cannot_take_is_a_document_error(tmp_path):
    with pytest.raises(DocumentError, match="cannot be read"):
        load_bundle(tmp_path / ("b" * 5000))


# --- limits ----------------------------------------------------------------------------------


def test_more_nodes_than_the_limit_are_refused_before_validation(tmp_path, monkeypatch):
    monkeypatch.setattr(document_module, "MAX_NODES", 50)
    doc = base_pipeline()
    doc["graph"]["nodes"] += [node(f"x{i}", "standard_scaler", columns=[]) for i in range(60)]
    doc["graph"]["nodes"][-1]["data"]["config"] = {"not_a_param": float("nan")}
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert problems == ["graph.nodes: 68 nodes; at most 50 are allowed (MAX_NODES)"]


def test_document_bigger_than_the_limit_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(document_module, "MAX_DOCUMENT_BYTES", 1000)
    bundle = write_bundle(tmp_path, base_pipeline(), base_frame())
    with pytest.raises(DocumentError, match=r"at most 1,000 \(MAX_DOCUMENT_BYTES\)"):
        load_bundle(bundle)


def test_a_chain_longer_than_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_module, "MAX_CHAIN_NODES", 20)
    nodes = base_nodes()
    extra = [node(f"x{i}", "standard_scaler", columns=[]) for i in range(15)]
    order = [*BASE_CHAIN[:6], *(n["id"] for n in extra), *BASE_CHAIN[6:]]
    doc = make_document(nodes[:6] + extra + nodes[6:], chain(*order))
    assert problems_of(write_bundle(tmp_path, doc, base_frame()), plan_bundle) == [
        "node 'n7' (Model): the chain from the dataset to the model has 22 nodes; at most 20 "
        "are exported (MAX_CHAIN_NODES)"
    ]


def test_node_lookup_is_by_id_and_first_wins():
    doc = document_module.Document.model_validate(base_pipeline())
    assert doc.node("n7").type == "train_model"
    assert doc.source("ds_1").path == "data/data.csv"
    with pytest.raises(KeyError):
        doc.node("nope")


# --- free text caps --------------------------------------------------------------------------


def test_long_free_text_is_truncated_with_a_note_and_a_warning(tmp_path):
    doc = base_pipeline()
    doc["pipeline"]["description"] = "word " * 1_000_000
    doc["pipeline"]["name"] = "N" * 10_000
    doc["data_sources"][0]["name"] = "S" * 10_000
    find_node(doc, "n3")["data"]["label"] = "L" * 10_000
    find_node(doc, "n4")["data"]["label"] = "M" * 10_000
    planned = plan_bundle(write_bundle(tmp_path, doc, base_frame()))
    pipeline = planned.bundle.document.pipeline
    assert pipeline.description.startswith("word " * (MAX_DESCRIPTION_CHARS // 5))
    assert pipeline.description.endswith("… [truncated from 5,000,000 characters]")
    assert len(pipeline.description) < MAX_DESCRIPTION_CHARS + 50
    assert len(pipeline.name) < MAX_NAME_CHARS + 50
    assert len(planned.plan.to_json()) < 100_000
    warnings = planned.plan.warnings
    assert "pipeline.description has 5,000,000 characters; truncated to 10,000 " in " ".join(
        warnings
    )
    assert any(w.startswith("pipeline.name has 10,000 characters") for w in warnings)
    assert any(w.startswith("data_sources[0].name has 10,000 characters") for w in warnings)
    assert any(w.startswith("2 node label(s) longer than 200") for w in warnings)
    # the canvas's own document (and so its digest) is untouched
    assert planned.bundle.raw["pipeline"]["description"] == "word " * 1_000_000


def test_text_within_the_caps_is_untouched(tmp_path):
    doc = base_pipeline()
    doc["pipeline"]["description"] = "d" * MAX_DESCRIPTION_CHARS
    find_node(doc, "n3")["data"]["label"] = "L" * MAX_NAME_CHARS
    bundle = load_bundle(write_bundle(tmp_path, doc, base_frame()))
    assert bundle.document.pipeline.description == "d" * MAX_DESCRIPTION_CHARS
    assert bundle.document.node("n3").data.label == "L" * MAX_NAME_CHARS
    assert bundle.warnings == []


# --- names on the terminal -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("a\nerror: forged", "a\\nerror: forged"),
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
        ("\x1b[2Jcleared\r", "\\x1b[2Jcleared\\r"),
        ("zero\u200bwidth\u2028line", "zero\\u200bwidth\\u2028line"),
        ("Dréam 中文 ✓", "Dréam 中文 ✓"),
    ],
)
def test_for_terminal_escapes_control_and_bidi_only(raw, shown):
    assert for_terminal(raw) == shown


def test_problems_print_escaped_but_keep_exact_text_for_json():
    where = node_where("n\n1", "Label\u202eevil")
    problem = Problem(where, "bad value\x1b[31m")
    assert "\n" not in str(problem) and "\u202e" not in str(problem) and "\x1b" not in str(problem)
    assert str(problem) == "node 'n\\n1' ('Label\\u202eevil'): bad value\\x1b[31m"
    assert problem.to_dict() == {"where": where, "message": "bad value\x1b[31m"}
    error = DocumentError([problem, Problem("x", "y")])
    assert str(error).splitlines() == [str(problem), "x: y"]
    assert error.to_dict()["problems"][0]["message"] == "bad value\x1b[31m"


# --- source options round-trip through the shipped sample (item 1) ----------------------------


def hostile_frame(n: int = 400) -> pd.DataFrame:
    """Text that each delimiter, quote and encoding could break, on more rows than the sample."""
    frame = base_frame(n)
    frame["note"] = [
        ("Dréam; a, b", 'say "hi"', "tab\there", "Ünïcødé", "car\rriage", "£ 5,50")[i % 6]
        for i in range(n)
    ]
    return frame


def load_with_generated_loader(project, monkeypatch) -> pd.DataFrame:
    """The sample as the project itself loads it: its own ``src.data.data_loader``."""
    monkeypatch.syspath_prepend(str(project))
    try:
        loader = importlib.import_module("src.data.data_loader")
        return loader.load_data(loader.SAMPLE_DATA_PATH)
    finally:
        for name in [m for m in sys.modules if m == "src" or m.startswith("src.")]:
            del sys.modules[name]


@pytest.mark.parametrize(
    "options",
    [
        {"delimiter": ";"},
        {"encoding": "latin-1"},
        {"delimiter": ";", "encoding": "cp1252"},
        {"delimiter": "\t", "encoding": "utf-16"},
        {"delimiter": "|", "encoding": "utf-8-sig"},
        {},
    ],
    ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items()) or "defaults",
)
def test_sample_reads_back_with_the_generated_loader_as_the_source_rows(
    tmp_path, monkeypatch, options
):
    doc = base_pipeline()
    doc["data_sources"][0]["options"] = options
    bundle = write_bundle(tmp_path / "bundle", doc)
    (bundle / "data").mkdir()
    hostile_frame().to_csv(
        bundle / "data" / "data.csv",
        index=False,
        sep=options.get("delimiter", ","),
        encoding=options.get("encoding", "utf-8"),
        lineterminator="\r\n",  # made on Windows: values with a bare \r are quoted
    )
    planned = plan_bundle(bundle)
    assert "car\rriage" in set(planned.frame["note"])
    sample = sample_rows(planned.plan, planned.frame)
    assert len(sample) == SAMPLE_ROWS
    files = render_project(
        planned.plan, RenderOptions(), Assets(sample_csv=sample_bytes(planned.plan, sample))
    )
    project = tmp_path / "project"
    for rel, content in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes(content)
    shipped = load_with_generated_loader(project, monkeypatch)
    pd.testing.assert_frame_equal(shipped, sample.reset_index(drop=True))
    assert "Dréam; a, b" in set(shipped["note"])


def test_parquet_sample_keeps_the_sources_types(tmp_path, monkeypatch):
    doc = base_pipeline()
    doc["data_sources"] = [
        {"id": "ds_1", "name": "data", "type": "parquet", "path": "data/data.parquet"}
    ]
    frame = hostile_frame()
    frame["id"] = [f"{i:05d}" for i in range(len(frame))]  # codes that look like numbers
    frame["signup"] = pd.to_datetime(frame["signup"])
    bundle = write_bundle(tmp_path / "bundle", doc, frame, name="data.parquet")
    planned = plan_bundle(bundle)
    sample = sample_rows(planned.plan, planned.frame)
    files = render_project(
        planned.plan, RenderOptions(), Assets(sample_csv=sample_bytes(planned.plan, sample))
    )
    assert "data/sample/data.parquet" in files
    project = tmp_path / "project"
    for rel, content in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes(content)
    shipped = load_with_generated_loader(project, monkeypatch)
    pd.testing.assert_frame_equal(shipped, sample.reset_index(drop=True))
    assert shipped["id"].iloc[0] == "00000"


def test_a_sample_the_options_cannot_carry_is_refused_not_shipped(tmp_path):
    # a regular-expression delimiter reads, but no CSV writer writes it
    doc = base_pipeline()
    doc["data_sources"][0]["options"] = {"delimiter": r"\s*;\s*"}
    bundle = write_bundle(tmp_path, doc)
    (bundle / "data").mkdir()
    base_frame().to_csv(bundle / "data" / "data.csv", index=False, sep=";")
    planned = plan_bundle(bundle)
    sample = sample_rows(planned.plan, planned.frame)
    with pytest.raises(DocumentError, match="data source 'ds_1', options: the sample"):
        sample_bytes(planned.plan, sample)


# --- what used to fail only after training (item 11) ----------------------------------------


def test_reference_predictions_without_a_prediction_column(tmp_path):
    doc = base_pipeline()
    doc["results"] = {"reference_predictions": "reference.csv"}
    bundle = write_bundle(tmp_path, doc, base_frame())
    base_frame().drop(columns=["label"]).to_csv(bundle / "reference.csv", index=False)
    assert problems_of(bundle, plan_bundle) == [
        "results.reference_predictions: 'reference.csv' has no 'prediction' column "
        "(the canvas's predictions)"
    ]


def test_reference_predictions_missing_a_column_the_model_needs(tmp_path):
    doc = base_pipeline()
    doc["results"] = {"reference_predictions": "reference.csv"}
    bundle = write_bundle(tmp_path, doc, base_frame())
    reference = base_frame().drop(columns=["label", "age"]).assign(prediction="no")
    reference.to_csv(bundle / "reference.csv", index=False)
    problems = problems_of(bundle, plan_bundle)
    assert problems == [
        "results.reference_predictions: 'reference.csv' lacks column(s) the model needs: 'age'"
    ]


@pytest.mark.parametrize(
    "hyperparameters, field, says",
    [
        ({"C": -1.0}, "config.hyperparameters.C", "The 'C' parameter of LogisticRegression"),
        ({"max_iter": "many"}, "config.hyperparameters.max_iter", "'max_iter' parameter"),
        ({"tol": -0.5}, "config.hyperparameters.tol", "'tol' parameter"),
    ],
)
def test_hyperparameters_scikit_learn_refuses_are_named_before_training(
    tmp_path, hyperparameters, field, says
):
    doc = base_pipeline()
    config(doc, "n7")["hyperparameters"] = hyperparameters
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()), plan_bundle)
    assert any(p.startswith(f"node 'n7' (Model), {field}: ") and says in p for p in problems), (
        problems
    )


def test_parameters_of_library_steps_are_checked_too(tmp_path):
    doc = base_pipeline()
    doc["graph"]["nodes"].insert(6, node("s1", "smote", "Oversample", k_neighbors=0))
    doc["graph"]["edges"] = chain("n1", "n2", "n3", "n4", "n5", "n6", "s1", "n7", "n8")
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()), plan_bundle)
    assert len(problems) == 1
    assert problems[0].startswith("node 's1' (Oversample), config.k_neighbors: The 'k_neighbors'")


def test_param_grid_candidates_are_checked_too(tmp_path):
    doc = base_pipeline()
    model = find_node(doc, "n7")
    model["type"] = "hyperparameter_tuning"
    model["data"]["config"] = {
        "model_type": "random_forest_classifier",
        "param_grid": {"n_estimators": [10, -3], "max_depth": [2, 3]},
        "cv_folds": 3,
    }
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()), plan_bundle)
    assert len(problems) == 1
    assert problems[0].startswith("node 'n7' (Model), config.param_grid.n_estimators: ")
    assert "Got -3 instead" in problems[0]


@pytest.mark.parametrize(
    "extra, field, says",
    [
        ({"scoring": "bogus"}, "config.scoring", "The 'scoring' parameter of GridSearchCV"),
        ({"search": "random", "n_iter": 0}, "config.n_iter", "0 candidates"),
    ],
)
def test_search_parameters_are_checked(tmp_path, extra, field, says):
    doc = base_pipeline()
    model = find_node(doc, "n7")
    model["type"] = "hyperparameter_tuning"
    model["data"]["config"] = {
        "model_type": "logistic_regression",
        "param_grid": {"C": [0.1, 1.0]},
        "cv_folds": 3,
        **extra,
    }
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()), plan_bundle)
    assert len(problems) == 1 and problems[0].startswith(f"node 'n7' (Model), {field}: ")
    assert says in problems[0]


@pytest.mark.parametrize(
    "folds, says",
    [
        (1, "1 folds; must be 0 (no cross-validation) or at least 2"),
        (-2, "-2 folds; must be 0 (no cross-validation) or at least 2"),
        (100, "100 folds but the training split has only 45 rows"),
        (30, "30 stratified folds but no class has that many training rows (the largest has 23)"),
    ],
)
def test_cv_folds_the_training_rows_cannot_fill(tmp_path, folds, says):
    doc = base_pipeline()
    config(doc, "n7")["cv_folds"] = folds
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()), plan_bundle)
    assert problems == [f"node 'n7' (Model), config.cv_folds: {says}"]


def test_target_encoding_folds_are_checked(tmp_path):
    doc = base_pipeline()
    find_node(doc, "n5").update(type="target_encoding")
    config(doc, "n5").clear()
    config(doc, "n5").update(columns=["city"], cv=50)
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()), plan_bundle)
    assert problems == [
        "node 'n5' (One hot), config.cv: 50 folds but the training split has only 45 rows"
    ]


def split_rows(frame: pd.DataFrame, stratify: bool) -> tuple[list, list]:
    """The training and test row labels of the base pipeline's split (test_size 0.25, seed 0)."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        frame.index, test_size=0.25, random_state=0, stratify=frame["label"] if stratify else None
    )
    return sorted(train), sorted(test)


def test_missing_values_only_in_the_test_rows_are_named_before_training(tmp_path):
    frame = base_frame()
    _, test = split_rows(frame, stratify=True)
    frame["age"] = frame["age"].astype(float)
    frame.loc[test[:2], "age"] = float("nan")
    problems = problems_of(write_bundle(tmp_path, base_pipeline(), frame), plan_bundle)
    assert len(problems) == 1
    assert problems[0].startswith(
        "node 'n2' (Split): column 'age' has 2 missing value(s) in the test rows and none in "
        "the training rows"
    )


def test_missing_values_only_in_test_rows_are_fine_when_imputed_by_name(tmp_path):
    frame = base_frame()
    _, test = split_rows(frame, stratify=True)
    frame["age"] = frame["age"].astype(float)
    frame.loc[test[:2], "age"] = float("nan")
    doc = base_pipeline()
    config(doc, "n4")["columns"] = ["income", "age"]
    plan_bundle(write_bundle(tmp_path, doc, frame))


def test_a_class_only_in_the_test_rows_is_named_before_training(tmp_path):
    frame = base_frame()
    doc = base_pipeline()
    config(doc, "n2")["stratify"] = False
    _, test = split_rows(frame, stratify=False)
    frame.loc[test[0], "label"] = "maybe"
    problems = problems_of(write_bundle(tmp_path, doc, frame), plan_bundle)
    assert problems == [
        "node 'n2' (Split): class(es) 'maybe' of the target 'label' occur only in the test "
        "rows; the model cannot learn them (use stratify: true, a smaller test_size, or more "
        "rows of them)"
    ]
