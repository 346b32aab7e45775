"""The pull-request body, and the summary of ``gitexport diff`` / ``export --dry-run`` (pure).

A pull request from the export branch takes ``main`` from its last export (the *base*) to
the newest export (the *head*), often through several versions pushed while it was open.
The body describes that whole step, as the PR's diff does: the pipeline changes and
parameters from the base to the head, the metrics base | PR | Δ (an arrow that knows
whether higher is better), the parity verdict, the figures before and after side by side,
the artifacts and files; then, folded, each version since the base with its own changes,
and the lineage. A hidden marker (an HTML comment) carries the machine-readable facts.

Bodies stay under :data:`MAX_BODY_CHARS` (GitHub refuses 65,536 characters): long lists are
cut with a note, and the marker is always kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gitexport.figures import FIGURE_TITLES
from gitexport.git import FileChange
from gitexport.render import md_text

MAX_FILES_LISTED = 60
MAX_BODY_CHARS = 60_000
MAX_MARKER_VERSIONS = 100  # the marker names at most this many versions (the newest)
MARKER_PREFIX = "<!-- gitexport-pr "
MARKER_FORMAT = "gitexport-pr/1"
FIGURE_WIDTH = 360

# Which way is good, for every scalar metric the catalog's evaluate_model node offers (and
# mse, which canvases send in results): +1 higher is better, -1 lower is better.
METRIC_DIRECTION = {
    "accuracy": 1,
    "balanced_accuracy": 1,
    "precision": 1,
    "recall": 1,
    "f1": 1,
    "roc_auc": 1,
    "r2": 1,
    "log_loss": -1,
    "rmse": -1,
    "mae": -1,
    "mse": -1,
    "mape": -1,
}

# (commit SHA or ref, path in the repository) → URL of the raw file, for an <img>.
FigureUrl = Callable[[str, str], str]


def github_figure_url(web_url: str) -> FigureUrl:
    """``<repo>/blob/<sha>/<path>?raw=true``: renders in private repositories too."""
    return lambda ref, path: f"{web_url.rstrip('/')}/blob/{quote(ref)}/{quote(path)}?raw=true"


def gitlab_figure_url(web_url: str) -> FigureUrl:
    """``<project>/-/raw/<sha>/<path>``: GitLab serves it to whoever may read the project."""
    return lambda ref, path: f"{web_url.rstrip('/')}/-/raw/{quote(ref)}/{quote(path)}"


def figure_url_for(provider: str, web_url: str | None) -> FigureUrl | None:
    """The image links of a forge's pull request (None: a bare repository has no web view)."""
    makers = {"github": github_figure_url, "gitlab": gitlab_figure_url}
    return makers[provider](web_url) if provider in makers and web_url else None


@dataclass(frozen=True)
class ExportSide:
    """What one export committed (all optional: a first export has no before, a preview
    no metrics or lineage yet)."""

    plan: dict | None  # .gitexport/plan.json
    metrics: dict | None  # models/metrics.json
    lineage: dict | None  # .gitexport/lineage.json


@dataclass(frozen=True)
class Version:
    """One export in the pull request's history."""

    side: ExportSide
    commit: str | None = None  # None: not committed yet (the body is written before it)
    date: str | None = None  # ISO 8601, from the commit
    figures: tuple[str, ...] = ()  # the reports/figures/*.svg paths it holds

    @property
    def number(self) -> Any:
        pipeline = (self.side.plan or {}).get("pipeline") or {}
        if pipeline.get("version") is not None:
            return pipeline["version"]
        return (self.side.lineage or {}).get("pipeline_version")

    @property
    def export_id(self) -> str | None:
        return (self.side.lineage or {}).get("export_id")

    def facts(self) -> dict:
        return {"version": self.number, "export_id": self.export_id, "commit": self.commit}


def _cell(value: Any) -> str:
    """Markdown-safe text for a table cell or a bullet, cut to a readable length."""
    text = md_text(value if isinstance(value, str) else repr(value))
    return text if len(text) <= 80 else text[:77] + "…"


def _code(value: Any) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in str(value)).replace("`", "'")
    return f"`{text}`"


