"""Planners of the catalog category ``encoding``: categories become numbers.

``build_plan`` records the training categories of every raw column an encoding node reads
(the serving schema lists them); a node that refuses unseen categories says so in its effect.
"""

from __future__ import annotations

from dataclasses import replace

from gitexport.columns import Col, Frame
from gitexport.document import Node
from gitexport.plan_model import Call
from gitexport.planners import planner
from gitexport.planners.base import (
    Effect,
    PlanContext,
    StepRole,
    fmt_cols,
    new_column,
    non_numeric,
    resolve_columns,
    transformer,
)

AUTO_RULE = "every non-numeric feature column"


# What an encoder leaves of a column it rewrites: no longer raw, never missing (a missing
# value gets a code too), no categories; the caller sets the kind.
ENCODED = {"raw": False, "train_missing": False, "null_from": frozenset(), "categories": None}


def _code_columns(node: Node, frame: Frame, ctx: PlanContext, cols, suffix: str) -> list[str]:
    """Integer codes for ``cols``: in place, or as new ``<col><suffix>`` columns."""
    added = []
    for name in cols:
        if suffix:
            new = name + suffix
            coded = replace(frame.get(name), name=new, kind="integer", **ENCODED)
            new_column(node, frame, ctx, new, coded)
            added.append(new)
        else:
            frame.replace_col(name, kind="integer", **ENCODED)
    return added


def _add_encoded(
    node: Node, frame: Frame, ctx: PlanContext, src: Col, new: str, kind: str, removed
) -> None:
    """A new column of ``kind`` made from ``src``'s values, as an encoder writes it."""
    new_column(node, frame, ctx, new, Col(new, kind, src.origin, **ENCODED), removed=removed)


def _effect(role: StepRole, call: Call, explicit: list[str] | None, cols, **rest) -> Effect:
    """An encoder's effect: on the explicit columns or, without them, :data:`AUTO_RULE`'s."""
    return Effect(
        role=role,
        call=call,
        columns=explicit,
        auto_rule=None if explicit else AUTO_RULE,
        touches=cols,
        **rest,
    )


def _check_orders(node: Node, frame: Frame, ctx: PlanContext, cols, orders: dict) -> None:
    """Each given order names a column here and lists every training value of a raw column."""
    for name, order in orders.items():
        if name not in cols and frame.get(name) is None:
            ctx.error(
                node,
                f"categories given for column {name!r}, which does not exist at this node",
                "config.categories",
            )
        col = frame.get(name)
        if col is not None and col.raw and col.categories is not None:
            missing = [v for v in col.categories if v not in {str(o) for o in order}]
            if missing:
                ctx.error(
                    node,
                    f"column {name!r} has training value(s) {fmt_cols(missing)} not in the given order",
                    f"config.categories.{name}",
                )


