"""The node catalog gitexport ships with (a copy of the canvas's ``node_catalog.json``).

Parameter types in the catalog are small strings (``"int"``, ``"list[str]"``,
``"float|str"``, ``"dict[str, list[float]]"`` ...); :func:`check_type` decides whether a value
matches one, strictly: a bool is not an int, a string is not a list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # document.py imports this module
    from gitexport.document import Node

CATALOG_RESOURCE = "catalog/node_catalog.json"

MODEL_TYPES = ("train_model", "hyperparameter_tuning")

CLASSIFIER_MODEL_TYPES = frozenset(
    {
        "logistic_regression",
        "random_forest_classifier",
        "gradient_boosting_classifier",
        "hist_gradient_boosting_classifier",
        "decision_tree_classifier",
        "knn_classifier",
        "svc",
    }
)


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    required: bool
    default: Any = None
    enum: tuple | None = None
    help: str = ""


@dataclass(frozen=True)
class NodeSpec:
    type: str
    category: str
    role: str
    label: str
    params: dict[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    version: str
    nodes: dict[str, NodeSpec]

    @property
    def model_types(self) -> tuple[str, ...]:
        """The ``model_type`` values of ``train_model`` (shared by tuning)."""
        return tuple(self.nodes["train_model"].params["model_type"].enum or ())


def parse_catalog(raw: dict) -> Catalog:
    nodes = {}
    for node in raw["nodes"]:
        params = {
            p["name"]: Param(
                name=p["name"],
                type=p["type"],
                required=bool(p.get("required", False)),
                default=p.get("default"),
                enum=tuple(p["enum"]) if "enum" in p else None,
                help=p.get("help", ""),
            )
            for p in node["params"]
        }
        nodes[node["type"]] = NodeSpec(
            type=node["type"],
            category=node["category"],
            role=node["role"],
            label=node["label"],
            params=params,
        )
    return Catalog(version=raw["catalog_version"], nodes=nodes)


def node_config(node: Node, catalog: Catalog) -> dict[str, Any]:
    """The node's config with the catalog's defaults filled in for the keys it leaves out."""
    spec = catalog.nodes[node.type]
    config = {name: param.default for name, param in spec.params.items()}
    config.update(node.data.config)
    return config


def catalog_text() -> str:
    return resources.files("gitexport").joinpath(CATALOG_RESOURCE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    return parse_catalog(json.loads(catalog_text()))


def _split_union(type_str: str) -> list[str]:
    """Split ``a|b`` at top level (not inside brackets)."""
    parts, depth, current = [], 0, ""
    for ch in type_str:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def check_type(value: Any, type_str: str) -> bool:
    """True when ``value`` is of the catalog type ``type_str``."""
    for option in _split_union(type_str):
        if _check_one(value, option):
            return True
    return False


def _check_one(value: Any, t: str) -> bool:
    if t == "any":
        return True
    if t == "null":
        return value is None
    if t == "str":
        return isinstance(value, str)
    if t == "bool":
        return isinstance(value, bool)
    if t == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "dict":
        return isinstance(value, dict)
    if t == "list":
        return isinstance(value, list)
    if t.startswith("list[") and t.endswith("]"):
        inner = t[5:-1]
        return isinstance(value, list) and all(check_type(v, inner) for v in value)
    if t.startswith("dict[") and t.endswith("]"):
        key_t, _, val_t = t[5:-1].partition(",")
        return isinstance(value, dict) and all(
            check_type(k, key_t.strip()) and check_type(v, val_t.strip()) for k, v in value.items()
        )
    raise ValueError(f"unknown catalog type {t!r}")
