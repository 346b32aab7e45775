"""gitexport as a library: the one entry point the CLI, the export service and notebooks call.

Every operation takes a bundle (a folder holding ``pipeline.json``, or the file itself) and
the caller's :class:`~gitexport.options.ExportOptions`::

    from gitexport import api

    plan = api.plan("my-bundle/")                        # validate + plan (pure data)
    preview = api.preview("my-bundle/", repo_dir="repo")  # + render, no training
    built = api.build("my-bundle/")                      # + train + parity
    result = api.export("my-bundle/", "repo")            # + commit into a local git repo
    pushed = api.push("my-bundle/", api.Target(provider="github", repo="org/name"),
                      token=token, progress=print)       # + push + one pull request

Long operations accept ``progress(phase, fraction, message)`` (phases of
:mod:`gitexport.progress`, fraction of the whole operation, never decreasing) and ``cancel``
(a ``threading.Event`` or a callable): cancellation is honoured between steps, so the local
repository and the remote are left as they were before the call or after a whole step.
Errors are :class:`gitexport.errors.GitexportError` subclasses with a stable ``code``.
Result objects are pydantic models: ``.model_dump(mode="json")`` and back with
``model_validate``.
"""

from __future__ import annotations

import json
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from gitexport.errors import DocumentError
from gitexport.options import ExportOptions, Target
from gitexport.progress import (
    BUILD_PHASES,
    EXPORT_PHASES,
    PHASES,
    CancelCheck,
    ProgressCallback,
    Reporter,
    reporter,
)

# The ML stack (pandas, scikit-learn via the build) loads only when an operation needs it:
# `gitexport --help` and `gitexport log` stay fast.
if TYPE_CHECKING:
    from gitexport.build import BuiltProject
    from gitexport.git import ExportRecord
    from gitexport.load import PlannedBundle
    from gitexport.options import Budget
    from gitexport.plan_model import ExportPlan
    from gitexport.tree import Tree

    # A bundle folder, its pipeline.json, or one already loaded by :func:`load`.
    Bundle = Path | str | PlannedBundle

__all__ = [
    "EXAMPLES",
    "ExportOptions",
    "ExportResult",
    "FileEntry",
    "PipelineRef",
    "Preview",
    "PullRequestRef",
    "PushResult",
    "Target",
    "archive",
    "BuildResult",
    "build",
    "build_result",
    "dry_run",
    "example",
    "history",
    "export",
    "load",
    "plan",
    "preview",
    "publish",
    "push",
    "render_tree",
]

EXAMPLES = ("telco_churn", "penguins", "diamonds")
# Files only training makes, or that quote its results (metrics, parity): a preview (no
# training) cannot know their new bytes.
TRAINED_FILES = (
    "models/trained/model.joblib",
    "models/metrics.json",
    "models/manifest.json",
    "tests/fixtures/golden_predictions.csv",
    ".gitexport/lineage.json",
    "README.md",
    "MODEL_CARD.md",
    "reports/model_report.html",
)

DEFAULT_OPTIONS = ExportOptions()


# --- result objects (JSON round-trip) --------------------------------------------------


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


class PipelineRef(_Result):
    id: str
    name: str
    version: int | str


class FileEntry(_Result):
    path: str
    bytes: int
    change: Literal["added", "modified", "deleted", "unchanged"]


class Preview(_Result):
    """The service's preview object: what an export would write and change."""

    plan: dict
    files: list[FileEntry]
    summary_markdown: str
    up_to_date: bool


class ExportResult(_Result):
    """A local export: what :func:`export` committed (or why it did not)."""

    pipeline: PipelineRef
    status: Literal["created", "merged", "pending", "conflict", "up_to_date"]
    repo: str
    commit: str | None
    branch: str | None
    main: str | None
    conflicts: list[str] = []
    up_to_date: bool
    parity: dict | None = None
    metrics: dict = {}
    canvas_metrics: dict = {}
    warnings: list[str] = []


class BuildResult(_Result):
    """A build without a repository (the ZIP is the product): what :func:`build` checked."""

    pipeline: PipelineRef
    status: Literal["built"] = "built"
    parity: dict | None = None
    metrics: dict = {}
    canvas_metrics: dict = {}
    warnings: list[str] = []


class PullRequestRef(_Result):
    number: int | None
    url: str | None
    action: Literal["opened", "updated", "none"]