def _steps(plan: dict | None) -> dict[str, dict]:
    return {s["node_id"]: s for s in (plan or {}).get("steps", [])}


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and not (
        "module" in value and "name" in value and "kwargs" in value
    ):
        for key, sub in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), sub, out)
    elif isinstance(value, dict):  # a nested Call
        out[prefix] = value["name"]
        _flat(prefix, value["kwargs"], out)
    else:
        out[prefix] = value


def _params(step: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flat("", step["call"]["kwargs"], out)
    return out


def _fmt_metric(value: Any) -> str:
    """Fixed precision for numbers, so that a column reads straight down."""
    if value is None:
        return "—"
    number = _number(value)
    return f"{number:.4f}" if number is not None else _cell(value)


def pipeline_changes(old: dict | None, new: dict) -> list[str]:
    """Bullet lines: nodes added, removed, parameters changed, model changes."""
    lines: list[str] = []
    before, after = _steps(old), _steps(new)
    for node_id in sorted(after.keys() - before.keys()):
        s = after[node_id]
        lines.append(
            f"- added node {_code(node_id)} {_cell(s['label'])} ({s['node_type']}): {_cell(s['training'])}"
        )
    for node_id in sorted(before.keys() - after.keys()):
        s = before[node_id]
        lines.append(f"- removed node {_code(node_id)} {_cell(s['label'])} ({s['node_type']})")
    for node_id in sorted(after.keys() & before.keys()):
        b, a = _params(before[node_id]), _params(after[node_id])
        changed = [k for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
        if changed or before[node_id]["node_type"] != after[node_id]["node_type"]:
            detail = ", ".join(
                f"{_code(k)}: {_cell(b.get(k))} → {_cell(a.get(k))}" for k in changed
            )
            lines.append(f"- node {_code(node_id)} {_cell(after[node_id]['label'])}: {detail}")
    if old is not None:
        order_before = [n for n in before if n in after]
        order_after = [n for n in after if n in before]
        if order_before != order_after:
            lines.append(f"- node order changed: {' → '.join(map(_code, order_after))}")
    old_model = (old or {}).get("model")
    new_model = new["model"]
    if old_model and old_model["estimator"] != new_model["estimator"]:
        if old_model["estimator"]["name"] != new_model["estimator"]["name"]:
            lines.append(
                f"- model: {old_model['estimator']['name']} → {new_model['estimator']['name']}"
            )
        b, a = old_model["estimator"]["kwargs"], new_model["estimator"]["kwargs"]
        for k in sorted(a.keys() | b.keys()):
            if a.get(k) != b.get(k):
                lines.append(f"- model parameter {_code(k)}: {_cell(b.get(k))} → {_cell(a.get(k))}")
    if old is not None:
        for key in ("split", "evaluation"):
            if old.get(key) != new.get(key):
                lines.append(
                    f"- {key} settings changed: {_cell(old.get(key))} → {_cell(new.get(key))}"
                )
        dropped = {s["node_id"] for s in old.get("skipped", [])}
        for s in new.get("skipped", []):
            if s["node_id"] not in dropped:
                lines.append(
                    f"- node {_code(s['node_id'])} {_cell(s['label'])} now skipped: {_cell(s['reason'])}"
                )
    return lines


def artifact_lines(old: dict | None, new: dict | None) -> list[str]:
    before = (old or {}).get("model_sha256", {})
    after = (new or {}).get("model_sha256", {})
    lines = []
    for path in sorted(before.keys() | after.keys()):
        b, a = before.get(path), after.get(path)
        if b != a:
            lines.append(f"- {_code(path)}: {(b or 'none')[:12]} → {(a or 'removed')[:12]}")
    for key, label in (
        ("data_sha256", "training data"),
        ("template_sha256", "templates"),
        ("gitexport_version", "gitexport"),
    ):
        if old and old.get(key) != (new or {}).get(key):
            lines.append(f"- {label}: {str(old.get(key))[:12]} → {str((new or {}).get(key))[:12]}")
    return lines


def file_table(changes: list[FileChange], limit: int = MAX_FILES_LISTED) -> list[str]:
    if not changes:
        return ["No file changes."]
    rows = ["| file | change | lines |", "|---|---|---|"]
    for change in changes[:limit]:
        lines = "binary" if change.binary else f"+{change.added_lines} −{change.deleted_lines}"
        rows.append(f"| {_code(change.path)} | {change.status} | {lines} |")
    if len(changes) > limit:
        rows.append(f"| … and {len(changes) - limit} more | | |")
    return rows


def lineage_table(lineage: dict) -> list[str]:
    rows = ["| | |", "|---|---|"]
    for key in (
        "pipeline_id",
        "pipeline_version",
        "canvas_owner",
        "graph_sha256",
        "data_sha256",
        "template_sha256",
        "gitexport_version",
        "catalog_version",
        "export_id",
    ):
        if key in lineage:
            rows.append(f"| {key} | {_code(lineage[key])} |")
    for path, digest in sorted(lineage.get("model_sha256", {}).items()):
        rows.append(f"| model {_cell(path)} | {_code(digest)} |")
    return rows


def _number(value: Any) -> float | None:
    """A metric value as a finite float, or None (a label, a matrix, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def metric_direction(name: str) -> int:
    """+1 when a higher value of metric *name* is better, -1 when lower is, 0 if unknown."""
    return METRIC_DIRECTION.get(name, 0)


def delta_cell(name: str, before: Any, after: Any) -> str:
    """``+0.0125 ▲ better``: the change with fixed precision, its arrow and its meaning."""
    b, a = _number(before), _number(after)
    if b is None or a is None:
        return "—"
    delta = a - b
    if round(delta, 4) == 0:
        return "±0.0000"
    arrow = "▲" if delta > 0 else "▼"
    direction = metric_direction(name)
    verdict = "" if direction == 0 else " better" if delta * direction > 0 else " worse"
    return f"{'+' if delta > 0 else '−'}{abs(delta):.4f} {arrow}{verdict}"


def metrics_table(
    old: dict | None,
    new: dict | None,
    canvas: dict | None,
    *,
    base_label: str = "base",
    head_label: str = "PR",
    compare: bool = True,
) -> list[str]:
    """base | PR | Δ | canvas per split and metric (without the base columns: a first export)."""
    if not new:
        return []
    if compare:
        rows = [
            f"| split | metric | {base_label} | {head_label} | Δ | canvas |",
            "|---|---|---:|---:|---|---:|",
        ]
    else:
        rows = [f"| split | metric | {head_label} | canvas |", "|---|---|---:|---:|"]
    for split in ("test", "cv"):
        for name, after in (new.get(split) or {}).items():
            if isinstance(after, list):
                continue  # a confusion matrix is a figure, not a row
            before = ((old or {}).get(split) or {}).get(name)
            canvas_value = ((canvas or {}).get(split) or {}).get(name)
            cells = [split, _cell(name)]
            if compare:
                cells += [_fmt_metric(before), _fmt_metric(after), delta_cell(name, before, after)]
            else:
                cells += [_fmt_metric(after)]
            cells.append(_fmt_metric(canvas_value))
            rows.append("| " + " | ".join(cells) + " |")
    return rows if len(rows) > 2 else []


def model_line(plan: dict, version: Any) -> list[str]:
    """The head's estimator and every parameter it is built with."""
    estimator = (plan.get("model") or {}).get("estimator")
    if not estimator:
        return []
    params: dict[str, Any] = {}
    _flat("", estimator.get("kwargs") or {}, params)
    listed = ", ".join(f"{_code(k)} = {_cell(v)}" for k, v in sorted(params.items()))
    return [
        f"Model at version {_cell(version)}: {_code(estimator.get('name'))}"
        + (f" with {listed}." if listed else "."),
        "",
    ]


def metric_verdict(old: dict | None, new: dict | None, base: Version | None) -> list[str]:
    """One line a reviewer reads first: which test metrics got better or worse."""
    if base is None:
        return []
    better, worse = [], []
    before = (old or {}).get("test") or {}
    for name, after in ((new or {}).get("test") or {}).items():
        b, a = _number(before.get(name)), _number(after)
        if b is None or a is None or round(a - b, 4) == 0 or metric_direction(name) == 0:
            continue
        (better if (a - b) * metric_direction(name) > 0 else worse).append(_cell(name))
    if not better and not worse:
        return [f"On the test split, no metric moved from version {_cell(base.number)}.", ""]
    parts = []
    if better:
        parts.append(f"**better**: {', '.join(better)}")
    if worse:
        parts.append(f"**worse**: {', '.join(worse)}")
    return [f"On the test split against version {_cell(base.number)}: {'; '.join(parts)}.", ""]


def parity_line(parity: str | None, parity_ok: bool | None) -> str | None:
    if parity is None:
        return None
    verdict = {True: "✅ passed", False: "⚠️ drift"}.get(parity_ok, "")  # type: ignore[arg-type]
    return f"Parity with the canvas: {verdict + ' — ' if verdict else ''}{md_text(parity)}."


def _img(url: str, alt: str) -> str:
    return f'<img src="{_attr(url)}" alt="{_attr(alt)}" width="{FIGURE_WIDTH}">'


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "&#124;")  # a pipe would end the Markdown table cell
    )


