"""Parity with the canvas: does the generated project predict what the canvas predicted?

Pure functions over frames, arrays and the plan; the training runs that feed them live in
:mod:`gitexport.build`.

A first comparison counts the canvas's reference predictions the project reproduces
(classification: identical labels, at least :data:`PARITY_CLASSIFICATION` of them;
regression: every value within a relative :data:`PARITY_REL_TOL`). Below that, the
difference may still be numerical: steps that go through BLAS or a neighbour search
(:func:`sensitive_nodes`) sum in an order that depends on the CPU and the thread count, and
ties between equally distant neighbours are broken by that order. :func:`assess_numerical`
decides it from a second run of the same project that changes only the floating-point order
(another thread count): how far the project's *own* predictions and metrics move is the
numerical spread, and the canvas's difference must lie within :data:`SPREAD_FACTOR` times it.

Why a factor of 2: the canvas's run, our run and our second run are three runs of the same
arithmetic in different orders. Counting disagreeing rows (or the largest relative
deviation) is a distance, so by the triangle inequality d(ours, canvas) <= d(ours, second) +
d(second, canvas); if the canvas's machine is no further from our second run than our two
runs are from each other, d(ours, canvas) <= 2 d(ours, second).

The metrics band: the document carries only the canvas's mean CV and test metrics, no
per-fold values, so the spread of a metric is estimated as its sampling standard error on
the rows it was measured on (sqrt(m(1-m)/n) for metrics bounded in [0, 1], |m|/sqrt(n) for
the others), or twice its own numerical move if that is larger. A float-order change is
expected to move a metric by less than the noise of the metric itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from gitexport.plan_model import ExportPlan
from gitexport.sensitivity import SensitiveNode, sensitive_nodes

PARITY_CLASSIFICATION = 0.995
PARITY_REL_TOL = 1e-6
SPREAD_FACTOR = 2.0
# What the second run changes (only the floating-point order): the BLAS and OpenMP pools.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
# Metrics whose value lies in [0, 1] (a proportion-like sampling error applies).
_BOUNDED_METRICS = frozenset(
    {"accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "average_precision"}
)
_SPLITS = ("test", "cv")

Verdict = Literal["exact", "within_tolerance", "failed"]
VERDICT_TEXT = {
    "exact": "reproduced",
    "within_tolerance": "reproduced within numerical tolerance",
    "failed": "not reproduced",
}


def thread_change(environ: dict[str, str]) -> dict[str, str]:
    """Thread settings for the second run: one thread, or two if one is already pinned."""
    pinned = [environ.get(name) for name in THREAD_VARIABLES if environ.get(name)]
    count = "2" if pinned and all(v == "1" for v in pinned) else "1"
    return dict.fromkeys(THREAD_VARIABLES, count)


# --- comparing predictions ------------------------------------------------------------------


def same_predictions(task: str, expected: pd.Series, predicted: pd.Series) -> np.ndarray:
    """Per row: is ``predicted`` the same prediction as ``expected``?"""
    if len(expected) != len(predicted):
        raise ValueError(f"{len(predicted)} predictions for {len(expected)} reference rows")
    if task == "classification":
        return predicted.astype(str).to_numpy() == expected.astype(str).to_numpy()
    return relative_deviation(expected, predicted) <= PARITY_REL_TOL


def relative_deviation(expected: pd.Series, predicted: pd.Series) -> np.ndarray:
    a = pd.to_numeric(predicted).to_numpy(dtype=float)
    b = pd.to_numeric(expected).to_numpy(dtype=float)
    return np.abs(a - b) / np.abs(b).clip(min=1e-12)


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _differences(expected: pd.Series, predicted: pd.Series, same: np.ndarray) -> list[dict]:
    return [
        {"row": i, "canvas": _plain(expected.iloc[i]), "export": _plain(predicted.iloc[i])}
        for i in [int(i) for i in (~same).nonzero()[0][:10]]
    ]


# --- the result -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricCheck:
    split: str
    name: str
    canvas: float
    reproduced: float
    band: float

    @property
    def within(self) -> bool:
        return abs(self.reproduced - self.canvas) <= self.band

    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "metric": self.name,
            "canvas": self.canvas,
            "reproduced": self.reproduced,
            "band": self.band,
            "within": self.within,
        }


@dataclass(frozen=True)
class Spread:
    """How far the project's own predictions moved when only the floating-point order did."""

    change: str  # what the second run changed, in words
    rows: int
    rows_moved: int  # reference rows whose own prediction changed
    max_deviation: float | None = None  # regression: largest relative move of a prediction
    metrics: list[MetricCheck] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.rows_moved / self.rows if self.rows else 0.0

    def to_dict(self) -> dict:
        return {
            "change": self.change,
            "rows": self.rows,
            "rows_moved": self.rows_moved,
            "share": self.share,
            "max_relative_deviation": self.max_deviation,
            "factor": SPREAD_FACTOR,
            "metrics": [m.to_dict() for m in self.metrics],
        }