class Artifact(_Result):
    name: str
    url: str
    sha256: str
    size: int


class PushResult(_Result):
    """The service's job ``result``: where the export landed and its pull request."""

    pipeline: PipelineRef
    status: Literal["created", "pushed", "pr_opened", "pr_updated", "up_to_date"]
    repo_url: str
    repo_created: bool
    branch: str | None
    commit: str | None
    pull_request: PullRequestRef
    up_to_date: bool
    parity: dict | None = None
    metrics: dict = {}
    canvas_metrics: dict = {}
    artifacts: list[Artifact] = []
    workdir: str
    warnings: list[str] = []


# --- operations ------------------------------------------------------------------------


def example(name: str) -> Path:
    """The folder of a bundled example (``telco_churn``, ``penguins``, ``diamonds``)."""
    if name not in EXAMPLES:
        raise DocumentError(f"unknown example {name!r} (one of {', '.join(EXAMPLES)})")
    return Path(str(resources.files("gitexport").joinpath("examples", name)))


def load(bundle: Bundle, *, progress: Reporter | None = None) -> PlannedBundle:
    """Read, validate and plan a bundle (phases ``validate`` and ``plan``)."""
    from gitexport.load import PlannedBundle, plan_bundle

    if isinstance(bundle, PlannedBundle):
        return bundle
    if progress is not None and progress.phase != "validate":  # export and push entered it
        progress.enter("validate", "reading the pipeline document")
    planned = plan_bundle(Path(bundle))
    if progress is not None:
        progress.enter("plan", "planned")
    return planned


def plan(bundle: Bundle) -> ExportPlan:
    """Validate a bundle and plan its export (no training, nothing written)."""
    return load(bundle).plan


def preview(
    bundle: Bundle,
    *,
    repo_dir: Path | str | None = None,
    options: ExportOptions = DEFAULT_OPTIONS,
    target_provider: str | None = None,
) -> Preview:
    """Validate, plan and render (no training): the files an export would write, how they
    differ from *repo_dir*'s last export, and the pull-request body it would write."""
    from gitexport import git
    from gitexport.changes import summarize
    from gitexport.tree import size_of

    planned = load(bundle)
    files = render_tree(planned, options, target_provider)
    repo = Path(repo_dir) if repo_dir is not None and Path(repo_dir).exists() else None
    summary, changes = summarize(
        repo, files, plan=planned.plan, metrics=None, lineage=None, parity=None
    )
    changed = {c.path: c.status for c in changes} if repo else dict.fromkeys(files, "added")
    previous = git.last_export(repo) if repo is not None else None
    previous_files = set(git.tree_paths(repo, previous.commit)) if previous else set()
    # The figures drawn from the metrics (gitexport.figures): as many as the last export had.
    trained = (
        *TRAINED_FILES,
        *sorted(p for p in previous_files if p.startswith("reports/figures/")),
    )
    rendered_changed = any(p not in trained for p in changed)
    up_to_date = (
        previous is not None
        and not rendered_changed
        and _same_export_identity(previous.lineage, planned, options, target_provider)
    )
    entries = []

    def size(path: str) -> int:  # the full data file is a ref: its size, not its bytes
        content = files.entry(path)
        return 0 if content is None else size_of(content)

    for path in sorted((set(files) | set(changed)) - set(trained)):
        status = changed.get(path, "unchanged")
        entries.append(FileEntry(path=path, bytes=size(path), change=status))
    for path in trained:
        if path in previous_files:
            change = "unchanged" if up_to_date else "modified"
        else:
            change = "added"
        if path.endswith("golden_predictions.csv") and options.data == "none":
            continue
        entries.append(FileEntry(path=path, bytes=size(path), change=change))
    return Preview(
        plan=planned.plan.model_dump(mode="json"),
        files=sorted(entries, key=lambda e: e.path),
        summary_markdown=summary,
        up_to_date=up_to_date,
    )


