"""Planners of the catalog category ``data_consistency``: text, dates and regex clean-up."""

from __future__ import annotations

import re

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
    non_numeric,
    resolve_columns,
    transformer,
)


@planner("text_normalization")
def text_normalization(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    explicit, cols = resolve_columns(node, cfg, frame, ctx, non_numeric)
    for name in cols:
        frame.replace_col(name, kind="string", raw=False, categories=None)
    kwargs = {
        k: cfg[k]
        for k in ("lowercase", "strip", "collapse_whitespace", "remove_punctuation", "unicode_form")
    }
    steps = [
        f"Unicode {cfg['unicode_form']}" if cfg["unicode_form"] != "none" else None,
        "strip" if cfg["strip"] else None,
        "collapse white space" if cfg["collapse_whitespace"] else None,
        "lowercase" if cfg["lowercase"] else None,
        "remove punctuation" if cfg["remove_punctuation"] else None,
    ]
    what = ", ".join(s for s in steps if s) or "nothing"
    return Effect(
        role="stateless",
        call=transformer("TextNormalizer", columns=explicit, **kwargs),
        columns=explicit,
        auto_rule=None if explicit else "every non-numeric feature column",
        touches=cols,
        training=f"normalizes text in {fmt_cols(cols)} ({what})",
        serving="the same, on every request",
    )


@planner("date_standardization")
def date_standardization(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    explicit, cols = resolve_columns(node, cfg, frame, ctx, no_column)
    added = []
    for name in cols:
        src = frame.get(name)
        for part in cfg["extract"]:
            new = f"{name}_{part}"
            # Unparseable dates become missing: whether any do is only known at fit time.
            new_column(
                node,
                frame,
                ctx,
                new,
                Col(new, "float", src.origin, False, True, src.null_from, missing_certain=False),
            )
            added.append(new)
    removed = drop_originals(frame, cols, cfg["drop_original"])
    call = transformer(
        "DateFeatures",
        columns=explicit,
        input_format=cfg["input_format"],
        extract=list(cfg["extract"]),
        drop_original=cfg["drop_original"],
    )
    return Effect(
        role="stateless",
        call=call,
        columns=explicit,
        auto_rule=None,
        touches=cols,
        adds=added,
        removes=removed,
        training=f"parses dates in {fmt_cols(cols)} and writes {', '.join(cfg['extract'])} as float columns",
        serving="the same on every request (unparseable dates become missing)",
    )


@planner("regex_cleanup")
def regex_cleanup(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> Effect:
    try:
        re.compile(cfg["pattern"], 0 if cfg["case_sensitive"] else re.IGNORECASE)
    except re.error as exc:
        ctx.error(node, f"invalid regular expression {cfg['pattern']!r}: {exc}", "config.pattern")
    explicit, cols = resolve_columns(node, cfg, frame, ctx, no_column)
    for name in cols:
        frame.replace_col(name, kind="string", raw=False, categories=None)
    call = transformer(
        "RegexReplace",
        columns=explicit,
        pattern=cfg["pattern"],
        replacement=cfg["replacement"],
        case_sensitive=cfg["case_sensitive"],
    )
    return Effect(
        role="stateless",
        call=call,
        columns=explicit,
        auto_rule=None,
        touches=cols,
        training=f"replaces matches of {cfg['pattern']!r} in {fmt_cols(cols)}",
        serving="the same on every request",
    )
