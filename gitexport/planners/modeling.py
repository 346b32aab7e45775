"""The catalog category ``modeling``: the model (trained or tuned) and its evaluation.

These nodes are structural, not steps of the feature pipeline: ``build_plan`` calls
:func:`plan_model`, :func:`plan_evaluation` and :func:`hyperparameter_warnings` itself.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

from gitexport.catalog import Catalog, node_config
from gitexport.columns import Frame
from gitexport.document import Node
from gitexport.errors import node_where
from gitexport.graph import Chain
from gitexport.plan_model import Call, EvaluationPlan, ModelPlan
from gitexport.planners.base import PlanContext, check_numbers_only, fmt_cols

ESTIMATORS = {
    "logistic_regression": ("sklearn.linear_model", "LogisticRegression"),
    "random_forest_classifier": ("sklearn.ensemble", "RandomForestClassifier"),
    "gradient_boosting_classifier": ("sklearn.ensemble", "GradientBoostingClassifier"),
    "hist_gradient_boosting_classifier": ("sklearn.ensemble", "HistGradientBoostingClassifier"),
    "decision_tree_classifier": ("sklearn.tree", "DecisionTreeClassifier"),
    "knn_classifier": ("sklearn.neighbors", "KNeighborsClassifier"),
    "svc": ("sklearn.svm", "SVC"),
    "linear_regression": ("sklearn.linear_model", "LinearRegression"),
    "ridge": ("sklearn.linear_model", "Ridge"),
    "lasso": ("sklearn.linear_model", "Lasso"),
    "random_forest_regressor": ("sklearn.ensemble", "RandomForestRegressor"),
    "gradient_boosting_regressor": ("sklearn.ensemble", "GradientBoostingRegressor"),
    "hist_gradient_boosting_regressor": ("sklearn.ensemble", "HistGradientBoostingRegressor"),
    "decision_tree_regressor": ("sklearn.tree", "DecisionTreeRegressor"),
    "svr": ("sklearn.svm", "SVR"),
}

CLASSIFICATION_METRICS = {
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "confusion_matrix",
}
REGRESSION_METRICS = {"rmse", "mae", "r2", "mape"}
DEFAULT_METRICS = {
    "classification": ["accuracy", "precision", "recall", "f1", "roc_auc"],
    "regression": ["rmse", "mae", "r2"],
}

# The catalog leaves hyperparameters free (a dict of estimator keyword arguments) and gives no
# ranges, so these are ours: generous bounds of what a canvas pipeline sensibly trains with.
# A value beyond them is not an error (scikit-learn decides that) but a plan-time warning,
# because it usually means a typo that makes training run for hours (n_estimators=10**7).
# None = no bound on that side.
USUAL_RANGES: dict[str, tuple[float | None, float | None]] = {
    "n_estimators": (1, 10_000),
    "max_iter": (None, 1_000_000),  # SVC's default is -1 (no limit)
    "max_depth": (1, 1_000),
    "max_leaf_nodes": (2, 1_000_000),
    "n_neighbors": (1, 10_000),
    "degree": (0, 20),
    "learning_rate": (1e-6, 10),
    "C": (1e-6, 1e6),
    "alpha": (0, 1e6),
    "n_iter": (1, 10_000),  # hyperparameter_tuning's number of random-search candidates
}


def estimator_class(model_type: str) -> tuple[str, str, type]:
    """(module, class name, class) of a catalog ``model_type``."""
    module, name = ESTIMATORS[model_type]
    return module, name, getattr(importlib.import_module(module), name)


def plan_model(node: Node, cfg: dict, frame: Frame, ctx: PlanContext) -> ModelPlan:
    """The estimator of a ``train_model`` or ``hyperparameter_tuning`` node, checked."""
    model_type = cfg["model_type"]
    module, name, cls = estimator_class(model_type)
    accepted = set(cls().get_params())
    tuning = node.type == "hyperparameter_tuning"
    hyper = {} if tuning else dict(cfg["hyperparameters"])
    for key in hyper:
        if key not in accepted:
            ctx.error(node, f"{name} has no parameter {key!r}", f"config.hyperparameters.{key}")
    if tuning:
        for key, values in cfg["param_grid"].items():
            if key not in accepted:
                ctx.error(node, f"{name} has no parameter {key!r}", f"config.param_grid.{key}")
            if not values:
                ctx.error(node, "an empty list of candidates", f"config.param_grid.{key}")
    if "random_state" in accepted and "random_state" not in hyper:
        hyper["random_state"] = cfg["random_state"]
    try:
        instance = cls(**{k: v for k, v in hyper.items() if k in accepted})
        allows_nan = bool(instance.__sklearn_tags__().input_tags.allow_nan)
        has_proba = hasattr(instance, "predict_proba")
    except Exception as exc:  # noqa: BLE001 - an invalid combination of hyperparameters
        ctx.error(node, f"cannot build {name}: {exc}", "config.hyperparameters")
        allows_nan, has_proba = False, False
    check_numbers_only(
        node,
        frame,
        ctx,
        not_numeric=lambda col: (
            f"column {col.name!r} reaches the model as {col.kind}; the model needs "
            "numbers (encode, cast or drop it before the model)"
        ),
        missing=None
        if allows_nan
        else lambda col: (
            f"column {col.name!r} may hold missing values and {name} cannot take "
            "them (add an imputation node before the model)"
        ),
    )
    return ModelPlan(
        node_id=node.id,
        label=node.data.label,
        node_type=node.type,
        model_type=model_type,
        estimator=Call(module=module, name=name, kwargs=hyper),
        hyperparameters=dict(cfg.get("hyperparameters") or {}),
        cv_folds=cfg["cv_folds"],
        search=cfg.get("search") if tuning else None,
        param_grid=cfg.get("param_grid") if tuning else None,
        n_iter=cfg.get("n_iter") if tuning else None,
        scoring=cfg.get("scoring") if tuning else None,
        search_random_state=cfg["random_state"] if tuning else None,
        refit_on_train_and_validation=bool(cfg.get("refit_on_train_and_validation", False)),
        has_predict_proba=has_proba,
        allows_nan=allows_nan,
    )


def _outside(value: Any, bounds: tuple[float | None, float | None]) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and math.isnan(value):
        return False  # not a size at all: the document checks refuse it, not this warning
    low, high = bounds
    return (low is not None and value < low) or (high is not None and value > high)


def _number(value: float) -> str:
    """A number as a user typed it, shortened when it has hundreds of digits (10**400)."""
    if isinstance(value, float):
        return f"{value:g}"
    if abs(value) >= 10**20:  # math.log10 takes any int; str() refuses ones over 4300 digits
        return f"about 10**{int(math.log10(abs(value)))}"
    return str(value)


def _range_text(bounds: tuple[float | None, float | None]) -> str:
    low, high = bounds
    if low is None:
        return f"at most {_number(high)}"
    if high is None:
        return f"at least {_number(low)}"
    return f"{_number(low)} to {_number(high)}"


def hyperparameter_warnings(node: Node, cfg: dict) -> list[str]:
    """A warning for each hyperparameter (or tuning candidate) far outside its usual range."""
    values: list[tuple[str, str, Any]] = []
    if node.type == "hyperparameter_tuning":
        values += [
            (f"config.param_grid.{key}", key, v)
            for key, candidates in (cfg.get("param_grid") or {}).items()
            for v in candidates or ()
        ]
        if cfg.get("search") == "random":
            values.append(("config.n_iter", "n_iter", cfg.get("n_iter")))
    else:
        values += [
            (f"config.hyperparameters.{key}", key, v)
            for key, v in (cfg.get("hyperparameters") or {}).items()
            if key != "n_iter"  # an estimator's n_iter is not the search's
        ]
    warnings = []
    for where, key, value in values:
        bounds = USUAL_RANGES.get(key)
        if bounds is not None and _outside(value, bounds):
            warnings.append(
                f"{node_where(node.id, node.data.label, where)}: {_number(value)} is far outside "
                f"the usual range of {key} ({_range_text(bounds)}); training may take very long "
                "or run out of memory"
            )
    return warnings


def plan_evaluation(
    chain: Chain, catalog: Catalog, ctx: PlanContext, model: ModelPlan, classes: list
) -> EvaluationPlan:
    """The metrics of the ``evaluate_model`` node (or the task's defaults without one)."""
    task = "classification" if ctx.classification else "regression"
    node = chain.evaluate
    if node is None:
        return EvaluationPlan(node_id=None, metrics=DEFAULT_METRICS[task])
    cfg = node_config(node, catalog)
    metrics = list(cfg["metrics"]) or DEFAULT_METRICS[task]
    allowed = CLASSIFICATION_METRICS if ctx.classification else REGRESSION_METRICS
    for metric in metrics:
        if metric not in allowed:
            ctx.error(
                node,
                f"{metric!r} is a metric of {'regression' if ctx.classification else 'classification'}, "
                f"the task is {task}",
                "config.metrics",
            )
    if "log_loss" in metrics and not model.has_predict_proba:
        ctx.error(
            node,
            f"log_loss needs predict_proba, which {model.estimator.name} does not have "
            "with these hyperparameters",
            "config.metrics",
        )
    positive = cfg["positive_label"]
    if positive is not None:
        if not ctx.classification:
            ctx.error(
                node, "positive_label only applies to classification", "config.positive_label"
            )
        elif positive not in classes and str(positive) not in [str(c) for c in classes]:
            ctx.error(
                node,
                f"{positive!r} is not a class of {ctx.target!r} ({fmt_cols(classes)})",
                "config.positive_label",
            )
        else:
            positive = next(c for c in classes if c == positive or str(c) == str(positive))
    return EvaluationPlan(node_id=node.id, metrics=metrics, positive_label=positive)
