"""What every node planner shares: the planning context, the effect record and column helpers.

A node planner takes ``(node, cfg, frame, ctx)``: the document node, its config with the
catalog's defaults filled in, the feature frame's schema *before* the node (which it updates in
place to the schema *after* it) and the :class:`PlanContext`. It reports export errors through
``ctx.error`` and returns an :class:`Effect`, which ``build_plan`` turns into a
:class:`~gitexport.plan_model.Step`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from gitexport.columns import Col, Frame
from gitexport.document import Node
from gitexport.errors import Problem, node_where
from gitexport.plan_model import Call
from gitexport.profile import DataProfile

# Where the generated project's own transformers live (src/features/transformers.py).
TRANSFORMERS = "src.features.transformers"

StepRole = Literal["stateless", "stateful", "row_filter", "sampler"]


@dataclass
class PlanContext:
    """What node planners share while walking the chain."""

    profile: DataProfile
    target: str
    classification: bool
    n_classes: int
    problems: list[Problem] = field(default_factory=list)
    exact: bool = True  # False once a data-dependent choice may change the columns

    def error(self, node: Node, message: str, fld: str | None = None) -> None:
        self.problems.append(Problem(node_where(node.id, node.data.label, fld), message))


@dataclass(kw_only=True, frozen=True)
class Effect:
    """What one node does, as a planner sees it; ``build_plan`` makes a Step of it."""

    role: StepRole
    call: Call  # the constructor call in the generated pipeline
    columns: list[str] | None  # explicit columns, None = the automatic choice
    auto_rule: str | None  # what the automatic choice takes, in words
    touches: list[str]  # columns the node reads or rewrites
    adds: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    training: str  # what it does at training time, in words
    serving: str  # what it does at serving time, in words
    warnings: list[str] = field(default_factory=list)  # for ExportPlan.warnings
    # the node refuses categories it did not see in training (serving schema lists them)
    rejects_unknown_categories: bool = False


StepPlanner = Callable[[Node, dict[str, Any], Frame, PlanContext], Effect]


def fmt_cols(names: Iterable) -> str:
    """A short, readable list of column names for messages."""
    names = list(names)
    if not names:
        return "no column"
    shown = ", ".join(repr(n) for n in names[:6])
    return shown + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def resolve_columns(
    node: Node, cfg: dict, frame: Frame, ctx: PlanContext, auto: Callable[[Col], bool]
) -> tuple[list[str] | None, list[str]]:
    """Explicit columns (checked) or the automatic choice; returns (explicit, chosen)."""
    explicit = list(cfg.get("columns") or [])
    if explicit:
        for name in explicit:
            if name == ctx.target:
                ctx.error(
                    node,
                    f"column {name!r} is the target; feature nodes never touch it",
                    "config.columns",
                )
            elif frame.get(name) is None:
                ctx.error(
                    node,
                    f"column {name!r} does not exist at this node (columns here: {fmt_cols(frame.names())})",
                    "config.columns",
                )
        return explicit, [n for n in explicit if frame.get(n) is not None]
    return None, [c.name for c in frame.cols if auto(c)]


# A row filter without explicit columns looks at whole rows.
ALL_COLUMNS_RULE = "all columns, target included"


def row_filter_columns(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> list[str]:
    """A row filter's explicit columns, checked; the target may be one (it filters rows)."""
    explicit = list(cfg["columns"] or [])
    for name in explicit:
        if name != ctx.target and frame.get(name) is None:
            ctx.error(node, f"column {name!r} does not exist at this node", "config.columns")
    return explicit


def row_filter_effect(
    call: Call,
    explicit: list[str] | None,
    touches: list[str],
    training: str,
    auto_rule: str = ALL_COLUMNS_RULE,
) -> Effect:
    """The effect of a training-only row filter: it does nothing at serving time."""
    return Effect(
        role="row_filter",
        call=call,
        columns=explicit or None,
        auto_rule=None if explicit else auto_rule,
        touches=touches,
        training=training,
        serving="nothing (training only)",
    )


def new_column(
    node: Node, frame: Frame, ctx: PlanContext, name: str, col: Col, removed: Iterable[str] = ()
) -> None:
    """Append ``col`` to the frame; an export error when the name is taken."""
    if frame.get(name) is not None and name not in removed:
        ctx.error(node, f"would write column {name!r}, which already exists")
        return
    frame.append(col)


def drop_originals(frame: Frame, cols: list[str], drop_original: bool) -> list[str]:
    """Remove the columns new ones were derived from, when asked; returns the effect's ``removes``.

    One place for both, so that the frame and the plan cannot disagree about what went.
    """
    if not drop_original:
        return []
    frame.remove(cols)
    return cols


def transformer(name: str, **kwargs: Any) -> Call:
    """A call of one of the generated project's transformers."""
    return Call(module=TRANSFORMERS, name=name, kwargs=kwargs)


def non_numeric(c: Col) -> bool:
    return not c.numeric


def numeric(c: Col) -> bool:
    return c.numeric


def surely_non_numeric(c: Col) -> bool:
    """Known not to be a number (a column of ``unknown`` kind may still turn out numeric)."""
    return not c.numeric and c.kind != "unknown"


def check_numbers_only(
    node: Node,
    frame: Frame,
    ctx: PlanContext,
    not_numeric: Callable[[Col], str],
    missing: Callable[[Col], str] | None,
) -> None:
    """An error for each column a consumer of numbers only (a model, a sampler) cannot take.

    ``not_numeric`` and ``missing`` word the error for a column; ``missing`` is None when the
    consumer takes missing values.
    """
    for col in frame.cols:
        if surely_non_numeric(col):
            ctx.error(node, not_numeric(col))
        elif missing is not None and col.train_missing and col.missing_certain:
            ctx.error(node, missing(col))


def no_column(c: Col) -> bool:
    """The automatic choice of nodes that need explicit columns: none."""
    return False
