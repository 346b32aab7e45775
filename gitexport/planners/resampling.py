"""Planners of the catalog category ``resampling``: imbalanced-learn samplers (training only)."""

from __future__ import annotations

from gitexport.columns import Frame
from gitexport.document import Node
from gitexport.plan_model import Call
from gitexport.planners import planner
from gitexport.planners.base import Effect, PlanContext, check_numbers_only

# node type → (module, class, the config keys passed to it)
SAMPLERS = {
    "smote": (
        "imblearn.over_sampling",
        "SMOTE",
        ("sampling_strategy", "k_neighbors", "random_state"),
    ),
    "adasyn": (
        "imblearn.over_sampling",
        "ADASYN",
        ("sampling_strategy", "n_neighbors", "random_state"),
    ),
    "random_oversample": (
        "imblearn.over_sampling",
        "RandomOverSampler",
        ("sampling_strategy", "random_state"),
    ),
    "random_undersample": (
        "imblearn.under_sampling",
        "RandomUnderSampler",
        ("sampling_strategy", "random_state"),
    ),
    "near_miss": (
        "imblearn.under_sampling",
        "NearMiss",
        ("sampling_strategy", "version", "n_neighbors"),
    ),
}
# samplers that compute distances: every feature must be a number, none missing
NEEDS_NUMERIC_SAMPLERS = {"smote", "adasyn", "near_miss"}


@planner(*SAMPLERS)
def sampler(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    module, cls, keys = SAMPLERS[node.type]
    if not ctx.classification:
        ctx.error(node, f"{node.type} resamples classes; the task is regression")
    if node.type in NEEDS_NUMERIC_SAMPLERS:
        check_numbers_only(
            node,
            frame,
            ctx,
            not_numeric=lambda col: (
                f"column {col.name!r} is {col.kind}; {cls} needs numeric features only "
                "(encode it first)"
            ),
            missing=lambda col: (
                f"column {col.name!r} may hold missing values; {cls} cannot take them "
                "(impute first)"
            ),
        )
    return Effect(
        role="sampler",
        call=Call(module=module, name=cls, kwargs={k: cfg[k] for k in keys}),
        columns=None,
        auto_rule=None,
        touches=[],
        training=f"resamples the training rows with {cls}",
        serving="nothing (training only)",
    )