@dataclass
class Parity:
    rows: int
    reproduced: int
    task: str
    first_differences: list[dict] = field(default_factory=list)
    verdict: Verdict | None = None  # None: decided by the threshold alone (exact / failed)
    sensitive_nodes: list[SensitiveNode] = field(default_factory=list)
    spread: Spread | None = None
    reason: str | None = None  # why the difference is or is not numerical

    def __post_init__(self) -> None:
        if self.verdict is None:
            self.verdict = "exact" if self.meets_threshold else "failed"

    @property
    def share(self) -> float:
        return self.reproduced / self.rows if self.rows else 1.0

    @property
    def meets_threshold(self) -> bool:
        if self.task == "classification":
            return self.share >= PARITY_CLASSIFICATION
        return self.reproduced == self.rows

    @property
    def ok(self) -> bool:
        return self.verdict in ("exact", "within_tolerance")

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "reproduced": self.reproduced,
            "share": self.share,
            "first_differences": self.first_differences,
            "verdict": self.verdict,
            "ok": self.ok,
            "description": self.describe(),
            "sensitive_nodes": [n.to_dict() for n in self.sensitive_nodes],
            "numerical_spread": None if self.spread is None else self.spread.to_dict(),
            "reason": self.reason,
        }

    def _counts(self) -> str:
        tol = "" if self.task == "classification" else f" within a relative {PARITY_REL_TOL:g}"
        return (
            f"{self.reproduced} of {self.rows} canvas predictions{tol} ({100 * self.share:.2f} %)"
        )

    def describe(self) -> str:
        """One sentence (the commit body, the CLI, the PR summary)."""
        if self.verdict == "exact":
            return f"reproduced {self._counts()}"
        text = f"{VERDICT_TEXT[self.verdict]}: {self._counts()}"
        if self.reason:
            text += f"; {self.reason}"
        return text

    def trailer(self) -> str:
        """The value of the ``Parity:`` commit trailer (one line)."""
        value = f"{self.verdict} {self.reproduced}/{self.rows}"
        if self.verdict != "exact" and self.sensitive_nodes:
            value += "; sensitive nodes " + ", ".join(n.node_id for n in self.sensitive_nodes)
        return value


def check_parity(plan: ExportPlan, reference: pd.DataFrame, predicted: pd.Series) -> Parity:
    """The first comparison: the reproduced share against the threshold."""
    expected = reference["prediction"]
    same = same_predictions(plan.problem_type, expected, predicted)
    return Parity(
        rows=len(expected),
        reproduced=int(same.sum()),
        task=plan.problem_type,
        first_differences=_differences(expected, predicted, same),
        sensitive_nodes=sensitive_nodes(plan),
    )


# --- is the difference numerical? -----------------------------------------------------------


def metric_band(name: str, value: float, rows: int, own_move: float) -> float:
    """How far a metric may lie from the canvas's and still count as the same (module doc)."""
    if rows <= 0:
        standard_error = 0.0
    elif name in _BOUNDED_METRICS and 0.0 <= value <= 1.0:
        standard_error = math.sqrt(value * (1.0 - value) / rows)
    else:
        standard_error = abs(value) / math.sqrt(rows)
    return max(SPREAD_FACTOR * abs(own_move), standard_error)


