"""Document + data profile → :class:`~gitexport.plan_model.ExportPlan` (pure: no I/O).

One function per node type says how the node becomes a step of the generated pipeline and
what it does to the columns (:mod:`gitexport.columns`). Every export error the spec names is
collected with the node id, its label and the column.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gitexport.catalog import CLASSIFIER_MODEL_TYPES, Catalog
from gitexport.columns import Col, Frame
from gitexport.document import Bundle, Document, Node
from gitexport.errors import DocumentError, Problem, node_where
from gitexport.graph import Chain
from gitexport.plan_model import (
    Call,
    CanvasResults,
    EvaluationPlan,
    ExportPlan,
    ModelPlan,
    Package,
    PipelineInfo,
    RawColumn,
    ServingField,
    SkippedNode,
    SourcePlan,
    SplitPlan,
    Step,
)
from gitexport.profile import DataProfile

TRANSFORMERS = "src.features.transformers"

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

SAMPLERS = {
    "smote": (
        "imblearn.over_sampling",
        "SMOTE",
        ("sampling_strategy", "k_neighbors", "random_state"),
    ),
    "adasyn": (
        "imblearn.over_sampling",
        "ADASYN",
        ("sampling_strategy", "n_neighbors", "random_state"),
    ),
    "random_oversample": (
        "imblearn.over_sampling",
        "RandomOverSampler",
        ("sampling_strategy", "random_state"),
    ),
    "random_undersample": (
        "imblearn.under_sampling",
        "RandomUnderSampler",
        ("sampling_strategy", "random_state"),
    ),
    "near_miss": (
        "imblearn.under_sampling",
        "NearMiss",
        ("sampling_strategy", "version", "n_neighbors"),
    ),
}
NEEDS_NUMERIC_SAMPLERS = {"smote", "adasyn", "near_miss"}

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


@dataclass
class _Ctx:
    """What node planners share while walking the chain."""

    profile: DataProfile
    target: str
    classification: bool
    n_classes: int
    problems: list[Problem] = field(default_factory=list)
    exact: bool = True  # False once a data-dependent choice may change the columns

    def error(self, node: Node, message: str, fld: str | None = None) -> None:
        self.problems.append(Problem(node_where(node.id, node.data.label, fld), message))


@dataclass
class _Effect:
    role: str
    call: Call
    columns: list[str] | None
    auto_rule: str | None
    touches: list[str]
    adds: list[str]
    removes: list[str]
    training: str
    serving: str


def _cfg(node: Node, catalog: Catalog) -> dict[str, Any]:
    spec = catalog.nodes[node.type]
    config = {name: param.default for name, param in spec.params.items()}
    config.update(node.data.config)
    return config


def _fmt_cols(names) -> str:
    names = list(names)
    if not names:
        return "no column"
    shown = ", ".join(repr(n) for n in names[:6])
    return shown + (f" and {len(names) - 6} more" if len(names) > 6 else "")


# --- column choice -------------------------------------------------------------------


def _resolve(node: Node, cfg: dict, frame: Frame, ctx: _Ctx, auto: Callable[[Col], bool]):
    """Explicit columns (checked) or the automatic choice; returns (explicit, chosen)."""
    explicit = list(cfg.get("columns") or [])
    if explicit:
        for name in explicit:
            if name == ctx.target:
                ctx.error(
                    node,
                    f"column {name!r} is the target; feature nodes never touch it",
                    "config.columns",
                )
            elif frame.get(name) is None:
                ctx.error(
                    node,
                    f"column {name!r} does not exist at this node (columns here: {_fmt_cols(frame.names())})",
                    "config.columns",
                )
        return explicit, [n for n in explicit if frame.get(n) is not None]
    return None, [c.name for c in frame.cols if auto(c)]


def _new_column(node: Node, frame: Frame, ctx: _Ctx, name: str, col: Col, removed=()) -> None:
    if frame.get(name) is not None and name not in removed:
        ctx.error(node, f"would write column {name!r}, which already exists")
        return
    frame.append(col)


def _call(name: str, module: str = TRANSFORMERS, **kwargs) -> Call:
    return Call(module=module, name=name, kwargs=kwargs)


def _non_numeric(c: Col) -> bool:
    return not c.numeric


def _numeric(c: Col) -> bool:
    return c.numeric


# --- node planners --------------------------------------------------------------------
# Each takes (node, cfg, frame, ctx), updates ``frame`` in place, returns an _Effect.


def _text_normalization(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, _non_numeric)
    for name in cols:
        frame.replace_col(name, kind="string", raw=False, categories=None)
    kwargs = {
        k: cfg[k]
        for k in ("lowercase", "strip", "collapse_whitespace", "remove_punctuation", "unicode_form")
    }
    steps = [
        f"Unicode {cfg['unicode_form']}" if cfg["unicode_form"] != "none" else None,
        "strip" if cfg["strip"] else None,
        "collapse white space" if cfg["collapse_whitespace"] else None,
        "lowercase" if cfg["lowercase"] else None,
        "remove punctuation" if cfg["remove_punctuation"] else None,
    ]
    what = ", ".join(s for s in steps if s) or "nothing"
    return _Effect(
        "stateless",
        _call("TextNormalizer", columns=explicit, **kwargs),
        explicit,
        None if explicit else "every non-numeric feature column",
        cols,
        [],
        [],
        f"normalizes text in {_fmt_cols(cols)} ({what})",
        "the same, on every request",
    )


def _date_standardization(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, lambda c: False)
    added = []
    for name in cols:
        src = frame.get(name)
        for part in cfg["extract"]:
            new = f"{name}_{part}"
            # Unparseable dates become missing: whether any do is only known at fit time.
            _new_column(
                node,
                frame,
                ctx,
                new,
                Col(new, "float", src.origin, False, True, src.null_from, missing_certain=False),
            )
            added.append(new)
    if cfg["drop_original"]:
        frame.remove(cols)
    call = _call(
        "DateFeatures",
        columns=explicit,
        input_format=cfg["input_format"],
        extract=list(cfg["extract"]),
        drop_original=cfg["drop_original"],
    )
    return _Effect(
        "stateless",
        call,
        explicit,
        None,
        cols,
        added,
        cols if cfg["drop_original"] else [],
        f"parses dates in {_fmt_cols(cols)} and writes {', '.join(cfg['extract'])} as float columns",
        "the same on every request (unparseable dates become missing)",
    )


def _regex_cleanup(node, cfg, frame, ctx):
    try:
        re.compile(cfg["pattern"], 0 if cfg["case_sensitive"] else re.IGNORECASE)
    except re.error as exc:
        ctx.error(node, f"invalid regular expression {cfg['pattern']!r}: {exc}", "config.pattern")
    explicit, cols = _resolve(node, cfg, frame, ctx, lambda c: False)
    for name in cols:
        frame.replace_col(name, kind="string", raw=False, categories=None)
    call = _call(
        "RegexReplace",
        columns=explicit,
        pattern=cfg["pattern"],
        replacement=cfg["replacement"],
        case_sensitive=cfg["case_sensitive"],
    )
    return _Effect(
        "stateless",
        call,
        explicit,
        None,
        cols,
        [],
        [],
        f"replaces matches of {cfg['pattern']!r} in {_fmt_cols(cols)}",
        "the same on every request",
    )


def _code_columns(node, cfg, frame, ctx, cols, suffix):
    added = []
    for name in cols:
        src = frame.get(name)
        coded = replace(
            src,
            kind="integer",
            raw=False,
            train_missing=False,
            null_from=frozenset(),
            categories=None,
        )
        if suffix:
            new = name + suffix
            _new_column(node, frame, ctx, new, replace(coded, name=new))
            added.append(new)
        else:
            frame.replace_col(
                name,
                kind="integer",
                raw=False,
                train_missing=False,
                null_from=frozenset(),
                categories=None,
            )
    return added


def _label_encoding(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, _non_numeric)
    added = _code_columns(node, cfg, frame, ctx, cols, cfg["suffix"])
    call = _call(
        "LabelEncoderColumns",
        columns=explicit,
        suffix=cfg["suffix"],
        unknown_value=cfg["unknown_value"],
    )
    return _Effect(
        "stateful",
        call,
        explicit,
        None if explicit else "every non-numeric feature column",
        cols,
        added,
        [],
        f"learns the sorted training values of {_fmt_cols(cols)} and codes them 0..k-1",
        f"codes with the learned values; unseen or missing → {cfg['unknown_value']}",
    )


def _ordinal_encoding(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, _non_numeric)
    orders = cfg["categories"] or {}
    for name, order in orders.items():
        if name not in cols and frame.get(name) is None:
            ctx.error(
                node,
                f"categories given for column {name!r}, which does not exist at this node",
                "config.categories",
            )
        col = frame.get(name)
        if col is not None and col.raw and col.categories is not None:
            missing = [v for v in col.categories if v not in {str(o) for o in order}]
            if missing:
                ctx.error(
                    node,
                    f"column {name!r} has training value(s) {_fmt_cols(missing)} not in the given order",
                    f"config.categories.{name}",
                )
    added = _code_columns(node, cfg, frame, ctx, cols, cfg["suffix"])
    call = _call(
        "OrdinalEncoderColumns",
        columns=explicit,
        categories=orders or None,
        suffix=cfg["suffix"],
        unknown_value=cfg["unknown_value"],
    )
    return _Effect(
        "stateful",
        call,
        explicit,
        None if explicit else "every non-numeric feature column",
        cols,
        added,
        [],
        f"codes {_fmt_cols(cols)} 0..k-1 in the given order (or sorted training values)",
        f"codes with the same order; unseen or missing → {cfg['unknown_value']}",
    )


def _one_hot_like(node, cfg, frame, ctx, *, drop_first, handle_unknown, max_categories):
    explicit, cols = _resolve(node, cfg, frame, ctx, _non_numeric)
    added = []
    for name in cols:
        src = frame.get(name)
        cats = list(src.categories) if src.categories is not None else None
        if cats is None:
            ctx.exact = False
            names = [f"{name}_<category>"]
        else:
            if max_categories is not None and len(cats) > max_categories:
                # keep the most frequent max_categories-1; frequencies are only known at fit time
                ctx.exact = False
                names = [f"{name}_<category>", f"{name}_infrequent"]
            else:
                names = [f"{name}_{c}" for c in (cats[1:] if drop_first else cats)]
        for new in names:
            if "<category>" in new:
                continue
            _new_column(
                node,
                frame,
                ctx,
                new,
                Col(new, "integer", src.origin, False, False, frozenset()),
                removed=cols,
            )
        added += names
    frame.remove(cols)
    return explicit, cols, added


def _one_hot_encoding(node, cfg, frame, ctx):
    explicit, cols, added = _one_hot_like(
        node,
        cfg,
        frame,
        ctx,
        drop_first=cfg["drop_first"],
        handle_unknown=cfg["handle_unknown"],
        max_categories=cfg["max_categories"],
    )
    call = _call(
        "OneHotEncoderColumns",
        columns=explicit,
        drop_first=cfg["drop_first"],
        handle_unknown=cfg["handle_unknown"],
        max_categories=cfg["max_categories"],
    )
    serving = (
        "writes all zeros for an unseen or missing category"
        if cfg["handle_unknown"] == "ignore"
        else "rejects an unseen category; missing → all zeros"
    )
    return _Effect(
        "stateful",
        call,
        explicit,
        None if explicit else "every non-numeric feature column",
        cols,
        added,
        cols,
        f"learns the categories of {_fmt_cols(cols)} and writes one 0/1 column each",
        serving,
    )


def _dummy_encoding(node, cfg, frame, ctx):
    explicit, cols, added = _one_hot_like(
        node,
        cfg,
        frame,
        ctx,
        drop_first=cfg["drop_first"],
        handle_unknown="ignore",
        max_categories=None,
    )
    call = _call(
        "OneHotEncoderColumns",
        columns=explicit,
        drop_first=cfg["drop_first"],
        handle_unknown="ignore",
    )
    return _Effect(
        "stateful",
        call,
        explicit,
        None if explicit else "every non-numeric feature column",
        cols,
        added,
        cols,
        f"dummy-codes {_fmt_cols(cols)}"
        + (" (first category dropped)" if cfg["drop_first"] else ""),
        "writes all zeros for an unseen or missing category",
    )


def _hash_encoding(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, _non_numeric)
    added = []
    for name in cols:
        src = frame.get(name)
        for i in range(cfg["n_features"]):
            new = f"{name}_hash_{i}"
            _new_column(
                node,
                frame,
                ctx,
                new,
                Col(new, "float", src.origin, False, False, frozenset()),
                removed=cols,
            )
            added.append(new)
    frame.remove(cols)
    call = _call("HashEncoderColumns", columns=explicit, n_features=cfg["n_features"])
    return _Effect(
        "stateless",
        call,
        explicit,
        None if explicit else "every non-numeric feature column",
        cols,
        added,
        cols,
        f"hashes {_fmt_cols(cols)} into {cfg['n_features']} columns each",
        "the same on every request (missing hashes the empty string)",
    )


def _target_encoding(node, cfg, frame, ctx):
    if ctx.classification and ctx.n_classes > 2:
        ctx.error(
            node,
            f"target encoding needs a binary or continuous target; {ctx.target!r} has "
            f"{ctx.n_classes} classes (multiclass target encoding is not supported)",
        )
    explicit, cols = _resolve(node, cfg, frame, ctx, _non_numeric)
    for name in cols:
        frame.replace_col(
            name,
            kind="float",
            raw=False,
            train_missing=False,
            null_from=frozenset(),
            categories=None,
        )
    call = _call(
        "TargetEncoderColumns",
        columns=explicit,
        smooth=cfg["smoothing"],
        cv=cfg["cv"],
        random_state=cfg["random_state"],
        # The task decides, not the target's dtype (an int target with a gap reads as float).
        target_type="binary" if ctx.classification else "continuous",
    )
    return _Effect(
        "stateful",
        call,
        explicit,
        None if explicit else "every non-numeric feature column",
        cols,
        [],
        [],
        f"replaces {_fmt_cols(cols)} by cross-fitted target means",
        "replaces each category by its learned target mean (unseen or missing → the overall mean)",
    )


def _scaler(cls, kwargs_of):
    def plan(node, cfg, frame, ctx):
        explicit, cols = _resolve(node, cfg, frame, ctx, _numeric)
        for name in cols:
            col = frame.get(name)
            if not col.numeric and col.kind != "unknown":
                ctx.error(
                    node,
                    f"column {name!r} is not numeric ({col.kind}); a scaler needs numbers",
                    "config.columns",
                )
            frame.replace_col(name, kind="float", raw=False, categories=None)
        kwargs = kwargs_of(cfg)
        tuples = [k for k in ("feature_range", "quantile_range") if k in kwargs]
        scaler = Call(module="sklearn.preprocessing", name=cls, kwargs=kwargs, tuples=tuples)
        call = Call(
            module=TRANSFORMERS, name="ColumnScaler", kwargs={"scaler": scaler, "columns": explicit}
        )
        return _Effect(
            "stateful",
            call,
            explicit,
            None if explicit else "every numeric feature column",
            cols,
            [],
            [],
            f"learns {cls} statistics of {_fmt_cols(cols)} on the training rows",
            "scales with the learned statistics",
        )

    return plan


def _binning(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, lambda c: False)
    added = []
    for name in cols:
        src = frame.get(name)
        if not src.numeric and src.kind != "unknown":
            ctx.error(node, f"column {name!r} is not numeric ({src.kind})", "config.columns")
        if cfg["strategy"] == "custom" and name not in (cfg["edges"] or {}):
            ctx.error(node, f"strategy 'custom' needs edges for column {name!r}", "config.edges")
        new = name + cfg["suffix"]
        _new_column(
            node,
            frame,
            ctx,
            new,
            Col(new, "float", src.origin, False, src.train_missing, src.null_from),
            removed=cols if cfg["drop_original"] else (),
        )
        added.append(new)
    if cfg["drop_original"]:
        frame.remove(cols)
    call = _call(
        "Binner",
        columns=explicit,
        n_bins=cfg["n_bins"],
        strategy=cfg["strategy"],
        edges=cfg["edges"] or None,
        suffix=cfg["suffix"],
        drop_original=cfg["drop_original"],
    )
    return _Effect(
        "stateful",
        call,
        explicit,
        None,
        cols,
        added,
        cols if cfg["drop_original"] else [],
        f"learns {cfg['strategy']} bin edges for {_fmt_cols(cols)}",
        "bins with the learned edges",
    )


def _skewness_transform(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, _numeric)
    for name in cols:
        col = frame.get(name)
        if explicit is not None and not col.numeric and col.kind != "unknown":
            ctx.error(node, f"column {name!r} is not numeric ({col.kind})", "config.columns")
        if (
            cfg["method"] == "box-cox"
            and explicit is not None
            and col.raw
            and ctx.profile.column(name).train_min is not None
            and ctx.profile.column(name).train_min <= 0
        ):
            ctx.error(
                node,
                f"box-cox needs strictly positive values; column {name!r} has a minimum of "
                f"{ctx.profile.column(name).train_min:g} in the training rows",
                "config.method",
            )
        frame.replace_col(name, kind="float", raw=False, categories=None)
    call = _call(
        "SkewnessTransformer", columns=explicit, method=cfg["method"], threshold=cfg["threshold"]
    )
    rule = (
        None
        if explicit
        else f"numeric feature columns whose training skewness exceeds {cfg['threshold']}"
    )
    return _Effect(
        "stateful",
        call,
        explicit,
        rule,
        cols,
        [],
        [],
        f"applies {cfg['method']} to {_fmt_cols(cols) if explicit else rule}",
        "applies the same (learned) transform",
    )


def _outlier_removal(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, _numeric)
    threshold = (
        cfg["threshold"]
        if cfg["threshold"] is not None
        else (1.5 if cfg["method"] == "iqr" else 3.0)
    )
    bounds = f"{cfg['method']} bounds (threshold {threshold:g})"
    if cfg["action"] == "drop_rows":
        call = _call(
            "OutlierRowFilter", columns=explicit, method=cfg["method"], threshold=cfg["threshold"]
        )
        return _Effect(
            "row_filter",
            call,
            explicit,
            None if explicit else "every numeric feature column",
            cols,
            [],
            [],
            f"drops training rows outside the {bounds} of {_fmt_cols(cols)}",
            "nothing (training only)",
        )
    for name in cols:
        frame.replace_col(name, kind="float", raw=False)
    call = _call(
        "OutlierClipper", columns=explicit, method=cfg["method"], threshold=cfg["threshold"]
    )
    return _Effect(
        "stateful",
        call,
        explicit,
        None if explicit else "every numeric feature column",
        cols,
        [],
        [],
        f"learns the {bounds} of {_fmt_cols(cols)}",
        "clips to the learned bounds",
    )


def _imputation(node, cfg, frame, ctx):
    numeric_only = cfg["strategy"] in ("mean", "median", "knn")
    explicit, cols = _resolve(
        node, cfg, frame, ctx, lambda c: c.train_missing and (c.numeric or not numeric_only)
    )
    if explicit is None and any(not frame.get(n).missing_certain for n in cols):
        ctx.exact = False  # which columns still miss values after a row filter is decided at fit
    knn_origin = (
        frozenset().union(*(frame.get(n).origin for n in cols))
        if cols and cfg["strategy"] == "knn"
        else None
    )
    for name in cols:
        col = frame.get(name)
        if numeric_only and not col.numeric and col.kind != "unknown":
            ctx.error(
                node,
                f"strategy {cfg['strategy']!r} needs numeric columns; {name!r} is {col.kind}",
                "config.strategy",
            )
        # An automatic choice after a row filter may not take this column after all: then a
        # null at serving time is not certain to be filled, and the column stays required.
        handled = explicit is not None or col.missing_certain
        frame.replace_col(
            name,
            train_missing=False,
            raw=False,
            origin=knn_origin or col.origin,
            null_from=frozenset() if handled else col.null_from,
        )
    call = _call(
        "ColumnImputer",
        columns=explicit,
        strategy=cfg["strategy"],
        fill_value=cfg["fill_value"],
        n_neighbors=cfg["n_neighbors"],
    )
    what = (
        f"{cfg['n_neighbors']}-nearest-neighbour" if cfg["strategy"] == "knn" else cfg["strategy"]
    )
    rule = (
        None
        if explicit
        else ("numeric feature columns" if numeric_only else "feature columns")
        + " with a missing value in the training rows"
    )
    return _Effect(
        "stateful",
        call,
        explicit,
        rule,
        cols,
        [],
        [],
        f"learns {what} fill values for {_fmt_cols(cols)}",
        "fills missing values with them",
    )


def _drop_missing_columns(node, cfg, frame, ctx):
    threshold = cfg["missing_threshold"]
    dropped = []
    for col in frame.cols:
        if col.raw and col.name in {c.name for c in ctx.profile.columns}:
            prof = ctx.profile.column(col.name)
            share = 100.0 * prof.missing_in_train / max(ctx.profile.n_train, 1)
            if share > threshold:
                dropped.append(col.name)
        elif col.train_missing:
            ctx.exact = False
    frame.remove(dropped)
    stated = list(cfg["columns"] or [])
    warnings = []
    if stated and sorted(stated) != sorted(dropped):
        warnings.append(
            f"canvas dropped {_fmt_cols(stated)}, the export expects to drop {_fmt_cols(dropped)}"
        )
    call = _call("DropMissingColumns", missing_threshold=threshold)
    eff = _Effect(
        "stateful",
        call,
        None,
        f"feature columns with more than {threshold:g}% missing training values",
        dropped,
        [],
        dropped,
        f"drops columns with more than {threshold:g}% missing training values (expected: {_fmt_cols(dropped)})",
        "drops the same columns",
    )
    eff.warnings = warnings  # type: ignore[attr-defined]
    return eff


def _missing_indicator(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, lambda c: c.train_missing)
    if explicit is None and any(not frame.get(n).missing_certain for n in cols):
        ctx.exact = False
    added = []
    for name in cols:
        src = frame.get(name)
        new = name + cfg["suffix"]
        _new_column(
            node, frame, ctx, new, Col(new, "integer", src.origin, False, False, frozenset())
        )
        added.append(new)
    call = _call("MissingIndicatorColumns", columns=explicit, suffix=cfg["suffix"])
    return _Effect(
        "stateful",
        call,
        explicit,
        None if explicit else "feature columns with a missing value in the training rows",
        cols,
        added,
        [],
        f"adds a 0/1 missing-value flag for {_fmt_cols(cols)}",
        "the same flags",
    )


def _drop_missing_rows(node, cfg, frame, ctx):
    explicit = list(cfg["columns"] or [])
    for name in explicit:
        if name != ctx.target and frame.get(name) is None:
            ctx.error(node, f"column {name!r} does not exist at this node", "config.columns")
    cols = explicit or frame.names()
    if cfg["how"] == "any" or len(cols) == 1:
        for name in cols:
            if frame.get(name) is not None:
                frame.replace_col(name, train_missing=False)
    call = _call("DropMissingRows", columns=explicit or None, how=cfg["how"])
    return _Effect(
        "row_filter",
        call,
        explicit or None,
        None if explicit else "all columns, target included",
        [c for c in cols if c != ctx.target],
        [],
        [],
        f"drops training rows missing {cfg['how']} of {_fmt_cols(cols) if explicit else 'their values'}",
        "nothing (training only)",
    )


def _drop_duplicates(node, cfg, frame, ctx):
    explicit = list(cfg["columns"] or [])
    for name in explicit:
        if name != ctx.target and frame.get(name) is None:
            ctx.error(node, f"column {name!r} does not exist at this node", "config.columns")
    call = _call("DropDuplicateRows", columns=explicit or None, keep=cfg["keep"])
    return _Effect(
        "row_filter",
        call,
        explicit or None,
        None if explicit else "all columns, target included",
        explicit,
        [],
        [],
        f"drops duplicate training rows (keeps the {cfg['keep']})",
        "nothing (training only)",
    )


CAST_KINDS = {
    "int": "integer",
    "float": "float",
    "str": "string",
    "category": "string",
    "bool": "bool",
    "datetime": "datetime",
}


def _cast_columns(node, cfg, frame, ctx):
    casts = cfg["casts"]
    for name, to in casts.items():
        if to not in CAST_KINDS:
            ctx.error(
                node,
                f"cannot cast to {to!r}; one of {', '.join(CAST_KINDS)}",
                f"config.casts.{name}",
            )
            continue
        col = frame.get(name)
        if name == ctx.target:
            ctx.error(
                node, f"column {name!r} is the target; feature nodes never touch it", "config.casts"
            )
        elif col is None:
            ctx.error(node, f"column {name!r} does not exist at this node", "config.casts")
        else:
            coerces = to in ("int", "float", "bool", "datetime")
            frame.replace_col(
                name,
                kind=CAST_KINDS[to],
                raw=False,
                train_missing=col.train_missing or coerces,
                categories=col.categories if to in ("str", "category") else None,
            )
    call = _call("CastColumns", casts=casts)
    return _Effect(
        "stateless",
        call,
        list(casts),
        None,
        list(casts),
        [],
        [],
        "casts " + ", ".join(f"{k!r} to {v}" for k, v in casts.items()),
        "the same casts",
    )


def _drop_columns(node, cfg, frame, ctx):
    explicit, cols = _resolve(node, cfg, frame, ctx, lambda c: False)
    frame.remove(cols)
    return _Effect(
        "stateless",
        _call("DropColumns", columns=explicit),
        explicit,
        None,
        cols,
        [],
        cols,
        f"drops {_fmt_cols(cols)}",
        "the same",
    )


def _sampler(node, cfg, frame, ctx):
    module, cls, keys = SAMPLERS[node.type]
    if not ctx.classification:
        ctx.error(node, f"{node.type} resamples classes; the task is regression")
    if node.type in NEEDS_NUMERIC_SAMPLERS:
        for col in frame.cols:
            if not col.numeric and col.kind != "unknown":
                ctx.error(
                    node,
                    f"column {col.name!r} is {col.kind}; {cls} needs numeric features only "
                    "(encode it first)",
                )
            elif col.train_missing and col.missing_certain:
                ctx.error(
                    node,
                    f"column {col.name!r} may hold missing values; {cls} cannot take them "
                    "(impute first)",
                )
    call = Call(module=module, name=cls, kwargs={k: cfg[k] for k in keys})
    return _Effect(
        "sampler",
        call,
        None,
        None,
        [],
        [],
        [],
        f"resamples the training rows with {cls}",
        "nothing (training only)",
    )


PLANNERS: dict[str, Callable] = {
    "text_normalization": _text_normalization,
    "date_standardization": _date_standardization,
    "regex_cleanup": _regex_cleanup,
    "label_encoding": _label_encoding,
    "ordinal_encoding": _ordinal_encoding,
    "one_hot_encoding": _one_hot_encoding,
    "dummy_encoding": _dummy_encoding,
    "hash_encoding": _hash_encoding,
    "target_encoding": _target_encoding,
    "standard_scaler": _scaler(
        "StandardScaler", lambda c: {"with_mean": c["with_mean"], "with_std": c["with_std"]}
    ),
    "minmax_scaler": _scaler(
        "MinMaxScaler", lambda c: {"feature_range": list(c["feature_range"]), "clip": c["clip"]}
    ),
    "robust_scaler": _scaler(
        "RobustScaler",
        lambda c: {
            "quantile_range": list(c["quantile_range"]),
            "with_centering": c["with_centering"],
            "with_scaling": c["with_scaling"],
        },
    ),
    "binning": _binning,
    "skewness_transform": _skewness_transform,
    "outlier_removal": _outlier_removal,
    "imputation": _imputation,
    "drop_missing_columns": _drop_missing_columns,
    "missing_indicator": _missing_indicator,
    "drop_missing_rows": _drop_missing_rows,
    "drop_duplicates": _drop_duplicates,
    "cast_columns": _cast_columns,
    "drop_columns": _drop_columns,
    **{name: _sampler for name in SAMPLERS},
}


# --- model ----------------------------------------------------------------------------


def _estimator(model_type: str):
    module, name = ESTIMATORS[model_type]
    cls = getattr(importlib.import_module(module), name)
    return module, name, cls


def _plan_model(node: Node, cfg: dict, frame: Frame, ctx: _Ctx) -> ModelPlan:
    model_type = cfg["model_type"]
    module, name, cls = _estimator(model_type)
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
    for col in frame.cols:
        if not col.numeric and col.kind != "unknown":
            ctx.error(
                node,
                f"column {col.name!r} reaches the model as {col.kind}; the model needs numbers "
                "(encode, cast or drop it before the model)",
            )
        elif col.train_missing and col.missing_certain and not allows_nan:
            ctx.error(
                node,
                f"column {col.name!r} may hold missing values and {name} cannot take them "
                "(add an imputation node before the model)",
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


def _plan_evaluation(
    chain: Chain, catalog: Catalog, ctx: _Ctx, model: ModelPlan, classes: list
) -> EvaluationPlan:
    task = "classification" if ctx.classification else "regression"
    node = chain.evaluate
    if node is None:
        return EvaluationPlan(node_id=None, metrics=DEFAULT_METRICS[task])
    cfg = _cfg(node, catalog)
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
                f"{positive!r} is not a class of {ctx.target!r} ({_fmt_cols(classes)})",
                "config.positive_label",
            )
        else:
            positive = next(c for c in classes if c == positive or str(c) == str(positive))
    return EvaluationPlan(node_id=node.id, metrics=metrics, positive_label=positive)


# --- serving schema -------------------------------------------------------------------


def _serving_schema(
    raw: list[RawColumn],
    final: Frame,
    model: ModelPlan,
    rejecting: dict[str, list[str]],
    known_categories: dict[str, list[str]],
    uses: dict[str, list[str]],
) -> list[ServingField]:
    needed = set().union(*(c.origin for c in final.cols)) if final.cols else set()
    null_reaches = set().union(*(c.null_from for c in final.cols)) if final.cols else set()
    fields = []
    for col in raw:
        if col.role != "feature" or col.name not in needed:
            continue
        nullable = model.allows_nan or col.name not in null_reaches
        used_by = uses.get(col.name, [])
        description = f"{col.kind} column {col.name!r} of the source"
        if used_by:
            description += "; used by " + ", ".join(used_by)
        fields.append(
            ServingField(
                name=col.name,
                kind=col.kind,
                nullable=nullable,
                categories=rejecting.get(col.name) or known_categories.get(col.name),
                reject_unknown=col.name in rejecting,
                description=description,
            )
        )
    return fields


# --- packages -------------------------------------------------------------------------


def _version(dist: str) -> str:
    return importlib.metadata.version(dist)


def plan_packages(uses_imblearn: bool, source_type: str, file_format: str) -> list[Package]:
    """The generated project's runtime packages, pinned to what gitexport trains with."""

    packages = [
        Package(
            name="scikit-learn",
            version=_version("scikit-learn"),
            why="the feature pipeline and the model",
        ),
        Package(
            name="pandas", version=_version("pandas"), why="data frames in and out of every step"
        ),
        Package(name="numpy", version=_version("numpy"), why="numerical arrays"),
        Package(name="scipy", version=_version("scipy"), why="required by scikit-learn"),
        Package(
            name="joblib", version=_version("joblib"), why="saving and loading the fitted pipeline"
        ),
        Package(name="pyyaml", version=_version("pyyaml"), why="reading config/*.yaml"),
        # The prediction API (src/api): pinned like the rest, to what gitexport tested it with.
        Package(name="fastapi", version=_version("fastapi"), why="the prediction API"),
        Package(
            name="pydantic",
            version=_version("pydantic"),
            why="the API's request and response models",
        ),
        Package(name="uvicorn", version=_version("uvicorn"), why="the ASGI server running the API"),
        # Development only: FastAPI's TestClient (tests/test_api.py) needs an HTTP client;
        # this Starlette takes httpx2 (with plain httpx it warns that httpx is deprecated).
        Package(
            name="httpx2", version=_version("httpx2"), why="the API tests' HTTP client", dev=True
        ),
        Package(name="pytest", version=_version("pytest"), why="the project's tests", dev=True),
        Package(name="ruff", version=_version("ruff"), why="lint and format", dev=True),
    ]
    if uses_imblearn:
        # imbalanced-learn's Pipeline runs training-only steps (row filters, samplers) at fit time only.
        packages.insert(
            1,
            Package(
                name="imbalanced-learn",
                version=_version("imbalanced-learn"),
                why="training-only steps (samplers, row filters) in the pipeline",
            ),
        )
    if file_format == "parquet":
        packages.append(
            Package(name="pyarrow", version=_version("pyarrow"), why="reading Parquet files")
        )
    if source_type == "postgres":
        packages.append(
            Package(
                name="sqlalchemy",
                version=_version("sqlalchemy"),
                why="querying the database source",
            )
        )
        packages.append(Package(name="psycopg2-binary", version="2.9.10", why="PostgreSQL driver"))
    elif source_type == "mysql":
        packages.append(
            Package(
                name="sqlalchemy",
                version=_version("sqlalchemy"),
                why="querying the database source",
            )
        )
        packages.append(Package(name="pymysql", version="1.1.1", why="MySQL driver"))
    return packages


