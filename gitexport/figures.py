"""The model's figures as small hand-written SVG (pure, byte-deterministic, no matplotlib).

They are committed under ``reports/figures/`` with every export, so that a pull request can
show them (linked by commit SHA) and ``reports/model_report.html`` can inline them. The
same metrics always give the same bytes: numbers are written with fixed precision, nothing
depends on time, locale, dict order of the input or random ids.

What each figure is drawn from (``models/metrics.json``, written by the generated training):

* ``confusion_matrix.svg``: ``test.confusion_matrix`` (rows/columns in sorted class order,
  the plan's ``classes``);
* ``metrics.svg``: the scores in [0, 1] (accuracy, f1, r2, …) of train, test and cv;
* ``feature_importances.svg``: ``feature_importances`` (``{feature: weight}``), when the
  training records it;
* ``predicted_vs_actual.svg`` and ``residuals.svg`` (regression): ``test_predictions``
  (``{"actual": [...], "predicted": [...]}``), when recorded;
* ``roc_curve.svg`` (binary classification): ``roc_curve`` (``{"fpr": [...], "tpr": [...]}``),
  when recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

FIGURES_DIR = "reports/figures"

# File name → what a reader calls it; also the order in which figures are shown.
FIGURE_TITLES = {
    "confusion_matrix.svg": "Confusion matrix (test)",
    "roc_curve.svg": "ROC curve (test)",
    "predicted_vs_actual.svg": "Predicted vs actual (test)",
    "residuals.svg": "Residuals (test)",
    "feature_importances.svg": "Feature importances",
    "metrics.svg": "Scores by split",
}

# Scores on a 0..1 scale, the only ones that share an axis.
UNIT_SCORES = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "r2")
MAX_BARS = 20  # feature importances: the strongest ones
MAX_POINTS = 500  # scatter plots: evenly spaced rows beyond this
MAX_CLASSES = 30  # a bigger confusion matrix is unreadable as a picture

FONT = "font-family='Helvetica,Arial,sans-serif'"
INK = "#222222"
GRID = "#dddddd"
SERIES = ("#4c72b0", "#dd8452", "#55a868")  # train, test, cv


def _n(value: float) -> str:
    """A coordinate with fixed precision (and no ``-0``)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _label(value: object, limit: int = 28) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _text(
    x: float, y: float, content: str, *, size: int = 12, anchor: str = "start", **attrs
) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(str(v))}" for k, v in sorted(attrs.items()))
    return (
        f"<text x='{_n(x)}' y='{_n(y)}' font-size='{size}' text-anchor='{anchor}'"
        f" fill='{INK}'{extra}>{content}</text>"
    )


def _svg(width: float, height: float, title: str, body: list[str]) -> bytes:
    head = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_n(width)}' height='{_n(height)}'"
        f" viewBox='0 0 {_n(width)} {_n(height)}' {FONT} role='img'>"
    )
    lines = [
        head,
        f"<title>{escape(title)}</title>",
        f"<rect width='{_n(width)}' height='{_n(height)}' fill='#ffffff'/>",
        _text(width / 2, 22, escape(title), size=15, anchor="middle", font_weight="bold"),
        *body,
        "</svg>",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _finite(values: Sequence) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            return []
        if not math.isfinite(f):
            return []
        out.append(f)
    return out


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (count - 1) for i in range(count)]


def _tick_label(value: float, span: float) -> str:
    if span >= 100:
        return f"{value:,.0f}"
    if span >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


# --------------------------------------------------------------------------- figures


