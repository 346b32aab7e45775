"""Reading and validating the document (``gitexport.document``): schema, config, files."""

from __future__ import annotations

import json
import os

import pytest

from gitexport.catalog import load_catalog
from gitexport.document import Bundle, load_bundle, read_document_json
from gitexport.errors import DocumentError
from helpers import (
    EXAMPLES,
    base_frame,
    base_pipeline,
    config,
    find_node,
    make_document,
    node,
    write_bundle,
)


def problems_of(bundle) -> list[str]:
    with pytest.raises(DocumentError) as info:
        load_bundle(bundle)
    return [str(p) for p in info.value.problems]


def one_with(problems: list[str], *parts: str) -> bool:
    return any(all(p in line for p in parts) for line in problems)


# --- helpers themselves ---------------------------------------------------------------


def test_make_document_overrides_and_removes_keys():
    doc = make_document(
        [node("n1", "dataset", source_id="ds_1")], [], export={"model_node": "n1"}, results=None
    )
    assert doc["export"] == {"model_node": "n1"}
    assert "results" not in doc
    assert doc["format"] == "canvas-pipeline/1"
    assert doc["graph"]["nodes"][0]["data"]["config"] == {"source_id": "ds_1"}


def test_write_bundle_writes_document_and_data(tmp_path):
    bundle = write_bundle(tmp_path / "b", base_pipeline(), base_frame())
    assert json.loads((bundle / "pipeline.json").read_text()) == base_pipeline()
    assert (bundle / "data" / "data.csv").read_text().splitlines()[0].startswith("id,age,income")


# --- valid documents -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["penguins", "telco_churn", "diamonds"])
def test_examples_load(name):
    bundle = load_bundle(EXAMPLES / name)
    assert isinstance(bundle, Bundle)
    assert bundle.root == EXAMPLES / name
    assert bundle.warnings == []
    assert bundle.document.format == "canvas-pipeline/1"


def test_bundle_path_may_be_the_json_file(tmp_path):
    bundle = write_bundle(tmp_path, base_pipeline(), base_frame())
    loaded = load_bundle(bundle / "pipeline.json")
    assert loaded.root == bundle
    assert loaded.resolve("data/data.csv") == bundle / "data" / "data.csv"


def test_editor_extras_inside_nodes_are_accepted(tmp_path):
    doc = base_pipeline()
    n3 = find_node(doc, "n3")
    n3.update(width=150, height=40, selected=True, dragging=False)
    n3["data"]["color"] = "#fff"
    doc["graph"]["edges"][0]["animated"] = True
    load_bundle(write_bundle(tmp_path, doc, base_frame()))


def test_optional_top_level_sections(tmp_path):
    doc = base_pipeline()
    assert "export" not in doc and "results" not in doc
    bundle = load_bundle(write_bundle(tmp_path, doc, base_frame()))
    assert bundle.document.export.model_node is None
    assert bundle.document.results.reference_predictions is None


def test_unknown_top_level_key_is_a_warning_not_an_error(tmp_path):
    doc = base_pipeline()
    doc["ui_state"] = {"zoom": 2}
    bundle = load_bundle(write_bundle(tmp_path, doc, base_frame()))
    assert len(bundle.warnings) == 1
    assert "'ui_state'" in bundle.warnings[0]


def test_older_compatible_catalog_is_fine_newer_minor_warns(tmp_path):
    doc = base_pipeline()
    doc["catalog_version"] = "1.0.0"
    assert load_bundle(write_bundle(tmp_path / "a", doc, base_frame())).warnings == []
    doc["catalog_version"] = "1.5.0"
    warnings = load_bundle(write_bundle(tmp_path / "b", doc, base_frame())).warnings
    assert len(warnings) == 1 and "1.5.0" in warnings[0]


def test_config_defaults_are_not_required(tmp_path):
    # only required parameters must be present; the rest take the catalog default
    doc = base_pipeline()
    config(doc, "n2").clear()
    config(doc, "n2")["target"] = "label"
    load_bundle(write_bundle(tmp_path, doc, base_frame()))


def test_nullable_and_union_types_accept_their_values(tmp_path):
    doc = base_pipeline()
    doc["graph"]["nodes"] += [
        node("x1", "one_hot_encoding", max_categories=None),
        node("x2", "target_encoding", smoothing=2.5),
        node("x3", "target_encoding", smoothing="auto"),
        node("x4", "smote", sampling_strategy=0.5),
        node("x5", "binning", columns=["age"], strategy="custom", edges={"age": [0, 30.5, 100]}),
        node("x6", "evaluate_model", metrics=[], positive_label=1),
        node("x7", "near_miss", version=3),
        node("x8", "minmax_scaler", feature_range=[0, 1]),
    ]
    load_bundle(write_bundle(tmp_path, doc, base_frame()))


# --- broken documents (loading stage) -----------------------------------------------------


