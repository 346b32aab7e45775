"""Planners of the catalog category ``utility``: casts, column and duplicate drops, the split.

``feature_target_split`` is structural (no pipeline step): :func:`plan_split` plans it.
"""

from __future__ import annotations

from gitexport.columns import Frame
from gitexport.document import Node
from gitexport.plan_model import SplitPlan
from gitexport.planners import planner
from gitexport.planners.base import (
    Effect,
    PlanContext,
    fmt_cols,
    no_column,
    resolve_columns,
    row_filter_columns,
    row_filter_effect,
    transformer,
)

CAST_KINDS = {
    "int": "integer",
    "float": "float",
    "str": "string",
    "category": "string",
    "bool": "bool",
    "datetime": "datetime",
}


@planner("cast_columns")
def cast_columns(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    casts = cfg["casts"]
    for name, to in casts.items():
        if to not in CAST_KINDS:
            ctx.error(
                node,
                f"cannot cast to {to!r}; one of {', '.join(CAST_KINDS)}",
                f"config.casts.{name}",
            )
            continue
        col = frame.get(name)
        if name == ctx.target:
            ctx.error(
                node, f"column {name!r} is the target; feature nodes never touch it", "config.casts"
            )
        elif col is None:
            ctx.error(node, f"column {name!r} does not exist at this node", "config.casts")
        else:
            coerces = to in ("int", "float", "bool", "datetime")
            frame.replace_col(
                name,
                kind=CAST_KINDS[to],
                raw=False,
                train_missing=col.train_missing or coerces,
                categories=col.categories if to in ("str", "category") else None,
            )
    return Effect(
        role="stateless",
        call=transformer("CastColumns", casts=casts),
        columns=list(casts),
        auto_rule=None,
        touches=list(casts),
        training="casts " + ", ".join(f"{k!r} to {v}" for k, v in casts.items()),
        serving="the same casts",
    )


@planner("drop_duplicates")
def drop_duplicates(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    explicit = row_filter_columns(node, cfg, frame, ctx)
    return row_filter_effect(
        transformer("DropDuplicateRows", columns=explicit or None, keep=cfg["keep"]),
        explicit,
        touches=explicit,
        training=f"drops duplicate training rows (keeps the {cfg['keep']})",
    )


@planner("drop_columns")
def drop_columns(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    explicit, cols = resolve_columns(node, cfg, frame, ctx, no_column)
    frame.remove(cols)
    return Effect(
        role="stateless",
        call=transformer("DropColumns", columns=explicit),
        columns=explicit,
        auto_rule=None,
        touches=cols,
        removes=cols,
        training=f"drops {fmt_cols(cols)}",
        serving="the same",
    )


def plan_split(node: Node, cfg: dict) -> SplitPlan:
    """The train/test split of the ``feature_target_split`` node."""
    return SplitPlan(
        node_id=node.id,
        target=cfg["target"],
        test_size=cfg["test_size"],
        stratify=cfg["stratify"],
        random_state=cfg["random_state"],
    )
