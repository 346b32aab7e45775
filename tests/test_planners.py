"""The planner registry (``gitexport.planners``), the effect record, hyperparameter warnings
and the project slug."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re

import pytest

from gitexport.catalog import catalog_text, load_catalog, parse_catalog
from gitexport.document import Document, Node
from gitexport.errors import DocumentError, GitexportError
from gitexport.load import plan_bundle
from gitexport.plan import MAX_SLUG_LENGTH, project_slug
from gitexport.plan_model import Call
from gitexport.planners import Effect, category_module, planner, step_planners
from gitexport.planners.modeling import ESTIMATORS, USUAL_RANGES, hyperparameter_warnings
from helpers import (
    base_frame,
    base_nodes,
    base_pipeline,
    chain,
    config,
    make_document,
    node,
    write_bundle,
)

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DISTRIBUTION_NAME = re.compile(
    r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE
)  # PEP 508


# --- the registry ---------------------------------------------------------------------------


def test_every_catalog_category_has_a_planner_module():
    categories = {spec.category for spec in load_catalog().nodes.values()}
    assert len(categories) >= 9
    for category in categories:
        assert importlib.util.find_spec(category_module(category)) is not None, category


def test_each_planner_is_registered_in_its_category_module():
    catalog = load_catalog()
    planners = step_planners(catalog)
    assert planners
    for node_type, fn in planners.items():
        assert fn.__module__ == category_module(catalog.nodes[node_type].category), node_type


def test_a_step_node_without_a_planner_names_the_module_to_register_it_in():
    raw = json.loads(catalog_text())
    raw["nodes"].append(
        {
            "type": "fancy_encoding",
            "category": "encoding",
            "role": "stateful",
            "label": "Fancy",
            "params": [],
        }
    )
    with pytest.raises(GitexportError) as info:
        step_planners(parse_catalog(raw))
    assert "'fancy_encoding'" in str(info.value)
    assert "gitexport.planners.encoding" in str(info.value)


def test_a_node_type_registered_twice_is_refused_and_the_registry_kept():
    catalog = load_catalog()
    before = step_planners(catalog)["label_encoding"]
    with pytest.raises(GitexportError, match="label_encoding"):
        planner("label_encoding")(lambda node, cfg, frame, ctx: None)
    assert step_planners(catalog)["label_encoding"] is before


def test_effect_is_keyword_only_and_frozen():
    call = Call(module="m", name="N")
    with pytest.raises(TypeError):
        Effect("stateless", call, None, None, [], [], [], "t", "s")  # type: ignore[misc]
    effect = Effect(
        role="stateless",
        call=call,
        columns=None,
        auto_rule=None,
        touches=[],
        training="t",
        serving="s",
    )
    assert (effect.adds, effect.removes, effect.warnings) == ([], [], [])
    assert effect.rejects_unknown_categories is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        effect.warnings = ["patched on afterwards"]  # type: ignore[misc]


# --- hyperparameters far outside the usual range ---------------------------------------------


def _plan(tmp_path, doc):
    return plan_bundle(write_bundle(tmp_path, doc, base_frame())).plan


def _range_warnings(plan) -> list[str]:
    return [w for w in plan.warnings if "usual range" in w]


def test_usual_ranges_name_real_estimator_parameters():
    import importlib

    params = set()
    for module, name in ESTIMATORS.values():
        params |= set(getattr(importlib.import_module(module), name)().get_params())
    assert set(USUAL_RANGES) - {"n_iter"} <= params


def test_ordinary_hyperparameters_give_no_warning(tmp_path):
    assert _range_warnings(_plan(tmp_path, base_pipeline())) == []


def test_ten_million_trees_is_a_plan_time_warning(tmp_path):
    doc = base_pipeline()
    config(doc, "n7").update(
        model_type="random_forest_classifier", hyperparameters={"n_estimators": 10**7}
    )
    warnings = _range_warnings(_plan(tmp_path, doc))
    assert len(warnings) == 1, warnings
    assert "node 'n7'" in warnings[0]
    assert "config.hyperparameters.n_estimators" in warnings[0]
    assert "10000000 is far outside the usual range of n_estimators" in warnings[0]
    assert "1 to 10000" in warnings[0]


def test_a_tuning_candidate_far_outside_the_range_is_a_warning(tmp_path):
    doc = base_pipeline()
    model = next(n for n in doc["graph"]["nodes"] if n["id"] == "n7")
    model["type"] = "hyperparameter_tuning"
    model["data"]["config"] = {
        "model_type": "logistic_regression",
        "search": "grid",
        "param_grid": {"C": [0.1, 1.0, 1e9]},
        "cv_folds": 3,
    }
    warnings = _range_warnings(_plan(tmp_path, doc))
    assert len(warnings) == 1, warnings
    assert "config.param_grid.C" in warnings[0] and "1e+09 is far outside" in warnings[0]


def test_a_huge_integer_is_shown_short():
    n7 = Node.model_validate(
        node("n7", "train_model", "Model", model_type="ridge", hyperparameters={"alpha": 10**400})
    )
    [warning] = hyperparameter_warnings(n7, n7.data.config)
    assert "about 10**400 is far outside the usual range of alpha" in warning
    assert len(warning) < 300


# --- the project slug -------------------------------------------------------------------------


def _document(name: str, **export) -> Document:
    doc = base_pipeline()
    doc["pipeline"]["name"] = name
    if export:
        doc["export"] = export
    return Document.model_validate(doc)


def test_a_ten_thousand_character_name_makes_a_short_valid_project_name(tmp_path):
    doc = base_pipeline()
    doc["pipeline"]["name"] = "Customer churn model " * 500
    first = _plan(tmp_path / "a", doc).project_name
    assert len(first) <= MAX_SLUG_LENGTH
    assert DNS_1123_LABEL.match(first) and DISTRIBUTION_NAME.match(first), first
    assert first.startswith("customer-churn-model-customer-churn-model")
    assert _plan(tmp_path / "b", doc).project_name == first


def test_long_names_differing_only_at_the_end_stay_different():
    a = project_slug(_document("x" * 300 + "a"))
    b = project_slug(_document("x" * 300 + "b"))
    assert a != b
    assert len(a) == len(b) == MAX_SLUG_LENGTH
    assert DNS_1123_LABEL.match(a) and DNS_1123_LABEL.match(b)


def test_a_cut_never_ends_in_a_hyphen_before_the_hash():
    slug = project_slug(_document("a" * 50 + " " * 20 + "b" * 50))
    assert len(slug) <= MAX_SLUG_LENGTH
    assert "--" not in slug and DNS_1123_LABEL.match(slug), slug


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Customer Churn Model!", "customer-churn-model"),
        ("a" * MAX_SLUG_LENGTH, "a" * MAX_SLUG_LENGTH),
        ("???", "pl-test"),  # nothing usable in the name: the pipeline id
    ],
)
def test_short_names_are_unchanged(name, expected):
    assert project_slug(_document(name)) == expected


def test_an_explicit_project_name_is_kept():
    assert project_slug(_document("Whatever", project_name="my.model_v2")) == "my.model_v2"


# --- planners that share one function or helper keep their own output ------------------------


def _variant(extras: list[dict], drop=("id", "note", "signup", "kind"), skip=()) -> dict:
    """The base pipeline with ``extras`` after its column drop (which drops ``drop``)."""
    nodes = [n for n in base_nodes() if n["id"] not in skip]
    nodes[2]["data"]["config"]["columns"] = list(drop)
    order = [n["id"] for n in nodes]
    nodes[3:3] = extras
    return make_document(nodes, chain(*order[:3], *(e["id"] for e in extras), *order[3:]))


def _problems(tmp_path, doc) -> list[str]:
    with pytest.raises(DocumentError) as info:
        _plan(tmp_path, doc)
    return [str(p) for p in info.value.problems]


def _step(plan, node_id: str):
    return next(s for s in plan.steps if s.node_id == node_id)


def test_label_and_ordinal_encoding_keep_their_own_calls(tmp_path):
    label = node("e1", "label_encoding", columns=["kind"], suffix="_code", unknown_value=-1)
    ordinal = node("e2", "ordinal_encoding", columns=["kind"], categories={"kind": ["z", "y", "x"]})
    plan = _plan(tmp_path, _variant([label, ordinal], drop=("id", "note", "signup")))
    first, second = _step(plan, "e1"), _step(plan, "e2")
    assert (first.call.name, list(first.call.kwargs)) == (
        "LabelEncoderColumns",
        ["columns", "suffix", "unknown_value"],
    )
    assert first.adds == ["kind_code"]
    assert first.serving == "codes with the learned values; unseen or missing → -1"
    assert second.call.name == "OrdinalEncoderColumns"
    assert list(second.call.kwargs) == ["columns", "categories", "suffix", "unknown_value"]
    assert second.call.kwargs["categories"] == {"kind": ["z", "y", "x"]}
    assert second.adds == []


def test_dummy_encoding_never_caps_nor_rejects_categories(tmp_path):
    dummy = node("e1", "dummy_encoding", columns=["kind"], drop_first=True)
    plan = _plan(tmp_path, _variant([dummy], drop=("id", "note", "signup")))
    step = _step(plan, "e1")
    assert step.call.kwargs == {"columns": ["kind"], "drop_first": True, "handle_unknown": "ignore"}
    assert step.adds == ["kind_y", "kind_z"]
    assert step.training == "dummy-codes 'kind' (first category dropped)"
    assert step.serving == "writes all zeros for an unseen or missing category"


def test_one_hot_encoding_that_refuses_unseen_categories_says_so(tmp_path):
    one_hot = node("e1", "one_hot_encoding", columns=["kind"], handle_unknown="error")
    step = _step(_plan(tmp_path, _variant([one_hot], drop=("id", "note", "signup"))), "e1")
    assert list(step.call.kwargs) == ["columns", "drop_first", "handle_unknown", "max_categories"]
    assert step.serving == "rejects an unseen category; missing → all zeros"


def test_the_model_and_a_distance_sampler_name_each_column_they_cannot_take(tmp_path):
    smote = node("s1", "smote", sampling_strategy="auto", k_neighbors=3, random_state=0)
    problems = _problems(tmp_path, _variant([smote], drop=("id", "signup", "kind")))
    assert problems[:3] == [
        "node 's1' (Smote): column 'income' may hold missing values; SMOTE cannot take them "
        "(impute first)",
        "node 's1' (Smote): column 'city' is string; SMOTE needs numeric features only "
        "(encode it first)",
        "node 's1' (Smote): column 'note' is string; SMOTE needs numeric features only "
        "(encode it first)",
    ]
    # the model: strings always, missing values only for an estimator that cannot take them
    assert [p for p in problems if p.startswith("node 'n7'")] == [
        "node 'n7' (Model): column 'note' reaches the model as string; the model needs numbers "
        "(encode, cast or drop it before the model)"
    ]


def test_row_filters_may_name_the_target_but_not_a_missing_column(tmp_path):
    dedupe = node("x1", "drop_duplicates", columns=["label", "nope"], keep="first")
    rows = node("x2", "drop_missing_rows", columns=["label", "gone"], how="any")
    assert _problems(tmp_path, _variant([dedupe, rows])) == [
        "node 'x1' (Drop Duplicates), config.columns: column 'nope' does not exist at this node",
        "node 'x2' (Drop Missing Rows), config.columns: column 'gone' does not exist at this node",
    ]
    plan = _plan(tmp_path / "ok", _variant([node("x1", "drop_duplicates", columns=[])]))
    step = _step(plan, "x1")
    assert (step.role, step.columns, step.auto_rule, step.serving) == (
        "row_filter",
        None,
        "all columns, target included",
        "nothing (training only)",
    )


def test_dropping_the_originals_of_derived_columns_removes_them_from_frame_and_step(tmp_path):
    dates = node("d1", "date_standardization", columns=["signup"], extract=["year"])
    dates["data"]["config"]["drop_original"] = True
    binned = node("b1", "binning", columns=["age"], n_bins=3, drop_original=False)
    plan = _plan(tmp_path, _variant([dates, binned], drop=("id", "note", "kind")))
    assert (_step(plan, "d1").adds, _step(plan, "d1").removes) == (["signup_year"], ["signup"])
    assert (_step(plan, "b1").adds, _step(plan, "b1").removes) == (["age_bin"], [])
    assert "signup" not in _step(plan, "b1").touches