def test_malformed_json_names_line(tmp_path):
    (tmp_path / "pipeline.json").write_text('{"format": "canvas-pipeline/1",\n "graph": [}\n')
    with pytest.raises(DocumentError) as info:
        read_document_json(tmp_path)
    assert "malformed JSON" in str(info.value)
    assert "line 2" in str(info.value)


def test_not_utf8_is_a_document_error(tmp_path):
    (tmp_path / "pipeline.json").write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(DocumentError, match="UTF-8"):
        read_document_json(tmp_path)


def test_missing_document(tmp_path):
    with pytest.raises(DocumentError, match="pipeline.json"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("fmt", ["canvas-pipeline/2", "canvas_pipeline/1", "", 1])
def test_wrong_format(tmp_path, fmt):
    doc = base_pipeline()
    doc["format"] = fmt
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert one_with(problems, "format", "canvas-pipeline/1")


def test_missing_required_top_level_keys(tmp_path):
    doc = base_pipeline()
    del doc["graph"], doc["pipeline"]
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert one_with(problems, "graph", "required")
    assert one_with(problems, "pipeline", "required")


@pytest.mark.parametrize("version", ["2.0.0", "0.9.0", "one"])
def test_incompatible_catalog_version(tmp_path, version):
    doc = base_pipeline()
    doc["catalog_version"] = version
    assert one_with(
        problems_of(write_bundle(tmp_path, doc, base_frame())), "catalog_version", version
    )


def test_unknown_node_type_suggests(tmp_path):
    doc = base_pipeline()
    find_node(doc, "n5")["type"] = "one_hot_encoder"
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert one_with(
        problems, "'n5'", "(One hot)", "'one_hot_encoder'", "did you mean 'one_hot_encoding'"
    )


def test_unknown_node_type_off_the_chain_is_still_an_error(tmp_path):
    doc = base_pipeline()
    doc["graph"]["nodes"].append(node("x1", "magic_node", "Leftover"))
    assert one_with(problems_of(write_bundle(tmp_path, doc, base_frame())), "'x1'", "'magic_node'")


def test_unknown_config_key_suggests_and_lists_known(tmp_path):
    doc = base_pipeline()
    config(doc, "n4")["stratgy"] = "mean"
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert one_with(
        problems, "'n4'", "(Impute)", "config.stratgy", "did you mean 'strategy'", "n_neighbors"
    )


@pytest.mark.parametrize(
    "node_id, key, value, expected_type",
    [
        ("n7", "cv_folds", True, "int"),  # bool is not an int
        ("n7", "cv_folds", 2.0, "int"),  # float is not an int
        ("n2", "test_size", "0.2", "float"),
        ("n2", "stratify", 1, "bool"),  # int is not a bool
        ("n6", "columns", "age", "list[str]"),  # string is not a list
        ("n6", "columns", ["age", 3], "list[str]"),
        ("n7", "hyperparameters", [], "dict"),
        ("n5", "max_categories", "10", "int|null"),
    ],
)
def test_wrong_types(tmp_path, node_id, key, value, expected_type):
    doc = base_pipeline()
    config(doc, node_id)[key] = value
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert one_with(problems, f"'{node_id}'", f"config.{key}", expected_type)


@pytest.mark.parametrize(
    "node_id, key, value",
    [
        ("n4", "strategy", "average"),
        ("n5", "handle_unknown", "infrequent_if_exist"),
        ("n7", "model_type", "xgboost"),
        ("n8", "metrics", ["accuracy", "auc"]),
    ],
)
def test_enum_violations(tmp_path, node_id, key, value):
    doc = base_pipeline()
    config(doc, node_id)[key] = value
    bad = value[-1] if isinstance(value, list) else value
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert one_with(problems, f"'{node_id}'", f"config.{key}", repr(bad))


def test_tuning_model_type_must_be_a_train_model_type(tmp_path):
    doc = base_pipeline()
    n7 = find_node(doc, "n7")
    n7["type"] = "hyperparameter_tuning"
    n7["data"]["config"] = {"model_type": "xgboost", "param_grid": {"C": [1.0]}}
    assert one_with(
        problems_of(write_bundle(tmp_path, doc, base_frame())),
        "'n7'",
        "config.model_type",
        "'xgboost'",
    )


def test_required_parameters_missing(tmp_path):
    doc = base_pipeline()
    del config(doc, "n2")["target"]
    doc["graph"]["nodes"].append(node("x1", "regex_cleanup", "Clean", columns=["note"]))
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert one_with(problems, "'n2'", "config.target", "required")
    assert one_with(problems, "'x1'", "config.pattern", "required")


def test_duplicate_ids(tmp_path):
    doc = base_pipeline()
    doc["graph"]["nodes"].append(node("n3", "minmax_scaler"))
    doc["data_sources"].append(dict(doc["data_sources"][0]))
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert one_with(problems, "'n3'", "more than once")
    assert one_with(problems, "'ds_1'", "more than once")


def test_node_problem_from_the_schema_names_the_node(tmp_path):
    doc = base_pipeline()
    find_node(doc, "n4")["data"]["config"] = ["not", "a", "dict"]
    assert one_with(
        problems_of(write_bundle(tmp_path, doc, base_frame())), "'n4'", "(Impute)", "config"
    )


def test_all_problems_at_once(tmp_path):
    doc = base_pipeline()
    config(doc, "n4")["strategy"] = "average"
    config(doc, "n5")["drop_frist"] = True
    config(doc, "n6")["with_mean"] = "yes"
    doc["data_sources"][0]["path"] = "data/gone.csv"
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert len(problems) == 4, problems


# --- data sources and files ------------------------------------------------------------


def test_missing_data_file(tmp_path):
    problems = problems_of(write_bundle(tmp_path, base_pipeline()))  # no data written
    assert one_with(problems, "data_sources[0]", "data/data.csv", "not found")


@pytest.mark.parametrize(
    "path", ["../x.csv", "data/../../x.csv", "/tmp/x.csv", "C:/x.csv", "..\\x.csv", ""]
)
def test_data_path_must_stay_inside_the_bundle(tmp_path, path):
    base_frame().to_csv(tmp_path / "x.csv", index=False)  # the escaping target exists
    doc = base_pipeline()
    doc["data_sources"][0]["path"] = path
    problems = problems_of(write_bundle(tmp_path / "bundle", doc, base_frame()))
    assert one_with(problems, "data_sources[0]", "path"), problems


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_data_path_symlinked_out_of_the_bundle(tmp_path):
    outside = tmp_path / "secret.csv"
    base_frame().to_csv(outside, index=False)
    bundle = write_bundle(tmp_path / "bundle", base_pipeline())
    (bundle / "data").mkdir()
    os.symlink(outside, bundle / "data" / "data.csv")
    problems = problems_of(bundle)
    assert one_with(problems, "data_sources[0]", "data/data.csv", "inside the bundle"), problems


def test_reference_predictions_file_must_exist(tmp_path):
    doc = base_pipeline()
    doc["results"] = {
        "reference_predictions": "missing_refs.csv",
        "metrics": {"test": {"accuracy": 1.0}},
    }
    assert one_with(
        problems_of(write_bundle(tmp_path, doc, base_frame())),
        "results.reference_predictions",
        "missing_refs.csv",
    )


def test_results_metrics_split_names(tmp_path):
    doc = base_pipeline()
    doc["results"] = {"metrics": {"validation": {"accuracy": 1.0}}}
    assert one_with(
        problems_of(write_bundle(tmp_path, doc, base_frame())), "results.metrics.validation"
    )


def test_unknown_source_type(tmp_path):
    doc = base_pipeline()
    doc["data_sources"][0]["type"] = "excel"
    assert one_with(problems_of(write_bundle(tmp_path, doc, base_frame())), "data_sources[0].type")


def test_parquet_source_must_be_a_parquet_file(tmp_path):
    doc = base_pipeline()
    doc["data_sources"][0]["type"] = "parquet"
    assert one_with(
        problems_of(write_bundle(tmp_path, doc, base_frame())), "data_sources[0]", "parquet"
    )


def test_unsupported_file_extension(tmp_path):
    doc = base_pipeline()
    doc["data_sources"][0]["path"] = "data/data.xlsx"
    bundle = write_bundle(tmp_path, doc, base_frame(), name="data.xlsx")
    assert one_with(problems_of(bundle), "data_sources[0]", "data.xlsx", ".csv")


def test_database_source_needs_connection_query_and_snapshot(tmp_path):
    doc = base_pipeline()
    doc["data_sources"] = [{"id": "ds_1", "type": "postgres"}]
    problems = problems_of(write_bundle(tmp_path, doc, base_frame()))
    assert one_with(problems, "data_sources[0]", "connection")
    assert one_with(problems, "data_sources[0]", "query")
    assert one_with(problems, "data_sources[0]", "snapshot")


def test_database_source_trains_on_its_snapshot(tmp_path):
    doc = base_pipeline()
    doc["data_sources"] = [
        {
            "id": "ds_1",
            "type": "mysql",
            "query": "SELECT * FROM t",
            "connection": {
                "host": "db",
                "port": 3306,
                "database": "shop",
                "user": "u",
                "password": "p",
            },
            "snapshot": "data/data.csv",
        }
    ]
    bundle = load_bundle(write_bundle(tmp_path, doc, base_frame()))
    assert bundle.document.data_sources[0].training_file == "data/data.csv"


def test_csv_options_reject_unknown_keys(tmp_path):
    doc = base_pipeline()
    doc["data_sources"][0]["options"] = {"delimiter": ";", "quotechar": "'"}
    assert one_with(problems_of(write_bundle(tmp_path, doc, base_frame())), "quotechar")


def test_project_name_must_be_a_slug(tmp_path):
    doc = base_pipeline()
    doc["export"] = {"project_name": "My Project!"}
    assert one_with(
        problems_of(write_bundle(tmp_path, doc, base_frame())), "export.project_name", "slug"
    )


def test_catalog_is_loaded_once():
    assert load_catalog() is load_catalog()
