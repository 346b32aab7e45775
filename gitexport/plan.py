"""Document + data profile → :class:`~gitexport.plan_model.ExportPlan` (pure: no I/O).

The public entry of planning. Each node is planned by its catalog category's module in
:mod:`gitexport.planners` (a step of the feature pipeline and what it does to the columns,
:mod:`gitexport.columns`); this module walks the exported chain and puts the plan together.
Every export error the spec names is collected with the node id, its label and the column.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from gitexport.catalog import CLASSIFIER_MODEL_TYPES, Catalog, node_config
from gitexport.columns import Col, Frame
from gitexport.document import Bundle, Document, Node
from gitexport.errors import DocumentError, Problem, node_where
from gitexport.graph import Chain
from gitexport.packages import plan_packages
from gitexport.plan_model import (
    CanvasResults,
    ExportPlan,
    ModelPlan,
    PipelineInfo,
    RawColumn,
    ServingField,
    SkippedNode,
    Step,
)
from gitexport.planners import Effect, PlanContext, step_planners
from gitexport.planners.base import fmt_cols
from gitexport.planners.modeling import hyperparameter_warnings, plan_evaluation, plan_model
from gitexport.planners.source import plan_source
from gitexport.planners.utility import plan_split
from gitexport.profile import DataProfile

__all__ = ["MAX_SLUG_LENGTH", "build_plan", "node_config", "plan_packages", "project_slug"]

# The slug names the distribution (pyproject.toml), the image and the Kubernetes objects: a
# DNS-1123 label is at most 63 characters.
MAX_SLUG_LENGTH = 60

# The catalog category whose nodes learn the training categories of the columns they read.
ENCODING_CATEGORY = "encoding"


def build_plan(bundle: Bundle, chain: Chain, profile: DataProfile, catalog: Catalog) -> ExportPlan:
    """The whole plan; raises :class:`DocumentError` listing every export error."""
    document = bundle.document
    split_node = _split_node(chain)
    split_cfg = node_config(split_node, catalog)
    model_cfg = node_config(chain.model, catalog)
    ctx = _planning_context(split_node, split_cfg, chain.model, model_cfg, profile)
    frame = _source_frame(profile, ctx.target)
    walked = _plan_steps(chain, catalog, frame, ctx)
    model = plan_model(chain.model, model_cfg, frame, ctx)
    classes = list(profile.target_classes)
    evaluation = plan_evaluation(chain, catalog, ctx, model, classes)
    if ctx.problems:
        raise DocumentError(ctx.problems)

    raw_columns = _raw_columns(profile, frame, ctx.target)
    source = plan_source(document, chain, profile)
    return ExportPlan(
        pipeline=_pipeline_info(document),
        project_name=project_slug(document),
        catalog_version=document.catalog_version,
        source=source,
        raw_columns=raw_columns,
        split=plan_split(split_node, split_cfg),
        problem_type="classification" if ctx.classification else "regression",
        target=ctx.target,
        classes=classes,
        steps=walked.steps,
        model=model,
        evaluation=evaluation,
        feature_columns=frame.names(),
        feature_columns_exact=ctx.exact,
        serving_schema=_serving_schema(raw_columns, frame, model, walked),
        skipped=_skipped_nodes(document, chain),
        packages=plan_packages(walked.uses_imblearn, source.type, source.file_format),
        canvas_results=CanvasResults(
            metrics=document.results.metrics,
            reference_predictions=document.results.reference_predictions,
            trained_at=document.results.trained_at,
        ),
        warnings=[
            *bundle.warnings,
            *walked.warnings,
            *hyperparameter_warnings(chain.model, model_cfg),
        ],
    )


# --- the steps of build_plan ---------------------------------------------------------------


def _split_node(chain: Chain) -> Node:
    return next(n for n in chain.nodes if n.type == "feature_target_split" and not n.data.disabled)


def _planning_context(
    split_node: Node, split_cfg: dict, model_node: Node, model_cfg: dict, profile: DataProfile
) -> PlanContext:
    """The context node planners share; checks the target against the task first."""
    target = split_cfg["target"]
    classification = model_cfg["model_type"] in CLASSIFIER_MODEL_TYPES
    names = [c.name for c in profile.columns]
    if target not in names:
        raise DocumentError(
            Problem(
                node_where(split_node.id, split_node.data.label, "config.target"),
                f"target column {target!r} is not in the data ({fmt_cols(names)})",
            )
        )
    ctx = PlanContext(
        profile=profile,
        target=target,
        classification=classification,
        n_classes=len(profile.target_classes),
    )
    if classification and len(profile.target_classes) < 2:
        ctx.error(split_node, f"target {target!r} has fewer than two classes", "config.target")
    if not classification and profile.column(target).kind not in ("integer", "float"):
        ctx.error(
            model_node,
            f"{model_cfg['model_type']} is a regressor but target {target!r} is "
            f"{profile.column(target).kind}",
            "config.model_type",
        )
    return ctx


def _source_frame(profile: DataProfile, target: str) -> Frame:
    """The feature frame as the data source delivers it: every raw column but the target."""
    return Frame(
        [
            Col(
                c.name,
                c.kind,
                frozenset({c.name}),
                True,
                c.missing_in_train > 0,
                frozenset({c.name}),
                c.train_categories,
            )
            for c in profile.columns
            if c.name != target
        ]
    )


@dataclass
class _PlannedSteps:
    """The feature pipeline's steps and what they tell the serving schema."""

    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    known_categories: dict[str, list[str]] = field(default_factory=dict)  # raw column → seen
    rejecting: dict[str, list[str]] = field(default_factory=dict)  # raw column → only these
    uses: dict[str, list[str]] = field(default_factory=dict)  # raw column → nodes reading it

    @property
    def uses_imblearn(self) -> bool:
        return any(s.role in ("sampler", "row_filter") for s in self.steps)