def figure_rows(
    base: Version | None, head: Version, figure_url: FigureUrl | None, head_ref: str | None
) -> list[str]:
    """The figures of the base and the head side by side, linked by commit (or ref)."""
    if figure_url is None:
        return []
    head_at = head.commit or head_ref
    order = list(FIGURE_TITLES)
    names = sorted(
        {p.rsplit("/", 1)[-1] for p in (*head.figures, *(base.figures if base else ()))},
        key=lambda n: (order.index(n) if n in order else len(order), n),
    )
    if not names:
        return []
    by_name = {
        side: {p.rsplit("/", 1)[-1]: p for p in v.figures}
        for side, v in (("base", base), ("head", head))
        if v is not None
    }

    def cell(side: str, version: Version | None, at: str | None, name: str) -> str:
        path = by_name.get(side, {}).get(name)
        if version is None or at is None or path is None:
            return "—"
        return _img(
            figure_url(at, path), f"{FIGURE_TITLES.get(name, name)}, version {version.number}"
        )

    if base is not None:
        rows = [
            f"| | base (version {_cell(base.number)}) | this PR (version {_cell(head.number)}) |",
            "|---|---|---|",
        ]
    else:
        rows = [f"| | version {_cell(head.number)} |", "|---|---|"]
    for name in names:
        cells = [_cell(FIGURE_TITLES.get(name, name))]
        if base is not None:
            cells.append(cell("base", base, base.commit, name))
        cells.append(cell("head", head, head_at, name))
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _metric_moves(old: dict | None, new: dict | None) -> list[str]:
    """``test accuracy 0.9700 → 0.9800 (+0.0100 ▲ better)`` for each test metric that moved."""
    moves = []
    before = (old or {}).get("test") or {}
    for name, after in ((new or {}).get("test") or {}).items():
        b = before.get(name)
        if _number(after) is None or _number(b) is None or round(after - b, 4) == 0:
            continue
        moves.append(
            f"test {_cell(name)} {_fmt_metric(b)} → {_fmt_metric(after)} "
            f"({delta_cell(name, b, after)})"
        )
    return moves


