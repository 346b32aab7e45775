"""Planners of the catalog category ``missing_data``: imputation, indicators, drops."""

from __future__ import annotations

from gitexport.columns import Col, Frame
from gitexport.document import Node
from gitexport.planners import planner
from gitexport.planners.base import (
    Effect,
    PlanContext,
    fmt_cols,
    new_column,
    resolve_columns,
    row_filter_columns,
    row_filter_effect,
    surely_non_numeric,
    transformer,
)


@planner("imputation")
def imputation(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    numeric_only = cfg["strategy"] in ("mean", "median", "knn")
    explicit, cols = resolve_columns(
        node, cfg, frame, ctx, lambda c: c.train_missing and (c.numeric or not numeric_only)
    )
    if explicit is None and any(not frame.get(n).missing_certain for n in cols):
        ctx.exact = False  # which columns still miss values after a row filter is decided at fit
    knn_origin = (
        frozenset().union(*(frame.get(n).origin for n in cols))
        if cols and cfg["strategy"] == "knn"
        else None
    )
    for name in cols:
        col = frame.get(name)
        if numeric_only and surely_non_numeric(col):
            ctx.error(
                node,
                f"strategy {cfg['strategy']!r} needs numeric columns; {name!r} is {col.kind}",
                "config.strategy",
            )
        # An automatic choice after a row filter may not take this column after all: then a
        # null at serving time is not certain to be filled, and the column stays required.
        handled = explicit is not None or col.missing_certain
        frame.replace_col(
            name,
            train_missing=False,
            raw=False,
            origin=knn_origin or col.origin,
            null_from=frozenset() if handled else col.null_from,
        )
    call = transformer(
        "ColumnImputer",
        columns=explicit,
        strategy=cfg["strategy"],
        fill_value=cfg["fill_value"],
        n_neighbors=cfg["n_neighbors"],
    )
    what = (
        f"{cfg['n_neighbors']}-nearest-neighbour" if cfg["strategy"] == "knn" else cfg["strategy"]
    )
    rule = (
        None
        if explicit
        else ("numeric feature columns" if numeric_only else "feature columns")
        + " with a missing value in the training rows"
    )
    return Effect(
        role="stateful",
        call=call,
        columns=explicit,
        auto_rule=rule,
        touches=cols,
        training=f"learns {what} fill values for {fmt_cols(cols)}",
        serving="fills missing values with them",
    )


@planner("drop_missing_columns")
def drop_missing_columns(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    threshold = cfg["missing_threshold"]
    dropped = []
    for col in frame.cols:
        if col.raw and col.name in {c.name for c in ctx.profile.columns}:
            prof = ctx.profile.column(col.name)
            share = 100.0 * prof.missing_in_train / max(ctx.profile.n_train, 1)
            if share > threshold:
                dropped.append(col.name)
        elif col.train_missing:
            ctx.exact = False
    frame.remove(dropped)
    stated = list(cfg["columns"] or [])
    warnings = []
    if stated and sorted(stated) != sorted(dropped):
        warnings.append(
            f"canvas dropped {fmt_cols(stated)}, the export expects to drop {fmt_cols(dropped)}"
        )
    return Effect(
        role="stateful",
        call=transformer("DropMissingColumns", missing_threshold=threshold),
        columns=None,
        auto_rule=f"feature columns with more than {threshold:g}% missing training values",
        touches=dropped,
        removes=dropped,
        training=f"drops columns with more than {threshold:g}% missing training values (expected: {fmt_cols(dropped)})",
        serving="drops the same columns",
        warnings=warnings,
    )


@planner("missing_indicator")
def missing_indicator(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    explicit, cols = resolve_columns(node, cfg, frame, ctx, lambda c: c.train_missing)
    if explicit is None and any(not frame.get(n).missing_certain for n in cols):
        ctx.exact = False
    added = []
    for name in cols:
        src = frame.get(name)
        new = name + cfg["suffix"]
        new_column(
            node, frame, ctx, new, Col(new, "integer", src.origin, False, False, frozenset())
        )
        added.append(new)
    return Effect(
        role="stateful",
        call=transformer("MissingIndicatorColumns", columns=explicit, suffix=cfg["suffix"]),
        columns=explicit,
        auto_rule=None if explicit else "feature columns with a missing value in the training rows",
        touches=cols,
        adds=added,
        training=f"adds a 0/1 missing-value flag for {fmt_cols(cols)}",
        serving="the same flags",
    )


@planner("drop_missing_rows")
def drop_missing_rows(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    explicit = row_filter_columns(node, cfg, frame, ctx)
    cols = explicit or frame.names()
    if cfg["how"] == "any" or len(cols) == 1:
        for name in cols:
            if frame.get(name) is not None:
                frame.replace_col(name, train_missing=False)
    which = fmt_cols(cols) if explicit else "their values"
    return row_filter_effect(
        transformer("DropMissingRows", columns=explicit or None, how=cfg["how"]),
        explicit,
        touches=[c for c in cols if c != ctx.target],
        training=f"drops training rows missing {cfg['how']} of {which}",
    )
