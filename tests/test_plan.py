"""Planning (``gitexport.plan`` via ``gitexport.load.plan_bundle``): SPEC semantics as schema facts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gitexport.errors import DocumentError
from gitexport.load import plan_bundle
from gitexport.plan_model import ExportPlan
from helpers import EXAMPLES, base_frame, base_pipeline, config, edge, find_node, node, write_bundle


def plan_of(tmp_path, doc, df=None, name="data.csv") -> ExportPlan:
    df = base_frame() if df is None else df
    return plan_bundle(write_bundle(tmp_path, doc, df, name=name)).plan


def plan_problems(tmp_path, doc, df=None) -> list[str]:
    with pytest.raises(DocumentError) as info:
        plan_of(tmp_path, doc, df)
    return [str(p) for p in info.value.problems]


def one_with(problems, *parts) -> bool:
    return any(all(p in line for p in parts) for line in problems)


def insert_after(doc: dict, after_id: str, new_node: dict) -> dict:
    doc["graph"]["nodes"].append(new_node)
    for e in doc["graph"]["edges"]:
        if e["source"] == after_id:
            e["source"] = new_node["id"]
    doc["graph"]["edges"].append(edge(after_id, new_node["id"]))
    return doc


def regression_doc(model_type="ridge", hyperparameters=None) -> dict:
    doc = base_pipeline()
    config(doc, "n2").update(target="price", stratify=False)
    config(doc, "n3")["columns"] = ["id", "note", "signup", "kind", "label"]
    config(doc, "n7").update(model_type=model_type, hyperparameters=hyperparameters or {})
    config(doc, "n8")["metrics"] = []
    return doc


def serving(plan: ExportPlan) -> dict:
    return {f.name: f for f in plan.serving_schema}


# --- the base plan, checked by hand -----------------------------------------------------------


def test_base_plan(tmp_path):
    df = base_frame()
    plan = plan_of(tmp_path, base_pipeline(), df)
    assert plan.problem_type == "classification"
    assert plan.target == "label"
    assert plan.classes == ["no", "yes"]
    assert plan.split.test_size == 0.25 and plan.split.random_state == 0 and plan.split.stratify
    assert plan.source.n_rows == len(df)
    # 60 rows, 25 % test → 15 test rows (train_test_split rounds the test share up)
    assert [s.node_id for s in plan.steps] == ["n3", "n4", "n5", "n6"]
    assert [s.role for s in plan.steps] == ["stateless", "stateful", "stateful", "stateful"]
    # dropped columns are gone; one-hot columns are appended in sorted category order
    assert plan.feature_columns == ["age", "income", "score", "price", "city_a", "city_b", "city_c"]
    assert plan.feature_columns_exact
    # the automatic scaler takes every numeric column reaching it (one-hot outputs included)
    assert plan.steps[3].columns is None
    assert plan.steps[3].touches == [
        "age",
        "income",
        "score",
        "price",
        "city_a",
        "city_b",
        "city_c",
    ]
    fields = serving(plan)
    assert list(fields) == [
        "age",
        "income",
        "score",
        "city",
        "price",
    ]  # raw order, only what is used
    assert fields["income"].nullable  # imputed
    assert fields["city"].nullable  # one-hot, handle_unknown: ignore → all zeros
    assert (
        not fields["age"].nullable and not fields["score"].nullable
    )  # LogisticRegression, no imputer
    assert fields["city"].categories == ["a", "b", "c"] and not fields["city"].reject_unknown
    roles = {c.name: c.role for c in plan.raw_columns}
    assert roles == {
        "id": "unused",
        "age": "feature",
        "income": "feature",
        "score": "feature",
        "city": "feature",
        "note": "unused",
        "signup": "unused",
        "kind": "unused",
        "price": "feature",
        "label": "target",
    }
    assert [c.missing_in_data for c in plan.raw_columns if c.name == "income"] == [3]
    assert plan.evaluation.metrics == ["accuracy", "f1"]
    assert plan.evaluation.positive_label is None
    assert "imbalanced-learn" not in [p.name for p in plan.packages]


# --- determinism and serialisation ----------------------------------------------------------


def test_same_document_same_plan(tmp_path):
    first = plan_of(tmp_path / "a", base_pipeline()).to_json()
    second = plan_of(tmp_path / "b", base_pipeline()).to_json()
    assert first == second
    assert str(tmp_path) not in first


@pytest.mark.parametrize("name", ["penguins", "telco_churn", "diamonds"])
def test_plan_json_round_trips_as_json(name):
    text = plan_bundle(EXAMPLES / name).plan.to_json()
    again = ExportPlan.model_validate_json(text)
    assert again.to_json() == text
    assert json.loads(text)["format"] == "gitexport-plan/1"


def _minmax_doc():
    doc = base_pipeline()
    find_node(doc, "n6")["type"] = "minmax_scaler"
    return doc


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("diamonds", id="diamonds"),
        pytest.param("penguins", id="penguins"),
        pytest.param("minmax", id="minmax"),
    ],
)
def test_plan_object_round_trips(source, tmp_path):
    plan = (
        plan_of(tmp_path, _minmax_doc())
        if source == "minmax"
        else plan_bundle(EXAMPLES / source).plan
    )
    assert ExportPlan.model_validate_json(plan.to_json()) == plan


# --- column semantics -------------------------------------------------------------------


def test_new_columns_are_appended_in_node_column_order(tmp_path):
    doc = insert_after(
        base_pipeline(), "n3", node("x1", "missing_indicator", "Flags", columns=["score", "income"])
    )
    plan = plan_of(tmp_path, doc)
    assert plan.feature_columns == [
        "age",
        "income",
        "score",
        "price",
        "score_missing",
        "income_missing",
        "city_a",
        "city_b",
        "city_c",
    ]


def test_date_parts_hash_and_binning_names(tmp_path):
    doc = base_pipeline()
    config(doc, "n3")["columns"] = ["id", "note", "kind"]
    insert_after(
        doc,
        "n3",
        node(
            "x1",
            "date_standardization",
            "Dates",
            columns=["signup"],
            extract=["month", "epoch_days"],
        ),
    )
    # unparseable dates become missing: impute the parts for LogisticRegression
    insert_after(
        doc,
        "x1",
        node("x3", "imputation", "Fill dates", columns=["signup_month", "signup_epoch_days"]),
    )
    insert_after(doc, "x3", node("x2", "binning", "Bins", columns=["age"], n_bins=3))
    find_node(doc, "n5")["type"] = "hash_encoding"
    config(doc, "n5")["n_features"] = 2
    plan = plan_of(tmp_path, doc)
    assert plan.feature_columns == [
        "age",
        "income",
        "score",
        "price",
        "signup_month",
        "signup_epoch_days",
        "age_bin",
        "city_hash_0",
        "city_hash_1",
    ]
    assert "signup" in serving(plan)  # the date parts derive from it


def test_one_hot_drop_first_and_handle_unknown_error(tmp_path):
    doc = base_pipeline()
    config(doc, "n5").update(drop_first=True, handle_unknown="error")
    plan = plan_of(tmp_path, doc)
    assert plan.feature_columns[-2:] == ["city_b", "city_c"]
    assert "city_a" not in plan.feature_columns
    city = serving(plan)["city"]
    assert city.reject_unknown and city.categories == ["a", "b", "c"]


def test_label_encoding_with_suffix_keeps_the_text_column(tmp_path):
    doc = base_pipeline()
    find_node(doc, "n5")["type"] = "label_encoding"
    config(doc, "n5")["suffix"] = "_code"
    problems = plan_problems(tmp_path, doc)
    # the original text column stays and reaches the model
    assert one_with(problems, "'n7'", "'city'")


def test_label_encoding_in_place_keeps_the_position(tmp_path):
    doc = base_pipeline()
    find_node(doc, "n5")["type"] = "label_encoding"
    plan = plan_of(tmp_path, doc)
    assert plan.feature_columns == ["age", "income", "score", "city", "price"]


def test_bool_column_is_not_numeric(tmp_path):
    df = base_frame()
    df["flag"] = [i % 3 == 0 for i in range(len(df))]
    assert df["flag"].dtype == bool
    problems = plan_problems(tmp_path, base_pipeline(), df)
    assert one_with(problems, "'n7'", "'flag'")


def test_automatic_scaler_skips_bool_columns(tmp_path):
    df = base_frame()
    df["flag"] = [i % 3 == 0 for i in range(len(df))]
    doc = insert_after(
        base_pipeline(), "n6", node("x1", "label_encoding", "Flag codes", columns=["flag"])
    )
    plan = plan_of(tmp_path, doc, df)
    scaler = next(s for s in plan.steps if s.node_id == "n6")
    assert "flag" not in scaler.touches and "age" in scaler.touches


def test_drop_columns_on_target_is_an_error(tmp_path):
    doc = base_pipeline()
    config(doc, "n3")["columns"] = ["id", "note", "signup", "kind", "label"]
    assert one_with(plan_problems(tmp_path, doc), "'n3'", "'label'", "target")


def test_cast_of_target_is_an_error(tmp_path):
    doc = insert_after(
        base_pipeline(), "n3", node("x1", "cast_columns", "Cast", casts={"label": "str"})
    )
    assert one_with(plan_problems(tmp_path, doc), "'x1'", "'label'", "target")


def test_row_filters_may_name_the_target(tmp_path):
    doc = insert_after(
        base_pipeline(), "n3", node("x1", "drop_missing_rows", "Rows", columns=["label", "age"])
    )
    insert_after(doc, "x1", node("x2", "drop_duplicates", "Dedupe", columns=["label", "age"]))
    plan = plan_of(tmp_path, doc)
    assert [s.role for s in plan.steps[1:3]] == ["row_filter", "row_filter"]
    assert "imbalanced-learn" in [p.name for p in plan.packages]


def test_smote_needs_numeric_features(tmp_path):
    doc = insert_after(base_pipeline(), "n4", node("x1", "smote", "SMOTE"))  # before one-hot
    assert one_with(plan_problems(tmp_path, doc), "'x1'", "'city'")


def test_sampler_plans_as_training_only(tmp_path):
    doc = insert_after(
        base_pipeline(), "n6", node("x1", "random_undersample", "Under", random_state=3)
    )
    plan = plan_of(tmp_path, doc)
    step = plan.steps[-1]
    assert step.role == "sampler"
    assert step.call.module == "imblearn.under_sampling" and step.call.name == "RandomUnderSampler"
    assert step.call.kwargs == {"sampling_strategy": "auto", "random_state": 3}
    assert plan.feature_columns == ["age", "income", "score", "price", "city_a", "city_b", "city_c"]


def test_ordinal_encoding_with_complete_order(tmp_path):
    doc = base_pipeline()
    find_node(doc, "n5")["type"] = "ordinal_encoding"
    config(doc, "n5")["categories"] = {"city": ["c", "b", "a"]}
    plan = plan_of(tmp_path, doc)
    assert plan.feature_columns == ["age", "income", "score", "city", "price"]


def test_box_cox_on_positive_column_is_fine(tmp_path):
    doc = insert_after(
        base_pipeline(),
        "n4",
        node("x1", "skewness_transform", "Power", columns=["price", "age"], method="box-cox"),
    )
    plan_of(tmp_path, doc)


def test_box_cox_on_zero_is_an_error(tmp_path):
    df = base_frame()
    df.loc[::2, "age"] = 0  # half the rows: the training split holds zeros for sure
    doc = insert_after(
        base_pipeline(), "n4", node("x1", "skewness_transform", columns=["age"], method="box-cox")
    )
    assert one_with(plan_problems(tmp_path, doc, df), "'x1'", "'age'", "box-cox")


def test_regex_is_compiled_with_the_case_flag(tmp_path):
    doc = base_pipeline()
    config(doc, "n3")["columns"] = ["id", "signup", "kind"]
    insert_after(
        doc,
        "n3",
        node(
            "x1",
            "regex_cleanup",
            "Clean",
            columns=["note"],
            pattern=r"(?i)note\s+#",
            case_sensitive=False,
        ),
    )
    insert_after(doc, "x1", node("x2", "drop_columns", "Drop note", columns=["note"]))
    plan = plan_of(tmp_path, doc)
    assert plan.steps[1].call.kwargs["pattern"] == r"(?i)note\s+#"


def test_column_removed_earlier_does_not_exist(tmp_path):
    doc = insert_after(
        base_pipeline(),
        "n5",
        node("x1", "imputation", "Late", columns=["note"], strategy="constant"),
    )
    assert one_with(plan_problems(tmp_path, doc), "'x1'", "'note'", "does not exist")


# --- model, evaluation ----------------------------------------------------------------


def test_regression_plan(tmp_path):
    plan = plan_of(tmp_path, regression_doc("hist_gradient_boosting_regressor"))
    assert plan.problem_type == "regression"
    assert plan.classes == []
    assert plan.evaluation.metrics == ["rmse", "mae", "r2"]  # empty = the regression defaults
    assert plan.model.allows_nan
    # HistGradientBoosting takes NaN: every serving field may be missing
    assert all(f.nullable for f in plan.serving_schema)
    assert "label" not in serving(plan)


def test_regressor_without_random_state(tmp_path):
    plan = plan_of(tmp_path, regression_doc("linear_regression"))
    assert plan.model.estimator.name == "LinearRegression"
    assert "random_state" not in plan.model.estimator.kwargs


def test_random_state_passed_and_overridable(tmp_path):
    doc = base_pipeline()
    config(doc, "n7").update(
        model_type="random_forest_classifier", random_state=5, hyperparameters={"n_estimators": 10}
    )
    assert plan_of(tmp_path / "a", doc).model.estimator.kwargs == {
        "n_estimators": 10,
        "random_state": 5,
    }
    config(doc, "n7")["hyperparameters"] = {"n_estimators": 10, "random_state": 9}
    assert plan_of(tmp_path / "b", doc).model.estimator.kwargs["random_state"] == 9


def test_default_classification_metrics(tmp_path):
    doc = base_pipeline()
    config(doc, "n8")["metrics"] = []
    assert plan_of(tmp_path, doc).evaluation.metrics == [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
    ]


def test_svc_with_probability_allows_log_loss(tmp_path):
    doc = base_pipeline()
    config(doc, "n7").update(model_type="svc", hyperparameters={"probability": True})
    config(doc, "n8")["metrics"] = ["log_loss", "roc_auc"]
    plan = plan_of(tmp_path, doc)
    assert plan.model.has_predict_proba


def test_svc_without_probability_roc_auc_is_fine(tmp_path):
    doc = base_pipeline()
    config(doc, "n7").update(model_type="svc", hyperparameters={})
    config(doc, "n8")["metrics"] = ["roc_auc"]  # uses decision_function
    assert not plan_of(tmp_path, doc).model.has_predict_proba


def test_integer_target_and_positive_label(tmp_path):
    df = base_frame()
    df["label"] = [i % 2 for i in range(len(df))]
    doc = base_pipeline()
    config(doc, "n8")["positive_label"] = 0
    plan = plan_of(tmp_path, doc, df)
    assert plan.classes == [0, 1]
    assert plan.evaluation.positive_label == 0


def test_rows_without_target_are_dropped_before_the_split(tmp_path):
    df = base_frame()
    df.loc[[0, 1, 2, 3], "label"] = np.nan
    plan = plan_of(tmp_path, base_pipeline(), df)
    assert plan.classes == ["no", "yes"]
    assert plan.source.n_rows == 60


def test_single_class_target(tmp_path):
    df = base_frame()
    df["label"] = "yes"
    config_doc = base_pipeline()
    config(config_doc, "n2")["stratify"] = False
    assert one_with(plan_problems(tmp_path, config_doc, df), "'n2'", "'label'")


def test_impossible_stratified_split_names_the_split_node(tmp_path):
    df = base_frame()
    df.loc[0, "label"] = "rare"  # one member: cannot be stratified
    problems = plan_problems(tmp_path, base_pipeline(), df)
    assert one_with(problems, "'n2'"), problems


def test_hyperparameter_tuning_plan(tmp_path):
    doc = base_pipeline()
    n7 = find_node(doc, "n7")
    n7["type"] = "hyperparameter_tuning"
    n7["data"]["config"] = {
        "model_type": "logistic_regression",
        "search": "random",
        "n_iter": 3,
        "param_grid": {"C": [0.1, 1.0, 10.0]},
        "scoring": "f1",
        "cv_folds": 3,
    }
    model = plan_of(tmp_path, doc).model
    assert model.node_type == "hyperparameter_tuning"
    assert model.search == "random" and model.n_iter == 3 and model.scoring == "f1"
    assert model.param_grid == {"C": [0.1, 1.0, 10.0]}
    assert model.cv_folds == 3


def test_empty_param_grid_candidates(tmp_path):
    doc = base_pipeline()
    n7 = find_node(doc, "n7")
    n7["type"] = "hyperparameter_tuning"
    n7["data"]["config"] = {"model_type": "logistic_regression", "param_grid": {"C": []}}
    assert one_with(plan_problems(tmp_path, doc), "'n7'", "config.param_grid.C")


# --- data sources -------------------------------------------------------------------------


def test_csv_options_are_used(tmp_path):
    df = base_frame()
    df["note"] = [f"Crème brûlée, n°{i}" for i in range(len(df))]
    doc = base_pipeline()
    doc["data_sources"][0]["options"] = {"delimiter": ";", "encoding": "latin-1"}
    bundle = write_bundle(tmp_path, doc)
    (bundle / "data").mkdir()
    df.to_csv(bundle / "data" / "data.csv", sep=";", encoding="latin-1", index=False)
    plan = plan_bundle(bundle).plan
    assert [c.name for c in plan.raw_columns] == list(df.columns)
    assert plan.source.read_options == {"sep": ";", "encoding": "latin-1"}


def test_wrong_delimiter_means_the_target_is_missing(tmp_path):
    doc = base_pipeline()
    bundle = write_bundle(tmp_path, doc)
    (bundle / "data").mkdir()
    base_frame().to_csv(bundle / "data" / "data.csv", sep=";", index=False)
    with pytest.raises(DocumentError) as info:
        plan_bundle(bundle)
    assert one_with([str(p) for p in info.value.problems], "'n2'", "'label'")


def test_unreadable_data_file(tmp_path):
    bundle = write_bundle(tmp_path, base_pipeline())
    (bundle / "data").mkdir()
    (bundle / "data" / "data.csv").write_bytes(b"")
    with pytest.raises(DocumentError) as info:
        plan_bundle(bundle)
    assert one_with([str(p) for p in info.value.problems], "ds_1", "data/data.csv")


def test_parquet_source(tmp_path):
    doc = base_pipeline()
    doc["data_sources"] = [{"id": "ds_1", "type": "parquet", "path": "data/data.parquet"}]
    plan = plan_of(tmp_path, doc, name="data.parquet")
    assert plan.source.file_format == "parquet"
    assert plan.source.read_options == {}


def test_database_secrets_never_reach_the_plan(tmp_path):
    doc = base_pipeline()
    doc["data_sources"] = [
        {
            "id": "ds_1",
            "name": "shop",
            "type": "postgres",
            "query": "SELECT * FROM customers",
            "connection": {
                "host": "db.internal",
                "port": 5432,
                "database": "shop",
                "user": "svc_user_x9",
                "password": "s3cr3t-Pa55",
            },
            "snapshot": "data/data.csv",
        }
    ]
    plan = plan_of(tmp_path, doc)
    text = plan.to_json()
    assert "s3cr3t-Pa55" not in text
    assert "svc_user_x9" not in text
    assert plan.source.type == "postgres"
    assert plan.source.query == "SELECT * FROM customers"
    assert "db.internal" not in text  # connection settings never leave the canvas
    assert plan.source.bundle_file == "data/data.csv"


def test_drop_missing_columns_threshold_is_strict_percent(tmp_path):
    df = base_frame(n=40)
    df["sparse"] = [np.nan if i < 20 else float(i) for i in range(40)]
    doc = base_pipeline()
    config(doc, "n2")["stratify"] = False
    insert_after(doc, "n3", node("x1", "drop_missing_columns", "Sparse", missing_threshold=99.0))
    insert_after(doc, "x1", node("x2", "imputation", "Fill", columns=["sparse"]))
    plan = plan_of(tmp_path, doc, df)
    assert "sparse" in plan.feature_columns  # about half missing: not above 99 %
