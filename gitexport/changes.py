"""The pull-request body of an export, from the repository's export history.

A pull request from the export branch compares ``main`` with the branch: its body must
describe the same step, from the last export on ``main`` (the *base*) to the export being
pushed (the *head*), with every export left on the branch in between. This module reads
those exports back (:mod:`gitexport.git`: ``read_history``, ``read_export_file``,
``tree_paths``) and hands them to :func:`gitexport.summary.render_pr_body`.

The body is also the preview's ``summary_markdown`` and what ``gitexport diff`` prints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from gitexport import git
from gitexport.build import BuiltProject
from gitexport.figures import FIGURES_DIR
from gitexport.summary import ExportSide, FigureUrl, Version, render_pr_body

PLAN_PATH = ".gitexport/plan.json"
METRICS_PATH = "models/metrics.json"
LINEAGE_PATH = ".gitexport/lineage.json"
MAX_HISTORY = 30  # versions since the base read back; older ones are counted, not loaded


def _json(repo_dir: Path, commit: str, path: str) -> dict | None:
    data = git.read_export_file(repo_dir, commit, path)
    if not data:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None  # hand-edited into something else: the body does without it
    return value if isinstance(value, dict) else None


def _figures(paths) -> tuple[str, ...]:
    return tuple(sorted(p for p in paths if p.startswith(FIGURES_DIR + "/") and p.endswith(".svg")))


def load_version(repo_dir: Path, record: git.ExportRecord, *, figures: bool = False) -> Version:
    """What the export *record* committed: its plan, metrics, lineage (and figure paths)."""
    side = ExportSide(
        _json(repo_dir, record.commit, PLAN_PATH),
        _json(repo_dir, record.commit, METRICS_PATH),
        _json(repo_dir, record.commit, LINEAGE_PATH),
    )
    paths = _figures(git.tree_paths(repo_dir, record.commit)) if figures else ()
    return Version(side, commit=record.commit, date=record.date, figures=paths)


def previous_side(repo_dir: Path | None) -> ExportSide:
    """What the newest export committed (any branch)."""
    if repo_dir is None:
        return ExportSide(None, None, None)
    record = git.last_export(repo_dir)
    return ExportSide(None, None, None) if record is None else load_version(repo_dir, record).side


def _same_export(committed: Version, head: Version) -> bool:
    if head.export_id is not None:
        return committed.export_id == head.export_id
    # A preview (no lineage before training): the same plan is the same export.
    return head.side.plan is not None and committed.side.plan == head.side.plan


def pr_history(
    repo_dir: Path | None, head: Version, pipeline_id: str, *, head_commit: str | None = None
) -> tuple[Version | None, list[Version], int, git.ExportRecord | None]:
    """The base (last export of this pipeline on ``main``), the versions since (oldest
    first, *head* last), how many older ones were left unloaded, and the newest record.

    *head_commit*: the head's export commit when it is already committed (then it is the
    head, not one of the versions before it). Without it, an export on the branch with the
    head's export id is the head itself (a re-push of the same version).
    """
    if repo_dir is None:
        return None, [head], 0, None
    records = [r for r in git.read_history(repo_dir) if r.pipeline_id == pipeline_id]
    # The head is never its own base (a first export is on main once committed).
    base_record = next((r for r in records if r.on_main and r.commit != head_commit), None)
    pending = [r for r in records if not r.on_main and r.commit != head_commit]  # newest first
    if head_commit is not None:
        head = replace(head, commit=head_commit)
    omitted = max(0, len(pending) - MAX_HISTORY)
    loaded = [load_version(repo_dir, r) for r in pending[:MAX_HISTORY]]
    if head_commit is None and loaded and _same_export(loaded[0], head):
        head = replace(head, commit=loaded[0].commit, date=loaded[0].date)
        loaded = loaded[1:]
    base = load_version(repo_dir, base_record, figures=True) if base_record else None
    return base, [*reversed(loaded), head], omitted, records[0] if records else None


# --------------------------------------------------------------------------- file changes


def changes_since(
    repo_dir: Path | None,
    base: Version | None,
    newest: git.ExportRecord | None,
    files: Mapping[str, bytes],
    against_newest: list[git.FileChange],
) -> list[git.FileChange]:
    """The files of the PR: *files* against the base's export commit (*against_newest*:
    the same files against the newest export, which is often the base)."""
    if repo_dir is None:
        return []
    if base is None or newest is None or newest.commit == base.commit:
        return against_newest
    old = {
        p: git.read_export_file(repo_dir, base.commit, p) or b""
        for p in git.tree_paths(repo_dir, base.commit)
    }
    return git.diff_trees(old, files)


# --------------------------------------------------------------------------- entry points


def change_summary(
    built: BuiltProject,
    repo_dir: Path | None,
    *,
    head_commit: str | None = None,
    figure_url: FigureUrl | None = None,
) -> tuple[str, list]:
    """The pull-request body of a built export, and its file changes against the newest
    export (what the export commit changes; the body lists the PR's, base → head).

    *head_commit*: the export commit when the body is written after it (the figures are
    then linked at that SHA); before it they are linked at the export branch. *figure_url*
    (``summary.github_figure_url(web_url)``, …) makes the image links; None: no figures.
    """
    return summarize(
        repo_dir,
        built.files,
        plan=built.plan,
        metrics=built.metrics,
        lineage=built.lineage,
        parity=built.parity.describe() if built.parity else None,
        parity_ok=built.parity.ok if built.parity else None,
        head_commit=head_commit,
        figure_url=figure_url,
    )


def summarize(
    repo_dir: Path | None,
    files: dict[str, bytes],
    *,
    plan,
    metrics: dict | None,
    lineage: dict | None,
    parity: str | None,
    parity_ok: bool | None = None,
    head_commit: str | None = None,
    figure_url: FigureUrl | None = None,
) -> tuple[str, list]:
    """The body for *files* against the repository's history (also before training: a
    preview has no metrics or lineage yet), and the file changes against the newest export."""
    head = Version(
        ExportSide(json.loads(plan.to_json()), metrics, lineage), figures=_figures(files)
    )
    base, versions, omitted, newest = pr_history(
        repo_dir, head, plan.pipeline.id, head_commit=head_commit
    )
    # Callers get what the export commit changes (against the newest export); the body lists
    # what the pull request changes (against the base).
    changes = git.preview_export(repo_dir, files) if repo_dir is not None else []
    pr_changes = changes_since(repo_dir, base, newest, files, changes)
    # Not committed yet: the branch's tip will be it once pushed (a first export: main's).
    head_ref = git.export_branch_name(plan.pipeline.id) if base is not None else "main"
    markdown = render_pr_body(
        base,
        versions,
        pr_changes,
        canvas_metrics=plan.canvas_results.metrics,
        parity=parity,
        parity_ok=parity_ok,
        figure_url=figure_url,
        head_ref=head_ref,
        omitted=omitted,
    )
    return markdown, changes
