"""The I/O edge of planning: read a bundle and its data, then plan (pure)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gitexport.catalog import CLASSIFIER_MODEL_TYPES, load_catalog
from gitexport.document import Bundle, load_bundle
from gitexport.errors import DocumentError, Problem, node_where
from gitexport.graph import Chain, analyse_graph
from gitexport.plan import build_plan, node_config
from gitexport.plan_model import Call, ExportPlan
from gitexport.profile import DataProfile, load_training_frame, profile_data


@dataclass
class PlannedBundle:
    bundle: Bundle
    chain: Chain
    frame: pd.DataFrame
    data_path: Path
    profile: DataProfile
    plan: ExportPlan


def plan_bundle(path: Path | str) -> PlannedBundle:
    """Load, validate and plan a bundle; raises DocumentError with every problem found."""
    catalog = load_catalog()
    bundle = load_bundle(path, catalog)
    chain = analyse_graph(bundle.document)
    source = bundle.document.source(chain.dataset.data.config["source_id"])
    data_path, frame = load_training_frame(bundle, source)
    split = next(n for n in chain.nodes if n.type == "feature_target_split" and not n.data.disabled)
    split_cfg = node_config(split, catalog)
    model_cfg = node_config(chain.model, catalog)
    _check_target(frame, split, split_cfg["target"])
    split_where = node_where(split.id, split.data.label)
    profile = profile_data(
        data_path,
        source.training_file,
        frame,
        target=split_cfg["target"],
        test_size=split_cfg["test_size"],
        stratify=split_cfg["stratify"],
        random_state=split_cfg["random_state"],
        classification=model_cfg["model_type"] in CLASSIFIER_MODEL_TYPES,
        split_where=split_where,
    )
    plan = build_plan(bundle, chain, profile, catalog)
    problems = check_trainable(plan, chain, profile, catalog, split_where=split_where)
    problems += _check_reference(bundle, plan)
    if problems:
        raise DocumentError(problems)
    return PlannedBundle(bundle, chain, frame, data_path, profile, plan)


# --- what would only fail after training: checked before it ---------------------------------
# Each of these used to surface as a raw scikit-learn traceback (exit 1) once training ran.


def check_trainable(
    plan: ExportPlan, chain: Chain, profile: DataProfile, catalog, *, split_where: str
) -> list[Problem]:
    """Problems the data and the parameters would raise in training or evaluation."""
    problems = _check_estimator_params(plan, chain)
    problems += _check_step_params(plan, chain)
    problems += _check_folds(plan, chain, profile, catalog)
    problems += _check_test_only_missing(plan, profile, split_where)
    return problems


def _validate_params(module: str, name: str, kwargs: dict) -> str | None:
    """scikit-learn's own check of constructor parameters (types, ranges), without fitting."""
    cls = getattr(importlib.import_module(module), name)
    try:
        estimator = cls(**kwargs)
        validate = getattr(estimator, "_validate_params", None)  # scikit-learn >= 1.2
        if validate is not None:
            validate()
    except Exception as exc:  # noqa: BLE001 - InvalidParameterError, TypeError, ValueError...
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def _check_estimator_params(plan: ExportPlan, chain: Chain) -> list[Problem]:
    model = plan.model
    call = model.estimator
    where = node_where(model.node_id, model.label)
    kwargs = _as_called(call)
    problems = []
    for key, value in kwargs.items():
        field = f"config.hyperparameters.{key}" if key in model.hyperparameters else f"config.{key}"
        error = _validate_params(call.module, call.name, {key: value})
        if error:
            problems.append(Problem(node_where(model.node_id, model.label, field), error))
    for key, values in (model.param_grid or {}).items():
        for value in values:
            value = tuple(value) if key in call.tuples and isinstance(value, list) else value
            error = _validate_params(call.module, call.name, {**kwargs, key: value})
            if error:
                problems.append(
                    Problem(
                        node_where(model.node_id, model.label, f"config.param_grid.{key}"), error
                    )
                )
                break
    if model.node_type == "hyperparameter_tuning":
        problems += _check_search(model)
    if not problems:  # each value is fine: the combination may still not be
        error = _validate_params(call.module, call.name, kwargs)
        if error:
            problems.append(Problem(f"{where}, config.hyperparameters", error))
    return problems


def _check_search(model) -> list[Problem]:
    """The search's own parameters (``scoring`` a scorer name, ``n_iter`` at least 1), as
    scikit-learn checks them when the search starts."""
    from sklearn.dummy import DummyClassifier

    problems = []
    if model.scoring is not None:
        error = _validate_params(
            "sklearn.model_selection",
            "GridSearchCV",
            {"estimator": DummyClassifier(), "param_grid": {}, "scoring": model.scoring},
        )
        if error:
            problems.append(
                Problem(node_where(model.node_id, model.label, "config.scoring"), error)
            )
    if model.search == "random" and (model.n_iter is None or model.n_iter < 1):
        problems.append(
            Problem(
                node_where(model.node_id, model.label, "config.n_iter"),
                f"{model.n_iter} candidates; a random search tries at least 1",
            )
        )
    return problems


