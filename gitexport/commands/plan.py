"""``gitexport plan BUNDLE``: what the export would generate, without writing anything."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from gitexport.commands._args import add_bundle_source, bundle_path
from gitexport.console import warn
from gitexport.terminal import for_terminal

if TYPE_CHECKING:
    from gitexport.plan_model import ExportPlan


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="validate a canvas bundle and show its export plan")
    add_bundle_source(p)
    p.add_argument("--json", action="store_true", help="print the whole plan as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from gitexport import api

    plan = api.plan(bundle_path(args))
    for warning in plan.warnings:
        warn(warning)
    if args.json:
        sys.stdout.write(plan.to_json())
    else:
        sys.stdout.write(summary(plan))
    return 0


def summary(plan: ExportPlan) -> str:
    """The plan as a person reads it: steps in order, skipped nodes, serving input, packages."""
    p = plan.pipeline
    lines = [
        f"{p.name} (pipeline {p.id!r}, version {p.version}) → project {plan.project_name!r}",
        f"Data: {plan.source.type} {plan.source.bundle_file!r}, {plan.source.n_rows} rows",
        f"Task: {plan.problem_type} of {plan.target!r}"
        + (f", classes {', '.join(map(repr, plan.classes))}" if plan.classes else ""),
        f"Split: test_size={plan.split.test_size}, stratify={plan.split.stratify}, "
        f"random_state={plan.split.random_state} (node {plan.split.node_id})",
        "",
        "Steps (training → serving):",
    ]
    for i, step in enumerate(plan.steps, 1):
        where = "training only" if step.role in ("row_filter", "sampler") else step.role
        lines.append(f"  {i}. {step.node_id} {step.label!r} [{step.node_type}, {where}]")
        lines.append(f"     training: {step.training}")
        lines.append(f"     serving:  {step.serving}")
        if step.auto_rule:
            lines.append(f"     columns:  automatic, {step.auto_rule}")
    m = plan.model
    params = ", ".join(f"{k}={v!r}" for k, v in m.estimator.kwargs.items())
    lines += [
        f"  {len(plan.steps) + 1}. {m.node_id} {m.label!r} [{m.node_type}]: {m.estimator.name}({params})",
        f"     cross-validation: {m.cv_folds} folds" if m.cv_folds else "     no cross-validation",
    ]
    if m.search:
        lines.append(
            f"     {m.search} search over {', '.join(m.param_grid or {})}, scoring={m.scoring}"
        )
    lines.append(
        f"Evaluation: {', '.join(plan.evaluation.metrics)}"
        + (
            f" (positive class {plan.evaluation.positive_label!r})"
            if plan.evaluation.positive_label
            else ""
        )
    )
    exact = "" if plan.feature_columns_exact else " (estimated; some choices are made at fit time)"
    lines.append(
        f"Model features ({len(plan.feature_columns)}){exact}: {', '.join(plan.feature_columns)}"
    )
    lines += ["", "Skipped nodes:"]
    lines += [f"  {s.node_id} {s.label!r} [{s.node_type}]: {s.reason}" for s in plan.skipped] or [
        "  none"
    ]
    lines += ["", "Serving input (one field per raw column the model needs):"]
    for f in plan.serving_schema:
        cats = ""
        if f.categories:
            cats = (" one of " if f.reject_unknown else " seen: ") + ", ".join(
                map(repr, f.categories[:8])
            )
            cats += " …" if len(f.categories) > 8 else ""
        lines.append(f"  {f.name!r}: {f.kind}, {'nullable' if f.nullable else 'required'}{cats}")
    lines += ["", "Packages:"]
    lines += [f"  {pkg.name}=={pkg.version}  ({pkg.why})" for pkg in plan.packages]
    for warning in plan.warnings:
        lines.append(f"warning: {warning}")
    # Each entry is one line: names are escaped before the lines are joined, so a newline or
    # a bidi override in a name can never forge or reorder a line.
    return "".join(for_terminal(line) + "\n" for line in lines)
