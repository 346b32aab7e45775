"""Planners of the catalog category ``scaling``: scikit-learn scalers inside ``ColumnScaler``."""

from __future__ import annotations

from collections.abc import Callable

from gitexport.columns import Frame
from gitexport.document import Node
from gitexport.plan_model import Call
from gitexport.planners import planner
from gitexport.planners.base import (
    TRANSFORMERS,
    Effect,
    PlanContext,
    StepPlanner,
    fmt_cols,
    numeric,
    resolve_columns,
    surely_non_numeric,
)


def _scaler(cls: str, kwargs_of: Callable[[dict], dict]) -> StepPlanner:
    """The planner of a node that runs ``sklearn.preprocessing.<cls>(**kwargs_of(cfg))``."""

    def plan(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
        explicit, cols = resolve_columns(node, cfg, frame, ctx, numeric)
        for name in cols:
            col = frame.get(name)
            if surely_non_numeric(col):
                ctx.error(
                    node,
                    f"column {name!r} is not numeric ({col.kind}); a scaler needs numbers",
                    "config.columns",
                )
            frame.replace_col(name, kind="float", raw=False, categories=None)
        kwargs = kwargs_of(cfg)
        # JSON has no tuples; the generated code passes these as tuples, as sklearn documents
        tuples = [k for k in ("feature_range", "quantile_range") if k in kwargs]
        scaler = Call(module="sklearn.preprocessing", name=cls, kwargs=kwargs, tuples=tuples)
        call = Call(
            module=TRANSFORMERS, name="ColumnScaler", kwargs={"scaler": scaler, "columns": explicit}
        )
        return Effect(
            role="stateful",
            call=call,
            columns=explicit,
            auto_rule=None if explicit else "every numeric feature column",
            touches=cols,
            training=f"learns {cls} statistics of {fmt_cols(cols)} on the training rows",
            serving="scales with the learned statistics",
        )

    return plan


standard_scaler = planner("standard_scaler")(
    _scaler("StandardScaler", lambda c: {"with_mean": c["with_mean"], "with_std": c["with_std"]})
)
minmax_scaler = planner("minmax_scaler")(
    _scaler(
        "MinMaxScaler", lambda c: {"feature_range": list(c["feature_range"]), "clip": c["clip"]}
    )
)
robust_scaler = planner("robust_scaler")(
    _scaler(
        "RobustScaler",
        lambda c: {
            "quantile_range": list(c["quantile_range"]),
            "with_centering": c["with_centering"],
            "with_scaling": c["with_scaling"],
        },
    )
)
