"""Node planners, one module per catalog category (``planners/<category>.py``).

Each module registers the planners of its category's node types with :func:`planner`, next to
the function. :func:`step_planners` imports the module of every category the catalog names and
returns the registry for the catalog's step nodes (every role but the structural ones, which
``build_plan`` handles itself: the data source, the split, the model and its evaluation).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from gitexport.catalog import Catalog
from gitexport.errors import GitexportError
from gitexport.planners.base import Effect, PlanContext, StepPlanner

__all__ = [
    "STRUCTURAL_ROLES",
    "Effect",
    "PlanContext",
    "StepPlanner",
    "planner",
    "step_planners",
]

# Catalog roles that do not become a step of the feature pipeline.
STRUCTURAL_ROLES = frozenset({"source", "split", "model", "evaluation"})

_REGISTRY: dict[str, StepPlanner] = {}


def planner(*node_types: str) -> Callable[[StepPlanner], StepPlanner]:
    """Register the decorated function as the planner of ``node_types``."""

    def register(fn: StepPlanner) -> StepPlanner:
        taken = [t for t in node_types if t in _REGISTRY]
        if taken:
            raise GitexportError(f"two planners registered for node type(s) {taken!r}")
        _REGISTRY.update(dict.fromkeys(node_types, fn))
        return fn

    return register


def category_module(category: str) -> str:
    """The module holding the planners of a catalog category."""
    return f"{__name__}.{category}"


def step_planners(catalog: Catalog) -> dict[str, StepPlanner]:
    """Node type → planner for every step node of ``catalog`` (catalog order)."""
    for category in sorted({spec.category for spec in catalog.nodes.values()}):
        importlib.import_module(category_module(category))
    steps = [t for t, spec in catalog.nodes.items() if spec.role not in STRUCTURAL_ROLES]
    missing = [t for t in steps if t not in _REGISTRY]
    if missing:
        raise GitexportError(
            f"no planner for node type(s) {', '.join(map(repr, missing))}: register one in "
            + ", ".join(sorted({category_module(catalog.nodes[t].category) for t in missing}))
        )
    return {t: _REGISTRY[t] for t in steps}
