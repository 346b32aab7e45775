"""The model's figures: small hand-written SVG, well-formed and byte-deterministic, and the
self-contained HTML report that inlines them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from gitexport.figures import (
    FIGURES_DIR,
    bar_chart_svg,
    confusion_matrix_svg,
    project_figures,
    roc_curve_svg,
    scatter_svg,
)
from gitexport.report_html import REPORT_PATH, model_report_html

SVG = "{http://www.w3.org/2000/svg}"

CLASSIFICATION = {
    "train": {"accuracy": 0.99, "f1": 0.98},
    "test": {
        "accuracy": 0.9534883720930233,
        "f1": 0.94,
        "log_loss": 0.2,
        "confusion_matrix": [[38, 2, 0], [1, 16, 0], [0, 1, 28]],
    },
    "cv": {"accuracy": 0.95, "f1": 0.93},
    "feature_importances": {"bill_length_mm": 0.5, "island": -0.7, "year": 0.01},
    "roc_curve": {"fpr": [0, 0.1, 1], "tpr": [0, 0.8, 1]},
}
REGRESSION = {
    "test": {"rmse": 3.5, "mae": 2.0, "r2": 0.81},
    "test_predictions": {"actual": [1.0, 2.0, 3.0, 4.0], "predicted": [1.5, 1.5, 3.5, 4.0]},
}


def parse(svg: bytes) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter(f"{SVG}text")]


def test_confusion_matrix_has_one_cell_per_count_and_the_class_names():
    root = parse(confusion_matrix_svg([[38, 2], [1, 16]], ["Adelie", "<Gentoo & co>"], "CM"))
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("stroke") == "#ffffff"]
    assert len(cells) == 4
    shown = texts(root)
    assert [t for t in shown if t in {"38", "2", "1", "16"}] == ["38", "2", "1", "16"]
    assert shown.count("<Gentoo & co>") == 2  # escaped in the file, intact once parsed
    # More is darker: the 38 cell is the darkest.
    fills = [c.get("fill") for c in cells]
    assert fills[0] == min(fills)


def test_a_confusion_matrix_must_be_square():
    with pytest.raises(ValueError, match="square"):
        confusion_matrix_svg([[1, 2]], ["a"], "CM")


def test_bars_scatter_and_roc_are_well_formed():
    bars = parse(bar_chart_svg([("a", 0.5), ("b", -0.25)], "Bars"))
    assert {"0.5000", "-0.2500"} <= set(texts(bars))
    points = parse(
        scatter_svg([1, 2, 3], [1, 2.5, 3], "S", x_label="x", y_label="y", diagonal=True)
    )
    assert len(list(points.iter(f"{SVG}circle"))) == 3
    thinned = parse(
        scatter_svg(list(range(2000)), list(range(2000)), "S", x_label="x", y_label="y")
    )
    assert len(list(thinned.iter(f"{SVG}circle"))) == 500
    roc = parse(roc_curve_svg([0, 0.5, 1], [0, 0.9, 1], "ROC"))
    assert len(next(roc.iter(f"{SVG}polyline")).get("points").split()) == 3


def test_classification_figures_from_the_metrics():
    figures = project_figures(
        CLASSIFICATION, problem_type="classification", classes=["Adelie", "Chinstrap", "Gentoo"]
    )
    assert list(figures) == [
        f"{FIGURES_DIR}/confusion_matrix.svg",
        f"{FIGURES_DIR}/roc_curve.svg",
        f"{FIGURES_DIR}/feature_importances.svg",
        f"{FIGURES_DIR}/metrics.svg",
    ]
    for svg in figures.values():
        parse(svg)
    importances = texts(parse(figures[f"{FIGURES_DIR}/feature_importances.svg"]))
    # Strongest first, by magnitude (a negative weight counts).
    assert (
        importances.index("island")
        < importances.index("bill_length_mm")
        < importances.index("year")
    )
    # log_loss is not on a 0..1 scale: not among the score bars.
    assert "log_loss" not in texts(parse(figures[f"{FIGURES_DIR}/metrics.svg"]))


def test_regression_figures_and_nothing_without_data():
    figures = project_figures(REGRESSION, problem_type="regression", classes=[])
    assert sorted(figures) == [
        f"{FIGURES_DIR}/metrics.svg",
        f"{FIGURES_DIR}/predicted_vs_actual.svg",
        f"{FIGURES_DIR}/residuals.svg",
    ]
    residuals = parse(figures[f"{FIGURES_DIR}/residuals.svg"])
    assert len(list(residuals.iter(f"{SVG}circle"))) == 4
    assert project_figures({"test": {"rmse": 1.0}}, problem_type="regression", classes=[]) == {}
    # Broken data is skipped, not drawn wrong.
    broken = {"test_predictions": {"actual": [1, "x"], "predicted": [1, 2]}, "test": {}}
    assert project_figures(broken, problem_type="regression", classes=[]) == {}


def test_figures_are_byte_deterministic():
    first = project_figures(CLASSIFICATION, problem_type="classification", classes=["a", "b", "c"])
    reordered = dict(CLASSIFICATION)
    reordered["feature_importances"] = dict(reversed(CLASSIFICATION["feature_importances"].items()))
    second = project_figures(reordered, problem_type="classification", classes=["a", "b", "c"])
    assert first == second
    # No float noise in coordinates: every number has at most two decimals.
    for svg in first.values():
        for number in re.findall(rb"='(-?\d+\.\d+)'", svg):
            assert len(number.split(b".")[1]) <= 2, number


def test_the_html_report_is_self_contained():
    from gitexport import api
    from gitexport.report_html import report_files

    plan = api.plan(api.example("penguins"))
    files = report_files(plan, CLASSIFICATION, "reproduced 86 of 86 canvas predictions")
    html = files[REPORT_PATH].decode()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg ") == 4  # every figure inlined
    assert "<script" not in html and " src=" not in html and "<link" not in html
    assert "<td>accuracy</td><td>0.9900</td><td>0.9535</td><td>0.9500</td>" in html
    assert "reproduced 86 of 86" in html
    assert files == report_files(plan, CLASSIFICATION, "reproduced 86 of 86 canvas predictions")
    assert model_report_html(plan, {}, {}, None).decode().count("<svg") == 0