def _as_called(call: Call) -> dict:
    """The keyword arguments as the generated code passes them (JSON lists back to tuples)."""
    return {
        k: tuple(v) if k in call.tuples and isinstance(v, list) else v
        for k, v in call.kwargs.items()
    }


def _library_calls(call: Call):
    """The scikit-learn / imbalanced-learn constructors in a step's call, nested ones too (a
    scaler inside ``ColumnScaler``); the project's own transformers are not importable here."""
    if call.module.split(".")[0] in ("sklearn", "imblearn"):
        yield call
    for value in call.kwargs.values():
        if isinstance(value, Call):
            yield from _library_calls(value)


def _check_step_params(plan: ExportPlan, chain: Chain) -> list[Problem]:
    nodes = {node.id: node for node in chain.nodes}
    problems = []
    for step in plan.steps:
        if step.disabled:
            continue
        config = nodes[step.node_id].data.config if step.node_id in nodes else {}
        for call in _library_calls(step.call):
            for key, value in _as_called(call).items():
                if isinstance(value, Call):
                    continue
                error = _validate_params(call.module, call.name, {key: value})
                if error:
                    field = f"config.{key}" if key in config else "config"
                    problems.append(Problem(node_where(step.node_id, step.label, field), error))
    return problems


def _check_folds(plan: ExportPlan, chain: Chain, profile: DataProfile, catalog) -> list[Problem]:
    """Cross-validation folds the training rows can fill (KFold needs a row per fold, a
    stratified one a row of some class per fold), for the model and for target encoding."""
    problems = []
    classification = plan.problem_type == "classification"
    largest_class = max(profile.train_class_counts, default=0)
    model = plan.model
    folds = [(model.node_id, model.label, "config.cv_folds", model.cv_folds, model.node_type)]
    for node in chain.nodes:
        if node.type == "target_encoding" and not node.data.disabled:
            folds.append(
                (node.id, node.data.label, "config.cv", node_config(node, catalog)["cv"], node.type)
            )
    for node_id, label, field, n, node_type in folds:
        where = node_where(node_id, label, field)
        if n == 0 and node_type == "train_model":
            continue  # no cross-validation
        if n < 2:
            allowed = (
                "0 (no cross-validation) or at least 2"
                if node_type == "train_model"
                else "at least 2"
            )
            problems.append(Problem(where, f"{n} folds; must be {allowed}"))
        elif n > profile.n_train:
            problems.append(
                Problem(where, f"{n} folds but the training split has only {profile.n_train} rows")
            )
        elif classification and n > largest_class:
            problems.append(
                Problem(
                    where,
                    f"{n} stratified folds but no class has that many training rows "
                    f"(the largest has {largest_class})",
                )
            )
    return problems


def _check_test_only_missing(
    plan: ExportPlan, profile: DataProfile, split_where: str
) -> list[Problem]:
    """A column with missing values only in the test rows: nothing fitted on the training
    rows handles them (an automatic imputation takes the columns missing in training), so
    evaluating the test rows fails ("Input X contains NaN")."""
    problems = []
    for field in plan.serving_schema:
        if field.nullable:  # a missing value there is handled before the model
            continue
        column = profile.column(field.name)
        if column.missing_in_train == 0 and column.missing_in_test > 0:
            problems.append(
                Problem(
                    split_where,
                    f"column {field.name!r} has {column.missing_in_test} missing value(s) in the "
                    "test rows and none in the training rows, and nothing before the model "
                    "handles them; impute it by name (an imputation node with columns: "
                    f"[{field.name!r}]) or drop those rows",
                )
            )
    return problems


def _check_reference(bundle: Bundle, plan: ExportPlan) -> list[Problem]:
    """The canvas's reference predictions: a CSV with ``prediction`` and the columns a request
    needs, as the parity check after training reads it."""
    rel = bundle.document.results.reference_predictions
    if rel is None:
        return []
    where = "results.reference_predictions"
    try:
        reference = pd.read_csv(bundle.resolve(rel))
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bundle problem
        return [Problem(where, f"cannot read {rel!r}: {exc}")]
    if "prediction" not in reference.columns:
        return [Problem(where, f"{rel!r} has no 'prediction' column (the canvas's predictions)")]
    required = [f.name for f in plan.serving_schema if not f.nullable]
    missing = [name for name in required if name not in reference.columns]
    if missing:
        return [
            Problem(
                where,
                f"{rel!r} lacks column(s) the model needs: {', '.join(map(repr, missing[:10]))}"
                + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""),
            )
        ]
    return []


def _check_target(frame: pd.DataFrame, split, target: str) -> None:
    if target not in frame.columns:
        raise DocumentError(
            Problem(
                node_where(split.id, split.data.label, "config.target"),
                f"target column {target!r} is not in the data",
            )
        )
