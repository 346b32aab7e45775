"""``reports/model_report.html``: the metrics and the figures in one self-contained page (pure).

No script, no external style sheet, font or image: the SVG figures are inlined, so the file
opens from a checkout, an artifact download or a mail attachment alike. Byte-deterministic:
the same plan and metrics give the same bytes (no date; the lineage says when).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape

from gitexport.figures import FIGURE_TITLES, FIGURES_DIR, project_figures
from gitexport.plan_model import ExportPlan

REPORT_PATH = "reports/model_report.html"

STYLE = """\
body{font-family:Helvetica,Arial,sans-serif;color:#222;max-width:980px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:right}
th:first-child,td:first-child{text-align:left}
.figures{display:flex;flex-wrap:wrap;gap:1.5em}
figure{margin:0}
.facts td{text-align:left}
.muted{color:#666;font-size:.9em}"""


def _fmt(value) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return escape(str(value))
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def metrics_rows(metrics: Mapping) -> list[str]:
    splits = [s for s in ("train", "test", "cv") if isinstance(metrics.get(s), Mapping)]
    names: list[str] = []
    for split in splits:
        for name, value in metrics[split].items():
            if not isinstance(value, list) and name not in names:
                names.append(name)
    if not names:
        return []
    rows = ["<tr><th>metric</th>" + "".join(f"<th>{s}</th>" for s in splits) + "</tr>"]
    for name in names:
        cells = "".join(f"<td>{_fmt(metrics[s].get(name, '—'))}</td>" for s in splits)
        rows.append(f"<tr><td>{escape(name)}</td>{cells}</tr>")
    return rows


def _inline(svg: bytes) -> str:
    # The XML declaration (if any) is not allowed inside HTML; the <svg> element is.
    return re.sub(r"^<\?xml[^>]*\?>\s*", "", svg.decode("utf-8"))


def model_report_html(
    plan: ExportPlan, metrics: Mapping, figures: Mapping[str, bytes], parity: str | None
) -> bytes:
    """The page: pipeline facts, metrics by split, parity, every figure inlined."""
    pipeline = plan.pipeline
    title = f"{pipeline.name}: model report"
    rows = metrics.get("rows") or {}
    facts = [
        ("pipeline", f"{pipeline.name} ({pipeline.id})"),
        ("version", str(pipeline.version)),
        ("task", f"{plan.problem_type}, target {plan.target}"),
        ("model", plan.model.estimator.name),
    ]
    if rows:
        facts.append(("rows", f"{rows.get('train', '?')} train, {rows.get('test', '?')} test"))
    if parity:
        facts.append(("parity with the canvas", parity))
    out = [
        "<!DOCTYPE html>",
        "<html lang='en'>",
        "<head>",
        "<meta charset='utf-8'>",
        f"<title>{escape(title)}</title>",
        f"<style>\n{STYLE}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        "<table class='facts'>",
        *(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in facts),
        "</table>",
    ]
    table = metrics_rows(metrics)
    if table:
        out += ["<h2>Metrics</h2>", "<table>", *table, "</table>"]
    params = metrics.get("model_params")
    if isinstance(params, Mapping) and params:
        out += ["<h2>Model parameters</h2>", "<table>"]
        out += [
            f"<tr><td>{escape(str(k))}</td><td>{escape(repr(v))}</td></tr>"
            for k, v in sorted(params.items())
        ]
        out += ["</table>"]
    if figures:
        out += ["<h2>Figures</h2>", "<div class='figures'>"]
        for path, svg in figures.items():
            # The SVG carries its title; the label says which file it is.
            label = FIGURE_TITLES.get(path.rsplit("/", 1)[-1], path)
            out += [
                f"<figure aria-label='{escape(label)}'>",
                _inline(svg).rstrip("\n"),
                "</figure>",
            ]
        out += ["</div>"]
    out += [
        f"<p class='muted'>Written by gitexport from models/metrics.json; the figures are "
        f"also in {FIGURES_DIR}/.</p>",
        "</body>",
        "</html>",
    ]
    return ("\n".join(out) + "\n").encode("utf-8")


def report_files(plan: ExportPlan, metrics: Mapping, parity: str | None = None) -> dict[str, bytes]:
    """The files an export adds under ``reports/``: the SVG figures and the HTML report."""
    figures = project_figures(metrics, problem_type=plan.problem_type, classes=plan.classes)
    return {**figures, REPORT_PATH: model_report_html(plan, metrics, figures, parity)}
