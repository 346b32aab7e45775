"""Planners of the catalog category ``transformation``: binning, skewness, outliers."""

from __future__ import annotations

from gitexport.columns import Col, Frame
from gitexport.document import Node
from gitexport.planners import planner
from gitexport.planners.base import (
    Effect,
    PlanContext,
    drop_originals,
    fmt_cols,
    new_column,
    no_column,
    numeric,
    resolve_columns,
    row_filter_effect,
    surely_non_numeric,
    transformer,
)

NUMERIC_RULE = "every numeric feature column"


@planner("binning")
def binning(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    explicit, cols = resolve_columns(node, cfg, frame, ctx, no_column)
    added = []
    for name in cols:
        src = frame.get(name)
        if surely_non_numeric(src):
            ctx.error(node, f"column {name!r} is not numeric ({src.kind})", "config.columns")
        if cfg["strategy"] == "custom" and name not in (cfg["edges"] or {}):
            ctx.error(node, f"strategy 'custom' needs edges for column {name!r}", "config.edges")
        new = name + cfg["suffix"]
        new_column(
            node,
            frame,
            ctx,
            new,
            Col(new, "float", src.origin, False, src.train_missing, src.null_from),
            removed=cols if cfg["drop_original"] else (),
        )
        added.append(new)
    removed = drop_originals(frame, cols, cfg["drop_original"])
    call = transformer(
        "Binner",
        columns=explicit,
        n_bins=cfg["n_bins"],
        strategy=cfg["strategy"],
        edges=cfg["edges"] or None,
        suffix=cfg["suffix"],
        drop_original=cfg["drop_original"],
    )
    return Effect(
        role="stateful",
        call=call,
        columns=explicit,
        auto_rule=None,
        touches=cols,
        adds=added,
        removes=removed,
        training=f"learns {cfg['strategy']} bin edges for {fmt_cols(cols)}",
        serving="bins with the learned edges",
    )


@planner("skewness_transform")
def skewness_transform(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    explicit, cols = resolve_columns(node, cfg, frame, ctx, numeric)
    for name in cols:
        col = frame.get(name)
        if explicit is not None and surely_non_numeric(col):
            ctx.error(node, f"column {name!r} is not numeric ({col.kind})", "config.columns")
        if (
            cfg["method"] == "box-cox"
            and explicit is not None
            and col.raw
            and ctx.profile.column(name).train_min is not None
            and ctx.profile.column(name).train_min <= 0
        ):
            ctx.error(
                node,
                f"box-cox needs strictly positive values; column {name!r} has a minimum of "
                f"{ctx.profile.column(name).train_min:g} in the training rows",
                "config.method",
            )
        frame.replace_col(name, kind="float", raw=False, categories=None)
    call = transformer(
        "SkewnessTransformer", columns=explicit, method=cfg["method"], threshold=cfg["threshold"]
    )
    rule = (
        None
        if explicit
        else f"numeric feature columns whose training skewness exceeds {cfg['threshold']}"
    )
    return Effect(
        role="stateful",
        call=call,
        columns=explicit,
        auto_rule=rule,
        touches=cols,
        training=f"applies {cfg['method']} to {fmt_cols(cols) if explicit else rule}",
        serving="applies the same (learned) transform",
    )


@planner("outlier_removal")
def outlier_removal(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    """A training-only row filter (``action: drop_rows``) or a learned clipper."""
    explicit, cols = resolve_columns(node, cfg, frame, ctx, numeric)
    threshold = (
        cfg["threshold"]
        if cfg["threshold"] is not None
        else (1.5 if cfg["method"] == "iqr" else 3.0)
    )
    bounds = f"{cfg['method']} bounds (threshold {threshold:g})"
    auto_rule = None if explicit else NUMERIC_RULE
    if cfg["action"] == "drop_rows":
        return row_filter_effect(
            transformer(
                "OutlierRowFilter",
                columns=explicit,
                method=cfg["method"],
                threshold=cfg["threshold"],
            ),
            explicit,
            touches=cols,
            training=f"drops training rows outside the {bounds} of {fmt_cols(cols)}",
            auto_rule=NUMERIC_RULE,
        )
    for name in cols:
        frame.replace_col(name, kind="float", raw=False)
    return Effect(
        role="stateful",
        call=transformer(
            "OutlierClipper", columns=explicit, method=cfg["method"], threshold=cfg["threshold"]
        ),
        columns=explicit,
        auto_rule=auto_rule,
        touches=cols,
        training=f"learns the {bounds} of {fmt_cols(cols)}",
        serving="clips to the learned bounds",
    )