def _plan_steps(chain: Chain, catalog: Catalog, frame: Frame, ctx: PlanContext) -> _PlannedSteps:
    """Plan every enabled node between the data source and the model, in chain order."""
    planners = step_planners(catalog)
    planned = _PlannedSteps()
    used_names: set[str] = set()
    for node in chain.nodes[1:-1]:
        if node.type == "feature_target_split" or node.data.disabled:
            continue
        before = frame.copy()
        effect = planners[node.type](node, node_config(node, catalog), frame, ctx)
        planned.warnings += effect.warnings
        if effect.role == "row_filter":
            # which rows remain is only known at fit time, so whether values remain missing too
            for col in frame.cols:
                if col.train_missing:
                    frame.replace_col(col.name, missing_certain=False)
        _record_column_uses(
            planned, node, effect, before, catalog.nodes[node.type].category == ENCODING_CATEGORY
        )
        planned.steps.append(_step(node, effect, _step_name(node, used_names)))
    return planned


def _record_column_uses(
    planned: _PlannedSteps, node: Node, effect: Effect, before: Frame, encodes: bool
) -> None:
    """Which raw columns the node reads, and the categories an encoding node learns of them."""
    used_as = f"{node.id} ({node.type})"
    for name in effect.touches:
        col = before.get(name)
        if col is None:
            continue
        for origin in col.origin:
            used_by = planned.uses.setdefault(origin, [])
            if used_as not in used_by:
                used_by.append(used_as)
        if encodes and col.raw and col.categories is not None:
            planned.known_categories[name] = list(col.categories)
            if effect.rejects_unknown_categories:
                planned.rejecting[name] = list(col.categories)


def _step(node: Node, effect: Effect, step_name: str) -> Step:
    return Step(
        node_id=node.id,
        label=node.data.label,
        node_type=node.type,
        role=effect.role,
        step_name=step_name,
        call=effect.call,
        columns=effect.columns,
        auto_rule=effect.auto_rule,
        touches=effect.touches,
        adds=effect.adds,
        removes=effect.removes,
        training=effect.training,
        serving=effect.serving,
    )


def _step_name(node: Node, used: set[str]) -> str:
    """A unique identifier for the node's step in the generated pipeline."""
    base = re.sub(r"[^0-9a-zA-Z]+", "_", f"{node.id}_{node.type}").strip("_").lower() or "step"
    if base[0].isdigit():
        base = "n" + base
    base = base.replace("__", "_")
    name, i = base, 2
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


def _raw_columns(profile: DataProfile, final: Frame, target: str) -> list[RawColumn]:
    """Every column of the data and its role: the target, a feature the model needs, unused."""
    needed = set().union(*(c.origin for c in final.cols)) if final.cols else set()
    return [
        RawColumn(
            name=c.name,
            dtype=c.dtype,
            kind=c.kind,
            role="target" if c.name == target else ("feature" if c.name in needed else "unused"),
            missing_in_data=c.missing_in_data,
        )
        for c in profile.columns
    ]


def _serving_schema(
    raw: list[RawColumn], final: Frame, model: ModelPlan, planned: _PlannedSteps
) -> list[ServingField]:
    """The prediction API's input: the raw feature columns the model's inputs derive from."""
    needed = set().union(*(c.origin for c in final.cols)) if final.cols else set()
    null_reaches = set().union(*(c.null_from for c in final.cols)) if final.cols else set()
    fields = []
    for col in raw:
        if col.role != "feature" or col.name not in needed:
            continue
        nullable = model.allows_nan or col.name not in null_reaches
        used_by = planned.uses.get(col.name, [])
        description = f"{col.kind} column {col.name!r} of the source"
        if used_by:
            description += "; used by " + ", ".join(used_by)
        fields.append(
            ServingField(
                name=col.name,
                kind=col.kind,
                nullable=nullable,
                categories=planned.rejecting.get(col.name)
                or planned.known_categories.get(col.name),
                reject_unknown=col.name in planned.rejecting,
                description=description,
            )
        )
    return fields


def _pipeline_info(document: Document) -> PipelineInfo:
    p = document.pipeline
    return PipelineInfo(
        id=p.id,
        name=p.name,
        version=p.version,
        owner=p.owner,
        description=p.description or "",
        updated_at=p.updated_at,
    )


def _skipped_nodes(document: Document, chain: Chain) -> list[SkippedNode]:
    skipped = []
    for node_id, reason in chain.skipped:
        node = document.node(node_id)
        skipped.append(
            SkippedNode(node_id=node_id, label=node.data.label, node_type=node.type, reason=reason)
        )
    return skipped


# --- the project's name ---------------------------------------------------------------------


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def project_slug(document: Document) -> str:
    """The project's name: the document's ``export.project_name``, or one made of the pipeline's.

    A made one is a DNS-1123 label and a valid distribution name, at most
    :data:`MAX_SLUG_LENGTH` characters: a longer one is cut and ends in a hash of the whole, so
    two long names that differ only at the end stay two names.
    """
    if document.export.project_name:
        return document.export.project_name
    slug = _slugify(document.pipeline.name) or _slugify(document.pipeline.id) or "ml-project"
    if len(slug) <= MAX_SLUG_LENGTH:
        return slug
    digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
    return slug[: MAX_SLUG_LENGTH - len(digest) - 1].rstrip("-") + "-" + digest