def _cut(lines: list[str], cap: int | None, what: str) -> list[str]:
    if cap is None or len(lines) <= cap:
        return lines
    return lines[:cap] + [
        f"- … and {len(lines) - cap} more {what} left out (a pull-request body is limited "
        f"to {MAX_BODY_CHARS:,} characters; `gitexport diff` lists them all)"
    ]


def history_lines(
    base: Version | None, versions: Sequence[Version], cap: int | None, omitted: int
) -> list[str]:
    """Each version since the base with its own changes, newest last."""
    out: list[str] = []
    shown = list(versions)
    if cap is not None and len(shown) > cap:
        omitted += len(shown) - cap
        shown = shown[-cap:] if cap else []
    if omitted:
        out += [f"*{omitted} older version(s) left out.*", ""]
    start = len(versions) - len(shown)
    for index, version in enumerate(shown, start):
        previous = versions[index - 1] if index > 0 else base
        where = f"`{version.commit[:10]}`" if version.commit else "this push"
        date = f" · {version.date[:10]}" if version.date else ""
        export_id = f" · export {_code(version.export_id)}" if version.export_id else ""
        out.append(f"**version {_cell(version.number)}** · {where}{date}{export_id}")
        out.append("")
        if previous is None or previous.side.plan is None:
            lines = ["- first export"]
        elif version.side.plan is None:
            lines = []
        else:
            lines = pipeline_changes(previous.side.plan, version.side.plan) or [
                "- no change to the pipeline's nodes or model"
            ]
        lines += [
            f"- {m}"
            for m in _metric_moves(
                previous.side.metrics if previous else None, version.side.metrics
            )
        ]
        out += _cut(lines, cap, "changes") + [""]
    return out


