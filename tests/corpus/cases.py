"""The corpus of broken documents: each case mutates a valid base bundle into a broken one.

A case is a name, a mutation and what the error must say. The base bundle is
``helpers.base_pipeline()`` over ``helpers.base_frame()`` (target ``label``, chain
n1 dataset → n2 split → n3 drop_columns → n4 imputation(income) → n5 one_hot(city) →
n6 standard_scaler → n7 train_model(logistic_regression) → n8 evaluate_model).

``expect`` lists substrings that must all appear on **one** ``error:`` line of stderr (the
culprit: node id, field, column). ``tests/corpus/*.json`` holds static broken documents
that are not easy to express as a mutation; they are listed in ``STATIC``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from helpers import config, edge, find_node, node

CORPUS_DIR = Path(__file__).resolve().parent


@dataclass
class Broken:
    """What a mutation works on: the document, the data, the bundle folder (not written yet)."""

    doc: dict
    df: pd.DataFrame
    root: Path
    raw_text: str | None = None  # when set, written as pipeline.json instead of ``doc``


@dataclass(frozen=True)
class Case:
    name: str
    mutate: Callable[[Broken], None]
    expect: tuple[str, ...]
    extra: tuple[tuple[str, ...], ...] = field(default=())  # further lines that must appear


# --- mutation helpers -----------------------------------------------------------------------


def remove_node(doc: dict, node_id: str) -> None:
    doc["graph"]["nodes"] = [n for n in doc["graph"]["nodes"] if n["id"] != node_id]
    doc["graph"]["edges"] = [
        e for e in doc["graph"]["edges"] if node_id not in (e["source"], e["target"])
    ]


def bypass(doc: dict, node_id: str) -> None:
    """Remove a node on the chain and link its input straight to its output."""
    before = next(e["source"] for e in doc["graph"]["edges"] if e["target"] == node_id)
    after = [e["target"] for e in doc["graph"]["edges"] if e["source"] == node_id]
    remove_node(doc, node_id)
    doc["graph"]["edges"] += [edge(before, t) for t in after]


def insert_after(doc: dict, after_id: str, new_node: dict) -> None:
    """Put ``new_node`` on the chain right after ``after_id``."""
    doc["graph"]["nodes"].append(new_node)
    for e in doc["graph"]["edges"]:
        if e["source"] == after_id:
            e["source"] = new_node["id"]
    doc["graph"]["edges"].append(edge(after_id, new_node["id"]))


def regression(b: Broken) -> None:
    """Turn the base into a regression of ``price`` with ridge."""
    config(b.doc, "n2").update(target="price", stratify=False)
    config(b.doc, "n3")["columns"] = ["id", "note", "signup", "kind", "label"]
    cfg = config(b.doc, "n7")
    cfg["model_type"] = "ridge"
    cfg["hyperparameters"] = {"alpha": 1.0}
    config(b.doc, "n8")["metrics"] = ["r2", "mae"]


def _set(node_id: str, **values) -> Callable[[Broken], None]:
    return lambda b: config(b.doc, node_id).update(values)


def _top(key: str, value) -> Callable[[Broken], None]:
    return lambda b: b.doc.__setitem__(key, value)


def _source(**values) -> Callable[[Broken], None]:
    return lambda b: b.doc["data_sources"][0].update(values)


# --- the cases ---------------------------------------------------------------------------


def _cycle(b):
    b.doc["graph"]["nodes"] += [
        node("x1", "minmax_scaler", "Loop A"),
        node("x2", "robust_scaler", "Loop B"),
    ]
    b.doc["graph"]["edges"] += [edge("x1", "x2"), edge("x2", "x1")]


def _two_inputs(b):
    b.doc["graph"]["nodes"].append(node("x1", "minmax_scaler", "Side branch"))
    b.doc["graph"]["edges"] += [edge("n1", "x1"), edge("x1", "n5")]


def _dangling(b):
    b.doc["graph"]["edges"].append(edge("n6", "ghost", "e_dangle"))


def _no_model(b):
    remove_node(b.doc, "n7")
    remove_node(b.doc, "n8")


def _two_models(b):
    b.doc["graph"]["nodes"].append(
        node("x7", "train_model", "Forest", model_type="random_forest_classifier")
    )
    b.doc["graph"]["edges"].append(edge("n6", "x7"))


def _no_split(b):
    bypass(b.doc, "n2")


def _split_off_chain(b):
    # The split exists but hangs off the dataset; the chain to the model skips it.
    for e in b.doc["graph"]["edges"]:
        if e["source"] == "n2":
            e["source"] = "n1"


def _chain_broken(b):
    b.doc["graph"]["edges"] = [e for e in b.doc["graph"]["edges"] if e["target"] != "n4"]


def _required_missing(b):
    del config(b.doc, "n7")["model_type"]


def _unknown_type(b):
    find_node(b.doc, "n6")["type"] = "standard_scalar"


def _unknown_key(b):
    config(b.doc, "n5")["drop_frist"] = True


def _malformed(b):
    text = json.dumps(b.doc, indent=2)
    # a trailing comma after the last top-level member, as a hand edit would leave it
    b.raw_text = text[: text.rstrip().rfind("}")].rstrip() + ",\n}\n"


def _escape(b):
    b.doc["data_sources"][0]["path"] = "../outside.csv"
    b.root.parent.mkdir(parents=True, exist_ok=True)
    b.df.to_csv(b.root.parent / "outside.csv", index=False)


def _absolute(b):
    outside = b.root.parent / "absolute.csv"
    outside.parent.mkdir(parents=True, exist_ok=True)
    b.df.to_csv(outside, index=False)
    b.doc["data_sources"][0]["path"] = str(outside)


def _non_numeric_at_model(b):
    config(b.doc, "n3")["columns"] = ["id", "signup", "kind"]  # 'note' (text) is left


def _missing_at_model(b):
    bypass(b.doc, "n4")  # nothing imputes 'income'; LogisticRegression cannot take NaN


def _box_cox(b):
    insert_after(
        b.doc, "n4", node("x1", "skewness_transform", "Power", columns=["score"], method="box-cox")
    )


def _multiclass_target_encoding(b):
    config(b.doc, "n2")["target"] = "kind"
    config(b.doc, "n3")["columns"] = ["id", "note", "signup", "label"]
    n5 = find_node(b.doc, "n5")
    n5["type"] = "target_encoding"
    n5["data"]["config"] = {"columns": ["city"]}


def _one_hot_collision(b):
    b.df["city_a"] = 1.0


def _indicator_collision(b):
    b.df["income_missing"] = 0
    insert_after(b.doc, "n3", node("x1", "missing_indicator", "Flags", columns=["income"]))


def _invalid_regex(b):
    insert_after(
        b.doc, "n2", node("x1", "regex_cleanup", "Clean", columns=["note"], pattern="([a-z")
    )


def _log_loss_svc(b):
    cfg = config(b.doc, "n7")
    cfg["model_type"] = "svc"
    cfg["hyperparameters"] = {"C": 1.0}  # probability defaults to False
    config(b.doc, "n8")["metrics"] = ["accuracy", "log_loss"]


def _sampler_regression(b):
    regression(b)
    insert_after(b.doc, "n6", node("x1", "random_oversample", "Oversample"))


def _metric_classification_on_regression(b):
    regression(b)
    config(b.doc, "n8")["metrics"] = ["r2", "f1"]


def _regressor_on_text_target(b):
    cfg = config(b.doc, "n7")
    cfg["model_type"] = "ridge"
    cfg["hyperparameters"] = {}
    config(b.doc, "n8")["metrics"] = ["r2"]


def _duplicate_ids(b):
    b.doc["graph"]["nodes"].append(node("n6", "minmax_scaler", "Copy"))


def _ordinal_unknown_value(b):
    n5 = find_node(b.doc, "n5")
    n5["type"] = "ordinal_encoding"
    n5["data"]["config"] = {"columns": ["city"], "categories": {"city": ["a", "b"]}}


def _tuning_bad_grid(b):
    n7 = find_node(b.doc, "n7")
    n7["type"] = "hyperparameter_tuning"
    n7["data"]["config"] = {
        "model_type": "logistic_regression",
        "param_grid": {"C": [0.1, 1.0], "gamma": [1]},
    }


def _positive_label(b):
    config(b.doc, "n8")["positive_label"] = "maybe"


def _drop_duplicates_unknown(b):
    insert_after(b.doc, "n3", node("x1", "drop_duplicates", "Dedupe", columns=["note"]))


CASES: list[Case] = [
    # graph
    Case("cycle", _cycle, ("cycle", "x1", "x2")),
    Case("node_with_two_inputs", _two_inputs, ("'n5'", "incoming", "n4", "x1")),
    Case("dangling_edge", _dangling, ("e_dangle", "'ghost'")),
    Case("no_model", _no_model, ("no model node",)),
    Case("several_models_no_model_node", _two_models, ("export.model_node", "n7", "x7")),
    Case(
        "model_node_unknown", _top("export", {"model_node": "n99"}), ("export.model_node", "'n99'")
    ),
    Case(
        "model_node_not_a_model",
        _top("export", {"model_node": "n4"}),
        ("export.model_node", "'n4'", "imputation"),
    ),
    Case("no_split_before_model", _no_split, ("'n7'", "feature_target_split")),
    Case("split_off_the_chain", _split_off_chain, ("'n7'", "feature_target_split")),
    Case("chain_does_not_reach_dataset", _chain_broken, ("'n4'", "does not reach the dataset")),
    Case("duplicate_node_id", _duplicate_ids, ("'n6'", "more than once")),
    Case(
        "dataset_unknown_source",
        _set("n1", source_id="ds_nope"),
        ("'n1'", "config.source_id", "'ds_nope'"),
    ),
    # document / config
    Case(
        "required_parameter_missing", _required_missing, ("'n7'", "config.model_type", "required")
    ),
    Case(
        "unknown_node_type",
        _unknown_type,
        ("'n6'", "'standard_scalar'", "did you mean 'standard_scaler'"),
    ),
    Case(
        "unknown_config_key",
        _unknown_key,
        ("'n5'", "config.drop_frist", "did you mean 'drop_first'"),
    ),
    Case("bool_where_int", _set("n7", cv_folds=True), ("'n7'", "config.cv_folds", "int")),
    Case("string_where_list", _set("n6", columns="age"), ("'n6'", "config.columns", "list[str]")),
    Case(
        "enum_violation", _set("n4", strategy="average"), ("'n4'", "config.strategy", "'average'")
    ),
    Case("catalog_major_mismatch", _top("catalog_version", "2.0.0"), ("catalog_version", "2.0.0")),
    Case("malformed_json", _malformed, ("malformed JSON", "line")),
    Case("wrong_format", _top("format", "canvas-pipeline/2"), ("format", "canvas-pipeline/2")),
    Case(
        "missing_data_file",
        _source(path="data/nothere.csv"),
        ("data_sources[0]", "nothere.csv", "not found"),
    ),
    Case(
        "data_path_escapes_bundle",
        _escape,
        ("data_sources[0]", "'../outside.csv'", "inside the bundle"),
    ),
    Case("data_path_absolute", _absolute, ("data_sources[0]", "absolute.csv", "inside the bundle")),
    # plan / columns
    Case(
        "column_not_at_node",
        _set("n6", columns=["age", "city"]),
        ("'n6'", "config.columns", "'city'", "does not exist"),
    ),
    Case("non_numeric_reaches_model", _non_numeric_at_model, ("'n7'", "'note'")),
    Case("missing_value_reaches_model", _missing_at_model, ("'n7'", "'income'", "missing")),
    Case("box_cox_non_positive", _box_cox, ("'x1'", "'score'", "box-cox")),
    Case(
        "multiclass_target_encoding", _multiclass_target_encoding, ("'n5'", "'kind'", "3 classes")
    ),
    Case(
        "one_hot_writes_existing_column", _one_hot_collision, ("'n5'", "'city_a'", "already exists")
    ),
    Case(
        "missing_indicator_suffix_collision",
        _indicator_collision,
        ("'x1'", "'income_missing'", "already exists"),
    ),
    Case("invalid_regex", _invalid_regex, ("'x1'", "config.pattern", "([a-z")),
    Case(
        "metric_of_other_task",
        _set("n8", metrics=["accuracy", "rmse"]),
        ("'n8'", "config.metrics", "'rmse'"),
    ),
    Case(
        "metric_of_other_task_regression",
        _metric_classification_on_regression,
        ("'n8'", "config.metrics", "'f1'"),
    ),
    Case("log_loss_svc_without_probability", _log_loss_svc, ("'n8'", "log_loss", "SVC")),
    Case(
        "unknown_hyperparameter",
        _set("n7", hyperparameters={"C": 1.0, "max_iters": 10}),
        ("'n7'", "config.hyperparameters.max_iters"),
    ),
    Case("unknown_param_grid_key", _tuning_bad_grid, ("'n7'", "config.param_grid.gamma")),
    Case(
        "target_missing_from_data", _set("n2", target="churn"), ("'n2'", "config.target", "'churn'")
    ),
    Case(
        "feature_node_touches_target",
        _set("n6", columns=["age", "label"]),
        ("'n6'", "'label'", "target"),
    ),
    Case("sampler_on_regression", _sampler_regression, ("'x1'", "regression")),
    Case("regressor_on_text_target", _regressor_on_text_target, ("'n7'", "'label'", "regressor")),
    Case(
        "ordinal_value_not_in_order",
        _ordinal_unknown_value,
        ("'n5'", "config.categories.city", "'c'"),
    ),
    Case(
        "positive_label_not_a_class", _positive_label, ("'n8'", "config.positive_label", "'maybe'")
    ),
    Case(
        "row_filter_unknown_column", _drop_duplicates_unknown, ("'x1'", "'note'", "does not exist")
    ),
]

# Static documents in this folder (no data needed: they fail before the data is read).
STATIC: dict[str, tuple[str, ...]] = {
    "not_an_object.json": ("must be a JSON object",),
    "empty.json": ("malformed JSON",),
    "missing_graph.json": ("graph", "required"),
    "node_without_type.json": ("'n2'", "type", "required"),
}