@planner("label_encoding", "ordinal_encoding")
def integer_encoding(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    """Codes 0..k-1: of the sorted training values (label) or of a given order (ordinal)."""
    explicit, cols = resolve_columns(node, cfg, frame, ctx, non_numeric)
    ordinal = node.type == "ordinal_encoding"
    orders = (cfg["categories"] or {}) if ordinal else {}
    _check_orders(node, frame, ctx, cols, orders)
    added = _code_columns(node, frame, ctx, cols, cfg["suffix"])
    if ordinal:
        cls, order_kwargs = "OrdinalEncoderColumns", {"categories": orders or None}
        training = f"codes {fmt_cols(cols)} 0..k-1 in the given order (or sorted training values)"
        serving = "codes with the same order"
    else:
        cls, order_kwargs = "LabelEncoderColumns", {}
        training = f"learns the sorted training values of {fmt_cols(cols)} and codes them 0..k-1"
        serving = "codes with the learned values"
    call = transformer(
        cls,
        columns=explicit,
        **order_kwargs,
        suffix=cfg["suffix"],
        unknown_value=cfg["unknown_value"],
    )
    serving += f"; unseen or missing → {cfg['unknown_value']}"
    return _effect("stateful", call, explicit, cols, adds=added, training=training, serving=serving)


def _one_hot_columns(
    node: Node,
    cfg: dict,
    frame: Frame,
    ctx: PlanContext,
    *,
    drop_first: bool,
    max_categories: int | None,
) -> tuple[list[str] | None, list[str], list[str]]:
    """Replace each chosen column by its 0/1 columns; returns (explicit, chosen, added)."""
    explicit, cols = resolve_columns(node, cfg, frame, ctx, non_numeric)
    added = []
    for name in cols:
        src = frame.get(name)
        cats = list(src.categories) if src.categories is not None else None
        if cats is None:
            ctx.exact = False
            names = [f"{name}_<category>"]
        else:
            if max_categories is not None and len(cats) > max_categories:
                # keep the most frequent max_categories-1; frequencies are only known at fit time
                ctx.exact = False
                names = [f"{name}_<category>", f"{name}_infrequent"]
            else:
                names = [f"{name}_{c}" for c in (cats[1:] if drop_first else cats)]
        for new in names:
            if "<category>" in new:
                continue
            _add_encoded(node, frame, ctx, src, new, "integer", removed=cols)
        added += names
    frame.remove(cols)
    return explicit, cols, added


@planner("one_hot_encoding", "dummy_encoding")
def one_hot_encoding(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    """One 0/1 column per category; dummy encoding ignores unseen ones and never caps them."""
    dummy = node.type == "dummy_encoding"
    handle_unknown = "ignore" if dummy else cfg["handle_unknown"]
    cap = {} if dummy else {"max_categories": cfg["max_categories"]}
    explicit, cols, added = _one_hot_columns(
        node,
        cfg,
        frame,
        ctx,
        drop_first=cfg["drop_first"],
        max_categories=cap.get("max_categories"),
    )
    call = transformer(
        "OneHotEncoderColumns",
        columns=explicit,
        drop_first=cfg["drop_first"],
        handle_unknown=handle_unknown,
        **cap,
    )
    rejects = handle_unknown == "error"
    if dummy:
        dropped = " (first category dropped)" if cfg["drop_first"] else ""
        training = f"dummy-codes {fmt_cols(cols)}{dropped}"
    else:
        training = f"learns the categories of {fmt_cols(cols)} and writes one 0/1 column each"
    serving = (
        "rejects an unseen category; missing → all zeros"
        if rejects
        else "writes all zeros for an unseen or missing category"
    )
    return _effect(
        "stateful",
        call,
        explicit,
        cols,
        adds=added,
        removes=cols,
        training=training,
        serving=serving,
        rejects_unknown_categories=rejects,
    )


@planner("hash_encoding")
def hash_encoding(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    explicit, cols = resolve_columns(node, cfg, frame, ctx, non_numeric)
    added = []
    for name in cols:
        src = frame.get(name)
        for i in range(cfg["n_features"]):
            new = f"{name}_hash_{i}"
            _add_encoded(node, frame, ctx, src, new, "float", removed=cols)
            added.append(new)
    frame.remove(cols)
    return _effect(
        "stateless",
        transformer("HashEncoderColumns", columns=explicit, n_features=cfg["n_features"]),
        explicit,
        cols,
        adds=added,
        removes=cols,
        training=f"hashes {fmt_cols(cols)} into {cfg['n_features']} columns each",
        serving="the same on every request (missing hashes the empty string)",
    )


@planner("target_encoding")
def target_encoding(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    if ctx.classification and ctx.n_classes > 2:
        ctx.error(
            node,
            f"target encoding needs a binary or continuous target; {ctx.target!r} has "
            f"{ctx.n_classes} classes (multiclass target encoding is not supported)",
        )
    explicit, cols = resolve_columns(node, cfg, frame, ctx, non_numeric)
    for name in cols:
        frame.replace_col(name, kind="float", **ENCODED)
    call = transformer(
        "TargetEncoderColumns",
        columns=explicit,
        smooth=cfg["smoothing"],
        cv=cfg["cv"],
        random_state=cfg["random_state"],
        # The task decides, not the target's dtype (an int target with a gap reads as float).
        target_type="binary" if ctx.classification else "continuous",
    )
    return _effect(
        "stateful",
        call,
        explicit,
        cols,
        training=f"replaces {fmt_cols(cols)} by cross-fitted target means",
        serving="replaces each category by its learned target mean (unseen or missing → the overall mean)",
    )
