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
    changes = git.preview_export(repo_dir, built.files) if repo_dir is not None else []
    new = ExportSide(json.loads(built.files[".gitexport/plan.json"]), built.metrics, built.lineage)
    markdown = render_summary(
        previous_side(repo_dir),
        new,
        changes,
        canvas_metrics=built.plan.canvas_results.metrics,
        parity=built.parity.describe() if built.parity else None,
    )
    return markdown, changes