def confusion_matrix_svg(matrix: Sequence[Sequence], labels: Sequence, title: str) -> bytes:
    """Counts in a grid, darker for more; rows are the true class, columns the predicted."""
    n = len(matrix)
    if n == 0 or any(len(row) != n for row in matrix):
        raise ValueError("a confusion matrix must be square and not empty")
    names = [str(x) for x in labels] if len(labels) == n else [str(i) for i in range(n)]
    cell = max(24.0, min(60.0, 360.0 / n))
    left, top = 130.0, 60.0
    width, height = left + cell * n + 30, top + cell * n + 60
    peak = max(max(int(v) for v in row) for row in matrix) or 1
    body = []
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            count = int(value)
            shade = count / peak
            # White to a blue, in integer RGB steps: the same counts give the same bytes.
            rgb = tuple(round(255 - shade * (255 - c)) for c in (44, 94, 160))
            fill = "#{:02x}{:02x}{:02x}".format(*rgb)
            x, y = left + j * cell, top + i * cell
            body.append(
                f"<rect x='{_n(x)}' y='{_n(y)}' width='{_n(cell)}' height='{_n(cell)}'"
                f" fill='{fill}' stroke='#ffffff'/>"
            )
            colour = "#ffffff" if shade > 0.55 else INK
            size = 12 if cell >= 36 else 9
            body.append(
                f"<text x='{_n(x + cell / 2)}' y='{_n(y + cell / 2 + 4)}' font-size='{size}'"
                f" text-anchor='middle' fill='{colour}'>{count}</text>"
            )
    for k, name in enumerate(names):
        body.append(
            _text(left - 6, top + k * cell + cell / 2 + 4, _label(name, 18), size=11, anchor="end")
        )
        cx, cy = left + k * cell + cell / 2, top + n * cell + 14
        body.append(
            f"<text x='{_n(cx)}' y='{_n(cy)}' font-size='11' text-anchor='end' fill='{INK}'"
            f" transform='rotate(-30 {_n(cx)} {_n(cy)})'>{_label(name, 18)}</text>"
        )
    body.append(_text(12, top - 10, "true ↓ / predicted →", size=11))
    return _svg(width, height, title, body)


def bar_chart_svg(bars: Sequence[tuple[str, float]], title: str, *, unit: bool = False) -> bytes:
    """Horizontal bars, one per (label, value); ``unit`` fixes the axis to 0..1."""
    if not bars:
        raise ValueError("a bar chart needs at least one bar")
    values = [v for _, v in bars]
    lo = 0.0 if unit else min(0.0, min(values))
    hi = 1.0 if unit else max(0.0, max(values))
    hi = hi if hi > lo else lo + 1.0
    left, top, plot_w, bar_h = 190.0, 44.0, 360.0, 18.0
    height = top + len(bars) * (bar_h + 6) + 40
    width = left + plot_w + 70

    def x_of(v: float) -> float:
        return left + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w

    body = []
    for t in _ticks(lo, hi):
        x = x_of(t)
        body.append(
            f"<line x1='{_n(x)}' y1='{_n(top - 4)}' x2='{_n(x)}' y2='{_n(height - 34)}'"
            f" stroke='{GRID}'/>"
        )
        body.append(_text(x, height - 20, _tick_label(t, hi - lo), size=10, anchor="middle"))
    zero = x_of(0.0)
    if lo < 0:  # negative weights: the zero line tells the two sides apart
        body.append(
            f"<line x1='{_n(zero)}' y1='{_n(top - 4)}' x2='{_n(zero)}' y2='{_n(height - 34)}'"
            f" stroke='{INK}'/>"
        )
    for k, (name, value) in enumerate(bars):
        y = top + k * (bar_h + 6)
        x0, x1 = sorted((zero, x_of(value)))
        body.append(
            f"<rect x='{_n(x0)}' y='{_n(y)}' width='{_n(max(x1 - x0, 0.5))}'"
            f" height='{_n(bar_h)}' fill='{SERIES[0]}'/>"
        )
        body.append(_text(left - 6, y + bar_h - 4, _label(name), size=11, anchor="end"))
        body.append(_text(max(x1, zero) + 4, y + bar_h - 4, f"{value:.4f}", size=10))
    return _svg(width, height, title, body)