def build(
    bundle: Bundle,
    options: ExportOptions = DEFAULT_OPTIONS,
    *,
    progress: ProgressCallback | Reporter | None = None,
    cancel: CancelCheck | None = None,
    target_provider: str | None = None,
    budget: Budget | None = None,
) -> BuiltProject:
    """Validate, plan, render, train with the generated code and check parity."""
    from gitexport.options import DEFAULT_BUDGET

    budget = budget or DEFAULT_BUDGET
    _prestart_training(budget)  # first: build imports pandas, which the training needs too
    from gitexport.build import build_project

    rep = reporter(progress, cancel, BUILD_PHASES)
    planned = load(bundle, progress=rep)
    built = build_project(
        planned,
        options.render_options(target_provider),
        allow_parity_drift=options.allow_parity_drift,
        reporter=rep,
        budget=budget,
    )
    if rep.phases == BUILD_PHASES:
        rep.finish("built")
    return built


def export(
    bundle: Bundle,
    repo_dir: Path | str,
    options: ExportOptions = DEFAULT_OPTIONS,
    *,
    progress: ProgressCallback | Reporter | None = None,
    cancel: CancelCheck | None = None,
    budget: Budget | None = None,
) -> ExportResult:
    """Build and commit into the local git repository *repo_dir* (created if missing).

    A re-export goes to the export branch and is merged into ``main`` (``options.merge``);
    a conflict with edits on ``main`` leaves ``main`` untouched (status ``conflict``).
    """
    rep = reporter(progress, cancel, EXPORT_PHASES)
    repo_dir = Path(repo_dir)
    rep.enter("validate", "reading the pipeline document")
    unchanged = _unchanged_export(bundle, repo_dir, options)
    if unchanged is not None:
        rep.finish("up to date")
        return unchanged

    _prestart_training(budget)  # before the imports below, which import pandas
    from gitexport import git
    from gitexport.export_commit import export_request, place_release_files

    planned = load(bundle, progress=rep)
    # What the commit would refuse is refused now, not after the training.
    git.check_export_target(repo_dir, planned.plan.pipeline.id, adopt=options.adopt)
    with build(planned, options, progress=rep, budget=budget) as built:
        rep.enter("commit", f"committing into {repo_dir}")
        outcome = git.export_to_repo(
            repo_dir, export_request(built), merge=options.merge, adopt=options.adopt
        )
        place_release_files(repo_dir, built)
    rep.finish("committed" if outcome.committed else "up to date")
    return ExportResult(
        pipeline=_pipeline(built.plan),
        status=outcome.status,
        repo=str(repo_dir),
        commit=outcome.export_commit,
        branch=outcome.branch,
        main=outcome.main_commit,
        conflicts=list(outcome.conflicts),
        up_to_date=outcome.status == "up_to_date",
        parity=_parity(built),
        metrics=_metrics(built),
        canvas_metrics=built.plan.canvas_results.metrics,
        warnings=list(built.plan.warnings),
    )


def push(
    bundle: Bundle,
    target: Target,
    options: ExportOptions = DEFAULT_OPTIONS,
    *,
    token: str | None,
    workdir: Path | str | None = None,
    progress: ProgressCallback | Reporter | None = None,
    cancel: CancelCheck | None = None,
    budget: Budget | None = None,
) -> PushResult:
    """Build, commit in the working repository and publish to GitHub, GitLab or a bare repo.

    The first export goes to ``main``; every later one to the export branch with one pull
    request, updated in place while it is open. The token is used for this call only and
    never written anywhere.
    """
    from gitexport.publish import preflight

    rep = reporter(progress, cancel, PHASES)
    unchanged = _unchanged_push(bundle, target, options, token=token, workdir=workdir)
    if unchanged is not None:
        rep.finish("up to date")
        return unchanged
    _prestart_training(budget)
    planned = load(bundle, progress=rep)
    # A missing token, a bad repository name or a working copy that would be refused stop
    # the push now, not after the training.
    preflight(
        target, token, planned.plan, workdir=Path(workdir) if workdir else None, adopt=options.adopt
    )
    with build(
        planned, options, progress=rep, target_provider=target.provider, budget=budget
    ) as built:
        return publish(built, target, options, token=token, workdir=workdir, progress=rep)