def metric_checks(canvas: dict, reproduced: dict, second: dict) -> list[MetricCheck]:
    """Every numeric metric the canvas and the project both report (test split and CV)."""
    rows = reproduced.get("rows") or {}
    counts = {"test": rows.get("test", 0), "cv": rows.get("train_after_filters", 0)}
    checks = []
    for split in _SPLITS:
        theirs = canvas.get(split) or {}
        mine = reproduced.get(split) or {}
        again = second.get(split) or {}
        for name in sorted(theirs):
            c, r = theirs[name], mine.get(name)
            if not (_number(c) and _number(r)):
                continue
            move = r - again[name] if _number(again.get(name)) else 0.0
            band = metric_band(name, float(c), int(counts[split] or 0), move)
            checks.append(MetricCheck(split, name, float(c), float(r), band))
    return checks


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def assess_numerical(
    parity: Parity,
    reference: pd.DataFrame,
    predicted: pd.Series,
    predicted_second: pd.Series,
    *,
    change: str,
    canvas_metrics: dict,
    metrics: dict,
    metrics_second: dict,
) -> Parity:
    """Decide whether a parity below the threshold is numerical (module doc); a new Parity."""
    expected = reference["prediction"]
    own_same = same_predictions(parity.task, predicted, predicted_second)
    spread = Spread(
        change=change,
        rows=len(predicted),
        rows_moved=int((~own_same).sum()),
        max_deviation=None
        if parity.task == "classification"
        else float(relative_deviation(predicted, predicted_second).max(initial=0.0)),
        metrics=metric_checks(canvas_metrics, metrics, metrics_second),
    )
    disagreeing = parity.rows - parity.reproduced
    problems = []
    if not parity.sensitive_nodes:
        problems.append(
            "no node of this pipeline goes through BLAS or a neighbour search, so the "
            "difference is not numerical"
        )
    elif spread.rows_moved == 0:
        problems.append(
            f"the project's own predictions did not move when {change}, so the difference "
            "is not numerical"
        )
    elif disagreeing > SPREAD_FACTOR * spread.rows_moved:
        problems.append(
            f"{disagreeing} rows disagree, more than {SPREAD_FACTOR:g} × the {spread.rows_moved} "
            f"rows the project's own predictions move by when {change}"
        )
    if parity.task == "regression" and spread.max_deviation is not None and not problems:
        deviation = float(relative_deviation(expected, predicted).max(initial=0.0))
        if deviation > SPREAD_FACTOR * spread.max_deviation:
            problems.append(
                f"a prediction deviates by a relative {deviation:.3g}, more than "
                f"{SPREAD_FACTOR:g} × the project's own largest move ({spread.max_deviation:.3g})"
            )
    outside = [m for m in spread.metrics if not m.within]
    if outside:
        problems.append(
            "metrics outside the canvas's band: "
            + ", ".join(
                f"{m.split} {m.name} {m.reproduced:.4f} vs {m.canvas:.4f} (± {m.band:.4f})"
                for m in outside
            )
        )
    names = ", ".join(n.name() for n in parity.sensitive_nodes)
    if problems:
        verdict: Verdict = "failed"
        reason = "; ".join(problems)
        if parity.sensitive_nodes:
            reason += f" (floating-point-sensitive nodes: {names})"
    else:
        verdict = "within_tolerance"
        reason = (
            f"the project's own predictions move on {spread.rows_moved} rows "
            f"({100 * spread.share:.2f} %) when {change}, through {names}; "
            + (
                f"{len(spread.metrics)} canvas metrics within their band"
                if spread.metrics
                else "the canvas stored no metrics to compare"
            )
        )
    return Parity(
        rows=parity.rows,
        reproduced=parity.reproduced,
        task=parity.task,
        first_differences=parity.first_differences,
        verdict=verdict,
        sensitive_nodes=parity.sensitive_nodes,
        spread=spread,
        reason=reason,
    )


def not_numerical(parity: Parity) -> Parity:
    """A parity below the threshold in a pipeline without sensitive nodes: nothing to measure."""
    return Parity(
        rows=parity.rows,
        reproduced=parity.reproduced,
        task=parity.task,
        first_differences=parity.first_differences,
        verdict="failed",
        reason="no node of this pipeline goes through BLAS or a neighbour search, so the "
        "difference is not numerical",
    )


def failure_message(parity: Parity) -> str:
    """The ParityError text: the verdict, the nodes and the first disagreeing rows."""
    lines = [f"parity check failed: {parity.describe()}"]
    lines.append("first disagreeing rows (row = position in the reference predictions):")
    lines += [
        f"  row {d['row']}: canvas {d['canvas']!r}, export {d['export']!r}"
        for d in parity.first_differences
    ]
    lines.append("(--allow-parity-drift exports anyway)")
    return "\n".join(lines)
