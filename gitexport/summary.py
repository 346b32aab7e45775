"""The pipeline-level summary of a re-export, as Markdown (pure).

Reviewers of a re-export read this first — in ``gitexport diff``, ``export --dry-run`` and
the pull-request body: which canvas nodes were added, removed or re-parameterised, how the
model and its metrics moved, which artifacts changed, then the file list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitexport.git import FileChange
from gitexport.render import md_text

MAX_FILES_LISTED = 60


@dataclass(frozen=True)
class ExportSide:
    """One side of the comparison: what an export committed (all optional for a first export)."""

    plan: dict | None  # .gitexport/plan.json
    metrics: dict | None  # models/metrics.json
    lineage: dict | None  # .gitexport/lineage.json


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
    if isinstance(value, float):
        return f"{value:.4f}"
    return _cell(value)


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


def metrics_table(old: dict | None, new: dict | None, canvas: dict | None) -> list[str]:
    if not new:
        return []
    rows = ["| split | metric | before | after | canvas |", "|---|---|---|---|---|"]
    for split in ("test", "cv"):
        names = list((new.get(split) or {}).keys())
        for name in names:
            after = new[split][name]
            if isinstance(after, list):
                continue  # confusion matrices are too big for a table row
            before = ((old or {}).get(split) or {}).get(name, "")
            canvas_value = ((canvas or {}).get(split) or {}).get(name, "")
            rows.append(
                f"| {split} | {name} | {_fmt_metric(before) if before != '' else '—'} | "
                f"{_fmt_metric(after)} | {_fmt_metric(canvas_value) if canvas_value != '' else '—'} |"
            )
    return rows if len(rows) > 2 else []


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


def file_table(changes: list[FileChange]) -> list[str]:
    if not changes:
        return ["No file changes."]
    rows = ["| file | change | lines |", "|---|---|---|"]
    for change in changes[:MAX_FILES_LISTED]:
        lines = "binary" if change.binary else f"+{change.added_lines} −{change.deleted_lines}"
        rows.append(f"| {_code(change.path)} | {change.status} | {lines} |")
    if len(changes) > MAX_FILES_LISTED:
        rows.append(f"| … and {len(changes) - MAX_FILES_LISTED} more | | |")
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


def render_summary(
    old: ExportSide,
    new: ExportSide,
    changes: list[FileChange],
    *,
    canvas_metrics: dict | None = None,
    parity: str | None = None,
) -> str:
    """The Markdown a reviewer reads: pipeline changes, metrics, artifacts, files, lineage."""
    plan = new.plan or {}
    pipeline = plan.get("pipeline", {})
    old_version = ((old.plan or {}).get("pipeline") or {}).get("version")
    title = (
        f"{_cell(pipeline.get('name', ''))}: version {old_version} → {pipeline.get('version')}"
        if old_version is not None
        else f"{_cell(pipeline.get('name', ''))}: version {pipeline.get('version')} (first export)"
    )
    out = [f"## Canvas pipeline {title}", ""]
    changes_lines = pipeline_changes(old.plan, plan) if new.plan else []
    out += (
        ["### Pipeline changes", ""]
        + (changes_lines or ["No change to the pipeline's nodes or model."])
        + [""]
    )
    table = metrics_table(old.metrics, new.metrics, canvas_metrics)
    if table:
        out += ["### Metrics", ""] + table + [""]
    if parity:
        out += [f"Parity with the canvas: {parity}.", ""]
    artifacts = artifact_lines(old.lineage, new.lineage)
    if artifacts:
        out += ["### Artifacts", ""] + artifacts + [""]
    out += ["### Files", ""] + file_table(changes) + [""]
    if new.lineage:
        out += (
            ["<details><summary>Lineage</summary>", ""]
            + lineage_table(new.lineage)
            + ["", "</details>", ""]
        )
    return "\n".join(out)