def publish(
    built: BuiltProject,
    target: Target,
    options: ExportOptions = DEFAULT_OPTIONS,
    *,
    token: str | None,
    workdir: Path | str | None = None,
    progress: ProgressCallback | Reporter | None = None,
    cancel: CancelCheck | None = None,
) -> PushResult:
    """Publish an already built project (phases ``commit``, ``push``, ``pull_request``)."""
    from gitexport.publish import publish_built  # the forge libraries load only for a push

    rep = reporter(progress, cancel, PHASES)
    result, used_workdir, warnings = publish_built(
        built,
        target,
        token=token,
        reporter=rep,
        workdir=Path(workdir) if workdir else None,
        adopt=options.adopt,
    )
    rep.finish("pushed" if result.status != "up_to_date" else "up to date")
    action = {"pr_opened": "opened", "pr_updated": "updated"}.get(result.status, "none")
    return PushResult(
        pipeline=_pipeline(built.plan),
        status=result.status,
        repo_url=result.repo_url,
        repo_created=result.repo_created,
        branch=result.branch,
        commit=result.commit,
        pull_request=PullRequestRef(number=result.pr_number, url=result.pr_url, action=action),
        up_to_date=result.status == "up_to_date",
        parity=_parity(built),
        metrics=_metrics(built),
        canvas_metrics=built.plan.canvas_results.metrics,
        artifacts=[Artifact(**a.__dict__) for a in result.artifacts],
        workdir=str(used_workdir),
        warnings=[*built.plan.warnings, *warnings],
    )


def archive(
    built: BuiltProject | Path | str, path: Path | str | None = None, *, include_git: bool = False
) -> bytes | Path:
    """The project as a reproducible ZIP: bytes, or written to *path* (returned).

    *built* is a :class:`BuiltProject` (release-asset artifacts included: a download is the
    whole project) or an exported repository folder (tracked files; ``.git`` with
    *include_git*).
    """
    from gitexport import git
    from gitexport.build import BuiltProject
    from gitexport.render import executable_paths
    from gitexport.tree import Tree

    if isinstance(built, BuiltProject):
        # The model stays a ref: the ZIP deflates it from its file in chunks.
        files = Tree([*built.files.entries(), *built.release_files.entries()])
        source: Path | Tree = files
        extra = {"executable": frozenset(executable_paths(files))}
    else:
        source, extra = Path(built), {"include_git": include_git}
    if path is not None:
        target = Path(path)
        if target.is_dir():
            raise DocumentError(f"--zip {target}: is a directory; name a file")
        git.write_zip(source, target, **extra)
        return target
    with tempfile.TemporaryDirectory(prefix="gitexport-zip-") as tmp:
        out = Path(tmp) / "project.zip"
        git.write_zip(source, out, **extra)
        return out.read_bytes()


def dry_run(
    bundle: Bundle, repo_dir: Path | str | None, options: ExportOptions = DEFAULT_OPTIONS
) -> tuple[str, list]:
    """Build (with training) and describe what exporting into *repo_dir* would change."""
    from gitexport.changes import change_summary

    built = build(bundle, options)
    repo = Path(repo_dir) if repo_dir is not None and Path(repo_dir).exists() else None
    return change_summary(built, repo)


# --- helpers ---------------------------------------------------------------------------


def render_tree(
    planned: PlannedBundle, options: ExportOptions, target_provider: str | None = None
) -> Tree:
    """The files the project's templates make before training (plan included)."""
    from dataclasses import replace

    from gitexport.build import input_assets
    from gitexport.render import render_project

    render = options.render_options(target_provider)
    _, assets = input_assets(planned, render)
    assets = replace(assets, extra={".gitexport/plan.json": planned.plan.to_json().encode()})
    return render_project(planned.plan, render, assets)


def _same_export_identity(
    previous_lineage: bytes | None,
    planned: PlannedBundle,
    options: ExportOptions,
    target_provider: str | None,
) -> bool:
    """Whether the last export was made from the same graph, data, templates, exporter and
    options."""
    from gitexport.build import export_identity

    new = export_identity(planned, options.render_options(target_provider))
    return _lineage_export_id(previous_lineage) == new


def _lineage_export_id(lineage: bytes | None) -> str | None:
    if not lineage:
        return None
    try:
        return json.loads(lineage).get("export_id")
    except (ValueError, AttributeError):
        return None