def _marker(
    base: Version | None,
    versions: Sequence[Version],
    pipeline_id: str | None,
    *,
    omitted: int,
    truncated: bool,
) -> str:
    head = versions[-1]
    facts = {
        "format": MARKER_FORMAT,
        "pipeline_id": pipeline_id,
        "base": base.facts() if base else None,
        "head": head.facts(),
        "versions": [v.facts() for v in versions[-MAX_MARKER_VERSIONS:]],
        "versions_since_base": len(versions) + omitted,
        "truncated": truncated,
    }
    text = json.dumps(facts, sort_keys=True, ensure_ascii=True, default=str)
    # Nothing in the JSON may end the comment: "--" and ">" only occur inside its strings.
    text = text.replace("--", "-\\u002d").replace(">", "\\u003e")
    return f"{MARKER_PREFIX}{text} -->"


def read_marker(body: str) -> dict | None:
    """The facts a body's hidden marker carries, or None when it has none."""
    start = body.find(MARKER_PREFIX)
    if start < 0:
        return None
    end = body.find(" -->", start)
    if end < 0:
        return None
    try:
        return json.loads(body[start + len(MARKER_PREFIX) : end])
    except ValueError:
        return None


def _pipeline_id(versions: Sequence[Version]) -> str | None:
    for version in reversed(versions):
        found = ((version.side.plan or {}).get("pipeline") or {}).get("id") or (
            version.side.lineage or {}
        ).get("pipeline_id")
        if found:
            return found
    return None


def _render(
    base: Version | None,
    versions: Sequence[Version],
    changes: list[FileChange],
    *,
    canvas_metrics: dict | None,
    parity: str | None,
    parity_ok: bool | None,
    figure_url: FigureUrl | None,
    head_ref: str | None,
    omitted: int,
    cap: int | None,
) -> str:
    head = versions[-1]
    plan = head.side.plan or {}
    name = _cell(((plan.get("pipeline") or {}).get("name")) or "")
    out: list[str] = []
    if base is not None:
        out += [
            f"## Canvas pipeline {name}: version {_cell(base.number)} → {_cell(head.number)}",
            "",
        ]
        since = len(versions) + omitted
        listed = ", ".join(_cell(v.number) for v in versions[-10:])
        more = "…, " if since > 10 else ""
        out += [
            f"`main` is at version {_cell(base.number)}; this brings it to version "
            f"{_cell(head.number)} ({since} export{'s' if since != 1 else ''}: "
            f"version {more}{listed}). The sections below compare version "
            f"{_cell(base.number)} with version {_cell(head.number)}; each version's own "
            "changes are in the history at the end.",
            "",
        ]
    else:
        out += [f"## Canvas pipeline {name}: version {_cell(head.number)} (first export)", ""]
    if head.side.plan:
        changes_lines = pipeline_changes(base.side.plan if base else None, plan)
        title = (
            f"### Pipeline changes (version {_cell(base.number)} → {_cell(head.number)})"
            if base is not None
            else "### Pipeline"
        )
        out += [title, ""]
        out += _cut(changes_lines, cap, "changes") or [
            "No change to the pipeline's nodes or model."
        ]
        out += ["", *model_line(plan, head.number)]
    compare = base is not None
    table = metrics_table(
        base.side.metrics if base else None,
        head.side.metrics,
        canvas_metrics,
        base_label=f"base (v{_cell(base.number)})" if base else "base",
        head_label=f"PR (v{_cell(head.number)})" if compare else f"version {_cell(head.number)}",
        compare=compare,
    )
    if table:
        out += ["### Metrics", ""]
        out += metric_verdict(base.side.metrics if base else None, head.side.metrics, base)
        out += table + [""]
    verdict = parity_line(parity, parity_ok)
    if verdict:
        out += [verdict, ""]
    figures = figure_rows(base, head, figure_url, head_ref)
    if figures:
        out += ["### Figures", ""] + figures + [""]
    artifacts = artifact_lines(base.side.lineage if base else None, head.side.lineage)
    if artifacts:
        out += ["### Artifacts", ""] + _cut(artifacts, cap, "artifacts") + [""]
    files_cap = MAX_FILES_LISTED if cap is None else min(cap, MAX_FILES_LISTED)
    counted = f"{len(changes)} changed" if changes else "none changed"
    against = "main → this PR" if base is not None else "the new repository"
    out += [
        f"<details><summary>Files: {counted} ({against})</summary>",
        "",
        *file_table(changes, files_cap),
        "",
        "</details>",
        "",
    ]
    if base is not None:
        out += [
            f"<details><summary>History: {len(versions) + omitted} export(s) since version "
            f"{_cell(base.number)} on main</summary>",
            "",
            *history_lines(base, versions, cap, omitted),
            "</details>",
            "",
        ]
    if head.side.lineage:
        out += ["<details><summary>Lineage</summary>", "", *lineage_table(head.side.lineage)]
        out += ["", "</details>", ""]
    # Last, where a terminal reader of `gitexport diff` minds it least; bots find it anywhere.
    out.append(
        _marker(base, versions, _pipeline_id(versions), omitted=omitted, truncated=cap is not None)
    )
    return "\n".join(out) + "\n"


