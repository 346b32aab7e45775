"""The packaged node catalog (``gitexport/catalog/node_catalog.json``) and ``check_type``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitexport.catalog import (
    CLASSIFIER_MODEL_TYPES,
    MODEL_TYPES,
    catalog_text,
    check_type,
    load_catalog,
)
from gitexport.planners import STRUCTURAL_ROLES, step_planners
from gitexport.planners.modeling import ESTIMATORS

PACKAGED = Path(__file__).resolve().parents[1] / "gitexport" / "catalog" / "node_catalog.json"
# the canvas's copy: shared/ sits beside the repository checkout
SHARED = Path(__file__).resolve().parents[2] / "shared" / "canvas" / "node_catalog.json"


def test_packaged_catalog_version_and_size():
    raw = json.loads(catalog_text())
    assert raw["catalog_version"] == "1.4.0"
    assert len(raw["nodes"]) == 32
    assert len({n["type"] for n in raw["nodes"]}) == 32
    catalog = load_catalog()
    assert catalog.version == "1.4.0"
    assert len(catalog.nodes) == 32


def test_packaged_catalog_is_the_file_in_the_package():
    assert json.loads(PACKAGED.read_text(encoding="utf-8")) == json.loads(catalog_text())


@pytest.mark.skipif(
    not SHARED.is_file(), reason=f"the canvas contract is not beside this checkout ({SHARED})"
)
def test_packaged_catalog_matches_the_canvas_contract():
    ours = json.loads(PACKAGED.read_text(encoding="utf-8"))
    theirs = json.loads(SHARED.read_text(encoding="utf-8"))
    if ours != theirs:
        ours_types = {n["type"]: n for n in ours["nodes"]}
        theirs_types = {n["type"]: n for n in theirs["nodes"]}
        changed = sorted(
            t for t in ours_types.keys() & theirs_types.keys() if ours_types[t] != theirs_types[t]
        )
        pytest.fail(
            "gitexport/catalog/node_catalog.json drifted from shared/canvas/node_catalog.json: "
            f"versions {ours['catalog_version']} vs {theirs['catalog_version']}, "
            f"only ours {sorted(ours_types.keys() - theirs_types.keys())}, "
            f"only theirs {sorted(theirs_types.keys() - ours_types.keys())}, changed {changed}"
        )


def test_every_node_type_is_planned():
    """Every catalog node type is either structural or has a planner."""
    structural = {"dataset", "feature_target_split", "evaluate_model", *MODEL_TYPES}
    catalog = load_catalog()
    assert {t for t, s in catalog.nodes.items() if s.role in STRUCTURAL_ROLES} == structural
    assert set(catalog.nodes) - structural == set(step_planners(catalog))


def test_every_model_type_has_an_estimator():
    model_types = set(load_catalog().model_types)
    assert model_types == set(ESTIMATORS)
    assert CLASSIFIER_MODEL_TYPES <= model_types
    # SPEC: classifiers are *_classifier, logistic_regression and svc
    assert CLASSIFIER_MODEL_TYPES == {t for t in model_types if t.endswith("_classifier")} | {
        "logistic_regression",
        "svc",
    }


def test_parameter_types_are_understood():
    for spec in load_catalog().nodes.values():
        for param in spec.params.values():
            if param.default is not None:
                assert check_type(param.default, param.type), (spec.type, param.name, param.default)
            for value in param.enum or ():
                assert check_type(value, param.type.replace("list[str]", "str")), (
                    spec.type,
                    param.name,
                )


@pytest.mark.parametrize(
    "value, type_str, ok",
    [
        (3, "int", True),
        (True, "int", False),
        (3.0, "int", False),
        (3, "float", True),
        (False, "float", False),
        (True, "bool", True),
        (1, "bool", False),
        ("x", "str", True),
        (None, "str", False),
        (None, "str|null", True),
        ("x", "str|null", True),
        (2.5, "float|str", True),
        ([], "float|str", False),
        ("abc", "list[str]", False),
        (["a", "b"], "list[str]", True),
        (["a", 1], "list[str]", False),
        ([0, 1.5], "list[float]", True),
        ({"a": [1.0, 2]}, "dict[str, list[float]]", True),
        ({"a": ["x"]}, "dict[str, list[float]]", False),
        ({"a": "b"}, "dict[str, str]", True),
        ({"a": 1}, "dict[str, str]", False),
        ({"a": [1, "x"]}, "dict[str, list]", True),
        ({"a": 1}, "dict[str, list]", False),
        ([], "dict", False),
        (object(), "any", True),
        (None, "int|null", True),
    ],
)
def test_check_type(value, type_str, ok):
    assert check_type(value, type_str) is ok


def test_check_type_rejects_unknown_type_strings():
    with pytest.raises(ValueError):
        check_type(1, "integer")


SHARED_EXAMPLES = SHARED.parent / "examples"


@pytest.mark.skipif(
    not SHARED_EXAMPLES.is_dir(),
    reason=f"the canvas examples are not beside this checkout ({SHARED_EXAMPLES})",
)
def test_packaged_examples_match_the_canvas_examples():
    ours_root = PACKAGED.parents[1] / "examples"
    ours = sorted(p.relative_to(ours_root).as_posix() for p in ours_root.rglob("*") if p.is_file())
    theirs = sorted(
        p.relative_to(SHARED_EXAMPLES).as_posix() for p in SHARED_EXAMPLES.rglob("*") if p.is_file()
    )
    assert ours == theirs
    drifted = [
        rel
        for rel in ours
        if (ours_root / rel).read_bytes() != (SHARED_EXAMPLES / rel).read_bytes()
    ]
    assert drifted == []