def _unchanged_export(
    bundle: Bundle, repo_dir: Path, options: ExportOptions
) -> ExportResult | None:
    """The result of re-exporting an unchanged pipeline, decided by digests alone (no
    planning, rendering, training or ML import); None when an export is needed."""
    from gitexport import git
    from gitexport.identity import bundle_identity

    if not (repo_dir / ".git").exists():
        return None
    path = bundle.bundle.root if not isinstance(bundle, (str, Path)) else Path(bundle)
    pipeline_id, export_id = bundle_identity(path, options)
    record = git.last_export(repo_dir)
    if record is None or _lineage_export_id(record.lineage) != export_id:
        return None
    if options.merge and not record.on_main:
        return None  # the export waits on its branch: the full path merges it
    metrics = json.loads(
        git.read_export_file(repo_dir, record.commit, "models/metrics.json") or "{}"
    )
    lineage = json.loads(record.lineage)
    return ExportResult(
        pipeline=PipelineRef(
            id=pipeline_id, name=lineage.get("pipeline_name", ""), version=record.pipeline_version
        ),
        status="up_to_date",
        repo=str(repo_dir),
        commit=record.commit,
        branch=record.branch,
        main=git.main_commit(repo_dir),
        up_to_date=True,
        parity=lineage.get("parity"),
        metrics={k: metrics.get(k) for k in ("test", "cv")},
    )


def _unchanged_push(
    bundle: Bundle,
    target: Target,
    options: ExportOptions,
    *,
    token: str | None,
    workdir: Path | str | None,
) -> PushResult | None:
    """The result of pushing an unchanged pipeline whose export the working copy holds and
    the remote has, decided by digests, the remote's refs and its open pull request (no
    planning, rendering, training or ML import); None when the full push is needed.

    With release assets the release must hold every model file of the pushed commit's
    manifest, with its digest (an upload cut short is completed by the full path).
    ``--adopt`` always takes the full path: it checks the adopted repository.
    """
    from gitexport import git
    from gitexport.identity import document_identity
    from gitexport.publish import default_workdir, unchanged_on_remote

    if options.adopt:
        return None
    workdir = Path(workdir) if workdir else default_workdir(target)
    if not (workdir / ".git").exists():
        return None
    path = bundle.bundle.root if not isinstance(bundle, (str, Path)) else Path(bundle)
    document, export_id = document_identity(path, options, target.provider)
    record = git.last_export(workdir)
    if record is None or _lineage_export_id(record.lineage) != export_id:
        return None
    published = unchanged_on_remote(target, token, workdir, document, options.artifacts)
    if published is None:
        return None
    metrics = json.loads(
        git.read_export_file(workdir, record.commit, "models/metrics.json") or "{}"
    )
    lineage = json.loads(record.lineage)
    return PushResult(
        pipeline=PipelineRef(
            id=document.pipeline.id, name=document.pipeline.name, version=document.pipeline.version
        ),
        status="up_to_date",
        repo_url=published.repo_url,
        repo_created=False,
        branch=published.branch,
        commit=published.commit,
        pull_request=PullRequestRef(
            number=published.pr_number, url=published.pr_url, action="none"
        ),
        up_to_date=True,
        parity=lineage.get("parity"),
        metrics={k: metrics.get(k) for k in ("test", "cv")},
        canvas_metrics=document.results.metrics,
        artifacts=[Artifact(**a.__dict__) for a in published.artifacts],
        workdir=str(workdir),
    )


def history(repo_dir: Path | str) -> list[ExportRecord]:
    """The exports recorded in a repository's history (commit trailers), newest first."""
    from gitexport.git import read_history

    return read_history(Path(repo_dir))


def _prestart_training(budget: Budget | None) -> None:
    """The training's interpreter imports scikit-learn while we plan (gitexport.project_python)."""
    from gitexport import project_python

    project_python.prestart(budget.memory_mb if budget else None)


def build_result(built: BuiltProject) -> BuildResult:
    """The result object of a build (``--json`` of ``export --zip``, a build-only job)."""
    return BuildResult(
        pipeline=_pipeline(built.plan),
        parity=_parity(built),
        metrics=_metrics(built),
        canvas_metrics=built.plan.canvas_results.metrics,
        warnings=list(built.plan.warnings),
    )


def _pipeline(plan: ExportPlan) -> PipelineRef:
    return PipelineRef(id=plan.pipeline.id, name=plan.pipeline.name, version=plan.pipeline.version)


def _parity(built: BuiltProject) -> dict | None:
    if built.parity is None:
        return None
    return built.parity.to_dict()  # verdict (exact / within_tolerance / failed), ok, description


def _metrics(built: BuiltProject) -> dict:
    return {k: built.metrics.get(k) for k in ("test", "cv")}