def _hard_cut(body: str, max_chars: int) -> str:
    """Last resort: cut the text, close what is open, say so, and keep the marker (the last
    line)."""
    text, marker = body.rstrip("\n").rsplit("\n", 1)
    note = (
        f"\n\n*The rest is left out: a pull-request body is limited to {MAX_BODY_CHARS:,} "
        "characters.*\n"
    )
    keep = text[: max(0, max_chars - len(note) - len(marker) - 40)]
    keep = keep[: keep.rfind("\n")] if "\n" in keep else ""
    open_details = keep.count("<details>") - keep.count("</details>")
    return keep + "\n\n</details>" * max(open_details, 0) + note + marker + "\n"


def render_pr_body(
    base: Version | None,
    versions: Sequence[Version],
    changes: list[FileChange],
    *,
    canvas_metrics: dict | None = None,
    parity: str | None = None,
    parity_ok: bool | None = None,
    figure_url: FigureUrl | None = None,
    head_ref: str | None = None,
    omitted: int = 0,
    max_chars: int = MAX_BODY_CHARS,
) -> str:
    """The Markdown of a pull request from *base* (the last export on main, None for a first
    export) through *versions* (each export since, oldest first; the head last).

    *figure_url* makes the figures' ``<img>`` links (None: no figures section); the head's
    are linked at its commit, or at *head_ref* (the export branch) when it is not committed
    yet. *omitted*: older versions since the base that the caller did not load.
    """
    if not versions:
        raise ValueError("a pull-request body needs at least the head version")
    for cap in (None, 200, 100, 50, 20, 10, 5, 2, 0):
        body = _render(
            base,
            versions,
            changes,
            canvas_metrics=canvas_metrics,
            parity=parity,
            parity_ok=parity_ok,
            figure_url=figure_url,
            head_ref=head_ref,
            omitted=omitted,
            cap=cap,
        )
        if len(body) <= max_chars:
            return body
    return _hard_cut(body, max_chars)


def render_summary(
    old: ExportSide,
    new: ExportSide,
    changes: list[FileChange],
    *,
    canvas_metrics: dict | None = None,
    parity: str | None = None,
) -> str:
    """The summary of one export against one before (no history): ``gitexport diff``."""
    base = Version(old) if (old.plan or old.metrics or old.lineage) else None
    return render_pr_body(
        base, [Version(new)], changes, canvas_metrics=canvas_metrics, parity=parity
    )