def grouped_scores_svg(scores: Mapping[str, Mapping[str, float]], title: str) -> bytes:
    """Scores in [0, 1], one group per metric and one bar per split (train, test, cv)."""
    splits = [s for s in ("train", "test", "cv") if scores.get(s)]
    names = [m for m in UNIT_SCORES if any(m in scores[s] for s in splits)]
    if not names:
        raise ValueError("no score in [0, 1] to draw")
    left, top, plot_w, bar_h = 150.0, 64.0, 360.0, 12.0
    group_h = bar_h * len(splits) + 10
    height = top + group_h * len(names) + 40
    width = left + plot_w + 70
    body = []
    for k, split in enumerate(splits):
        x = left + k * 90
        body.append(
            f"<rect x='{_n(x)}' y='34' width='12' height='12' fill='{SERIES[k % len(SERIES)]}'/>"
        )
        body.append(_text(x + 16, 44, split, size=11))
    for t in _ticks(0.0, 1.0):
        x = left + t * plot_w
        body.append(
            f"<line x1='{_n(x)}' y1='{_n(top - 4)}' x2='{_n(x)}' y2='{_n(height - 34)}'"
            f" stroke='{GRID}'/>"
        )
        body.append(_text(x, height - 20, f"{t:.2f}", size=10, anchor="middle"))
    for g, name in enumerate(names):
        y0 = top + g * group_h
        body.append(_text(left - 6, y0 + group_h / 2, _label(name), size=11, anchor="end"))
        for k, split in enumerate(splits):
            value = scores[split].get(name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                continue
            y = y0 + k * bar_h
            w = min(max(float(value), 0.0), 1.0) * plot_w
            body.append(
                f"<rect x='{_n(left)}' y='{_n(y)}' width='{_n(max(w, 0.5))}'"
                f" height='{_n(bar_h - 2)}' fill='{SERIES[k % len(SERIES)]}'/>"
            )
            body.append(_text(left + w + 4, y + bar_h - 3, f"{value:.4f}", size=9))
    return _svg(width, height, title, body)


def scatter_svg(
    xs: Sequence[float],
    ys: Sequence[float],
    title: str,
    *,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    zero_line: bool = False,
) -> bytes:
    """Points (evenly thinned to :data:`MAX_POINTS`), with y = x or y = 0 as a guide."""
    if not xs or len(xs) != len(ys):
        raise ValueError("a scatter plot needs as many x as y values, at least one")
    step = max(1, math.ceil(len(xs) / MAX_POINTS))
    xs, ys = list(xs)[::step], list(ys)[::step]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    if diagonal:  # the same scale on both axes, so that y = x is the diagonal
        x_lo = y_lo = min(x_lo, y_lo)
        x_hi = y_hi = max(x_hi, y_hi)
    if zero_line:
        y_lo, y_hi = min(y_lo, 0.0), max(y_hi, 0.0)
    x_hi = x_hi if x_hi > x_lo else x_lo + 1.0
    y_hi = y_hi if y_hi > y_lo else y_lo + 1.0
    left, top, size = 70.0, 40.0, 320.0
    width, height = left + size + 30, top + size + 50

    def px(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * size

    def py(v: float) -> float:
        return top + size - (v - y_lo) / (y_hi - y_lo) * size

    body = [
        f"<rect x='{_n(left)}' y='{_n(top)}' width='{_n(size)}' height='{_n(size)}'"
        f" fill='none' stroke='{GRID}'/>"
    ]
    for t in _ticks(x_lo, x_hi):
        body.append(
            _text(px(t), top + size + 16, _tick_label(t, x_hi - x_lo), size=10, anchor="middle")
        )
    for t in _ticks(y_lo, y_hi):
        body.append(_text(left - 6, py(t) + 4, _tick_label(t, y_hi - y_lo), size=10, anchor="end"))
    if diagonal:
        body.append(
            f"<line x1='{_n(px(x_lo))}' y1='{_n(py(y_lo))}' x2='{_n(px(x_hi))}'"
            f" y2='{_n(py(y_hi))}' stroke='#999999' stroke-dasharray='4 3'/>"
        )
    if zero_line:
        body.append(
            f"<line x1='{_n(left)}' y1='{_n(py(0.0))}' x2='{_n(left + size)}' y2='{_n(py(0.0))}'"
            " stroke='#999999' stroke-dasharray='4 3'/>"
        )
    for x, y in zip(xs, ys, strict=True):
        body.append(
            f"<circle cx='{_n(px(x))}' cy='{_n(py(y))}' r='2.5' fill='{SERIES[0]}'"
            " fill-opacity='0.6'/>"
        )
    body.append(_text(left + size / 2, height - 10, escape(x_label), size=11, anchor="middle"))
    cy = top + size / 2
    body.append(
        f"<text x='16' y='{_n(cy)}' font-size='11' text-anchor='middle' fill='{INK}'"
        f" transform='rotate(-90 16 {_n(cy)})'>{escape(y_label)}</text>"
    )
    return _svg(width, height, title, body)


def roc_curve_svg(fpr: Sequence[float], tpr: Sequence[float], title: str) -> bytes:
    """The ROC curve as a polyline over the unit square, with the chance diagonal."""
    if not fpr or len(fpr) != len(tpr):
        raise ValueError("a ROC curve needs as many false as true positive rates")
    left, top, size = 60.0, 40.0, 320.0
    width, height = left + size + 30, top + size + 50
    points = " ".join(
        f"{_n(left + min(max(f, 0.0), 1.0) * size)},{_n(top + size - min(max(t, 0.0), 1.0) * size)}"
        for f, t in zip(fpr, tpr, strict=True)
    )
    body = [
        f"<rect x='{_n(left)}' y='{_n(top)}' width='{_n(size)}' height='{_n(size)}'"
        f" fill='none' stroke='{GRID}'/>",
        f"<line x1='{_n(left)}' y1='{_n(top + size)}' x2='{_n(left + size)}' y2='{_n(top)}'"
        " stroke='#999999' stroke-dasharray='4 3'/>",
        f"<polyline points='{points}' fill='none' stroke='{SERIES[0]}' stroke-width='2'/>",
    ]
    for t in _ticks(0.0, 1.0):
        body.append(_text(left + t * size, top + size + 16, f"{t:.2f}", size=10, anchor="middle"))
        body.append(_text(left - 6, top + size - t * size + 4, f"{t:.2f}", size=10, anchor="end"))
    body.append(
        _text(left + size / 2, height - 10, "false positive rate", size=11, anchor="middle")
    )
    cy = top + size / 2
    body.append(
        f"<text x='14' y='{_n(cy)}' font-size='11' text-anchor='middle' fill='{INK}'"
        f" transform='rotate(-90 14 {_n(cy)})'>true positive rate</text>"
    )
    return _svg(width, height, title, body)


# --------------------------------------------------------------------------- from metrics


def _importances(raw) -> list[tuple[str, float]]:
    pairs = raw.items() if isinstance(raw, Mapping) else raw if isinstance(raw, list) else []
    out = []
    for item in pairs:
        if isinstance(item, list | tuple) and len(item) == 2:
            value = _finite([item[1]])
            if value:
                out.append((str(item[0]), value[0]))
    # Strongest first (by magnitude: a linear model's negative weights count); ties by name.
    out.sort(key=lambda p: (-abs(p[1]), p[0]))
    return out[:MAX_BARS]


def project_figures(metrics: Mapping, *, problem_type: str, classes: Sequence) -> dict[str, bytes]:
    """``reports/figures/<name>.svg`` → SVG bytes, for every figure the metrics allow."""
    out: dict[str, bytes] = {}
    test = metrics.get("test") or {}
    matrix = test.get("confusion_matrix")
    if (
        problem_type == "classification"
        and isinstance(matrix, list)
        and 0 < len(matrix) <= MAX_CLASSES
    ):
        out["confusion_matrix.svg"] = confusion_matrix_svg(
            matrix, classes, FIGURE_TITLES["confusion_matrix.svg"]
        )
    roc = metrics.get("roc_curve")
    if problem_type == "classification" and isinstance(roc, Mapping):
        fpr, tpr = _finite(roc.get("fpr") or []), _finite(roc.get("tpr") or [])
        if fpr and len(fpr) == len(tpr):
            out["roc_curve.svg"] = roc_curve_svg(fpr, tpr, FIGURE_TITLES["roc_curve.svg"])
    predictions = metrics.get("test_predictions")
    if problem_type == "regression" and isinstance(predictions, Mapping):
        actual = _finite(predictions.get("actual") or [])
        predicted = _finite(predictions.get("predicted") or [])
        if actual and len(actual) == len(predicted):
            out["predicted_vs_actual.svg"] = scatter_svg(
                actual,
                predicted,
                FIGURE_TITLES["predicted_vs_actual.svg"],
                x_label="actual",
                y_label="predicted",
                diagonal=True,
            )
            out["residuals.svg"] = scatter_svg(
                predicted,
                [a - p for a, p in zip(actual, predicted, strict=True)],
                FIGURE_TITLES["residuals.svg"],
                x_label="predicted",
                y_label="actual − predicted",
                zero_line=True,
            )
    bars = _importances(metrics.get("feature_importances"))
    if bars:
        out["feature_importances.svg"] = bar_chart_svg(
            bars, FIGURE_TITLES["feature_importances.svg"]
        )
    scores = {
        split: {k: v for k, v in (metrics.get(split) or {}).items() if k in UNIT_SCORES}
        for split in ("train", "test", "cv")
    }
    if any(scores.values()):
        out["metrics.svg"] = grouped_scores_svg(scores, FIGURE_TITLES["metrics.svg"])
    order = list(FIGURE_TITLES)
    return {f"{FIGURES_DIR}/{name}": out[name] for name in sorted(out, key=order.index)}
