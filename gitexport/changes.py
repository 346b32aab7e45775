"""What an export changes against the repository's last export: the pipeline-level summary.

The summary is the pull-request body and the preview's ``summary_markdown``.
"""

from __future__ import annotations

import json
from pathlib import Path

from gitexport import git
from gitexport.build import BuiltProject
from gitexport.summary import ExportSide, render_summary


def previous_side(repo_dir: Path | None) -> ExportSide:
    """What the last export committed, for the pipeline-level summary."""
    if repo_dir is None:
        return ExportSide(None, None, None)
    record = git.last_export(repo_dir)
    if record is None:
        return ExportSide(None, None, None)

    def load(path: str):
        data = git.read_export_file(repo_dir, record.commit, path)
        return json.loads(data) if data else None

    return ExportSide(
        load(".gitexport/plan.json"), load("models/metrics.json"), load(".gitexport/lineage.json")
    )


def change_summary(built: BuiltProject, repo_dir: Path | None) -> tuple[str, list]:
    """The pull-request body of a built export, and its file changes."""
    return summarize(
        repo_dir,
        built.files,
        plan=built.plan,
        metrics=built.metrics,
        lineage=built.lineage,
        parity=built.parity.describe() if built.parity else None,
    )


def summarize(
    repo_dir: Path | None,
    files: dict[str, bytes],
    *,
    plan,
    metrics: dict | None,
    lineage: dict | None,
    parity: str | None,
) -> tuple[str, list]:
    """The summary of *files* against the last export in *repo_dir* (also before training:
    a preview has no metrics or lineage yet)."""
    changes = git.preview_export(repo_dir, files) if repo_dir is not None else []
    new = ExportSide(json.loads(plan.to_json()), metrics, lineage)
    markdown = render_summary(
        previous_side(repo_dir),
        new,
        changes,
        canvas_metrics=plan.canvas_results.metrics,
        parity=parity,
    )
    return markdown, changes