# --- putting it together -------------------------------------------------------------


def _step_name(node: Node, used: set[str]) -> str:
    base = re.sub(r"[^0-9a-zA-Z]+", "_", f"{node.id}_{node.type}").strip("_").lower() or "step"
    if base[0].isdigit():
        base = "n" + base
    base = base.replace("__", "_")
    name, i = base, 2
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


def project_slug(document: Document) -> str:
    if document.export.project_name:
        return document.export.project_name
    slug = re.sub(r"[^a-z0-9]+", "-", document.pipeline.name.lower()).strip("-")
    return (
        slug or re.sub(r"[^a-z0-9]+", "-", document.pipeline.id.lower()).strip("-") or "ml-project"
    )


def build_plan(bundle: Bundle, chain: Chain, profile: DataProfile, catalog: Catalog) -> ExportPlan:
    """The whole plan; raises :class:`DocumentError` listing every export error."""
    document = bundle.document
    split_node = next(
        n for n in chain.nodes if n.type == "feature_target_split" and not n.data.disabled
    )
    split_cfg = _cfg(split_node, catalog)
    model_node = chain.model
    model_cfg = _cfg(model_node, catalog)
    target = split_cfg["target"]
    classification = model_cfg["model_type"] in CLASSIFIER_MODEL_TYPES
    names = [c.name for c in profile.columns]
    problems: list[Problem] = []
    if target not in names:
        raise DocumentError(
            Problem(
                node_where(split_node.id, split_node.data.label, "config.target"),
                f"target column {target!r} is not in the data ({_fmt_cols(names)})",
            )
        )
    ctx = _Ctx(
        profile=profile,
        target=target,
        classification=classification,
        n_classes=len(profile.target_classes),
        problems=problems,
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

    frame = Frame(
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
    steps: list[Step] = []
    used_names: set[str] = set()
    rejecting: dict[str, list[str]] = {}
    known_categories: dict[str, list[str]] = {}
    uses: dict[str, list[str]] = {}
    warnings: list[str] = list(bundle.warnings)
    for node in chain.nodes[1:-1]:
        if node.type == "feature_target_split" or node.data.disabled:
            continue
        cfg = _cfg(node, catalog)
        before = frame.copy()
        effect = PLANNERS[node.type](node, cfg, frame, ctx)
        warnings += getattr(effect, "warnings", [])
        if effect.role == "row_filter":
            for col in frame.cols:
                if col.train_missing:
                    frame.replace_col(col.name, missing_certain=False)
        for name in effect.touches:
            col = before.get(name)
            if col is None:
                continue
            for origin in col.origin:
                used_by = uses.setdefault(origin, [])
                if f"{node.id} ({node.type})" not in used_by:
                    used_by.append(f"{node.id} ({node.type})")
            if (
                col.raw
                and col.categories is not None
                and node.type
                in (
                    "label_encoding",
                    "ordinal_encoding",
                    "one_hot_encoding",
                    "dummy_encoding",
                    "target_encoding",
                    "hash_encoding",
                )
            ):
                known_categories[name] = list(col.categories)
                if node.type == "one_hot_encoding" and cfg["handle_unknown"] == "error":
                    rejecting[name] = list(col.categories)
        steps.append(
            Step(
                node_id=node.id,
                label=node.data.label,
                node_type=node.type,
                role=effect.role,
                step_name=_step_name(node, used_names),
                call=effect.call,
                columns=effect.columns,
                auto_rule=effect.auto_rule,
                touches=effect.touches,
                adds=effect.adds,
                removes=effect.removes,
                training=effect.training,
                serving=effect.serving,
            )
        )
    model = _plan_model(model_node, model_cfg, frame, ctx)
    classes = list(profile.target_classes)
    evaluation = _plan_evaluation(chain, catalog, ctx, model, classes)
    if problems:
        raise DocumentError(problems)

    raw_columns = []
    needed = set().union(*(c.origin for c in frame.cols)) if frame.cols else set()
    for c in profile.columns:
        role = "target" if c.name == target else ("feature" if c.name in needed else "unused")
        raw_columns.append(
            RawColumn(
                name=c.name,
                dtype=c.dtype,
                kind=c.kind,
                role=role,
                missing_in_data=c.missing_in_data,
            )
        )
    source = document.source(chain.dataset.data.config["source_id"])
    file_format = "parquet" if profile.file.lower().endswith((".parquet", ".pq")) else "csv"
    env_prefix = None
    if source.is_database:
        env_prefix = "DB"  # connection settings come from DB_* variables (see .env.example)
    skipped = []
    for node_id, reason in chain.skipped:
        node = document.node(node_id)
        skipped.append(
            SkippedNode(node_id=node_id, label=node.data.label, node_type=node.type, reason=reason)
        )
    uses_imblearn = any(s.role in ("sampler", "row_filter") for s in steps)
    return ExportPlan(
        pipeline=PipelineInfo(
            id=document.pipeline.id,
            name=document.pipeline.name,
            version=document.pipeline.version,
            owner=document.pipeline.owner,
            description=document.pipeline.description or "",
            updated_at=document.pipeline.updated_at,
        ),
        project_name=project_slug(document),
        catalog_version=document.catalog_version,
        source=SourcePlan(
            id=source.id,
            name=source.name or source.id,
            type=source.type,
            bundle_file=profile.file,
            file_name=_raw_file_name(profile.file),
            file_format=file_format,
            sha256=profile.sha256,
            n_rows=profile.n_rows,
            read_options={"sep": source.options.delimiter, "encoding": source.options.encoding}
            if file_format == "csv"
            else {},
            query=source.query,
            env_prefix=env_prefix,
        ),
        raw_columns=raw_columns,
        split=SplitPlan(
            node_id=split_node.id,
            target=target,
            test_size=split_cfg["test_size"],
            stratify=split_cfg["stratify"],
            random_state=split_cfg["random_state"],
        ),
        problem_type="classification" if classification else "regression",
        target=target,
        classes=classes,
        steps=steps,
        model=model,
        evaluation=evaluation,
        feature_columns=[c.name for c in frame.cols],
        feature_columns_exact=ctx.exact,
        serving_schema=_serving_schema(
            raw_columns, frame, model, rejecting, known_categories, uses
        ),
        skipped=skipped,
        packages=plan_packages(uses_imblearn, source.type, file_format),
        canvas_results=CanvasResults(
            metrics=document.results.metrics,
            reference_predictions=document.results.reference_predictions,
            trained_at=document.results.trained_at,
        ),
        warnings=warnings,
    )


def _raw_file_name(relative: str) -> str:
    name = relative.replace("\\", "/").rsplit("/", 1)[-1]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return safe or "data.csv"
