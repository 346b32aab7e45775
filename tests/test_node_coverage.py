"""Every node type of the catalog, generated, trained and checked against SPEC.md's node table.

Each document below is a small canvas pipeline over deterministic synthetic data. It goes the
whole way (``plan_bundle`` → ``build_project``, which trains by running the generated code);
the tests then load the generated project's fitted pipeline and compare what it does with what
SPEC.md says, recomputed here independently with plain pandas / scikit-learn /
imbalanced-learn: the automatic column choices, the values each step writes, the rows the
training-only filters drop, the model's input columns and the metrics.

The documents are built once per module, in parallel (``build_project`` mostly waits on the
generated project's subprocesses). The quick, non-slow tests at the bottom cover the
node-specific export errors SPEC names, through ``plan_bundle``.
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline as ImbPipeline
from imblearn.under_sampling import NearMiss, RandomUnderSampler
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction import FeatureHasher
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
    train_test_split,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    PowerTransformer,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from gitexport.catalog import load_catalog
from gitexport.errors import DocumentError
from gitexport.load import plan_bundle
from helpers import edge, make_document, node, write_bundle

# --- documents -------------------------------------------------------------------------------


def _doc(name: str, nodes: list[dict], chain: list[str] | None = None) -> dict:
    ids = chain or [n["id"] for n in nodes]
    edges = [edge(a, b) for a, b in zip(ids, ids[1:], strict=False)]
    doc = make_document(nodes, edges)
    doc["pipeline"]["name"] = f"coverage {name}"
    doc["pipeline"]["id"] = f"pl_{name}"
    return doc


def _start(target: str, *, test_size=0.25, stratify=True, random_state=3) -> list[dict]:
    return [
        node("n1", "dataset", "Dataset", source_id="ds_1"),
        node(
            "n2",
            "feature_target_split",
            "Split",
            target=target,
            test_size=test_size,
            stratify=stratify,
            random_state=random_state,
        ),
    ]


# D1: text, dates, regex, hashing, automatic mean imputation; multiclass SVC without
# predict_proba and the default classification metrics (roc_auc from decision_function).
NOTES = [
    "  Hello   World! ",
    "ÉCOLE  Café.",
    "ﬁne Print",
    "Ｆｕｌｌ  width",
    "tabs\t\tand\nlines",
    "Don't STOP",
    "a-b_c",
]


def text_frame(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    kinds = ("alpha", "beta", "gamma")
    rows = []
    for i in range(n):
        kind = kinds[i % 3]
        rows.append(
            {
                "id": f"r{i:03d}",
                "note": None if i % 17 == 5 else NOTES[(i * 5 + i // 3) % len(NOTES)],
                "code": None if i % 23 == 4 else ("AB" if i % 2 else "ab") + f"-{i % 40:02d}x",
                "signup": "not a date"
                if i % 19 == 7
                else (
                    None
                    if i % 29 == 3
                    else f"20{20 + i % 5}-{1 + i % 12:02d}-{1 + (i * 7) % 28:02d}"
                ),
                "amount": {"alpha": 0.0, "beta": 2.0, "gamma": 4.0}[kind] + rng.normal(0, 0.8),
                "kind": kind,
            }
        )
    return pd.DataFrame(rows)


def text_doc() -> dict:
    return _doc(
        "text",
        _start("kind")
        + [
            node("n3", "drop_columns", "Drop id", columns=["id"]),
            node(
                "n4",
                "date_standardization",
                "Dates",
                columns=["signup"],
                input_format="%Y-%m-%d",
                extract=["year", "month", "day", "dayofweek", "hour", "epoch_days"],
            ),
            node("n5", "text_normalization", "Text", columns=[], remove_punctuation=True),
            node(
                "n6",
                "regex_cleanup",
                "Regex",
                columns=["code"],
                pattern="^AB",
                replacement="",
                case_sensitive=False,
            ),
            node("n7", "hash_encoding", "Hash", columns=[], n_features=4),
            node("n8", "imputation", "Impute", columns=[], strategy="mean"),
            node(
                "n9", "train_model", "SVC", model_type="svc", hyperparameters={"C": 1.0}, cv_folds=0
            ),
            node("n10", "evaluate_model", "Evaluate", metrics=[]),
        ],
    )


# D2: every encoder, missing and unseen values; binary logistic regression, every
# classification metric with a non-default positive label.
def encode_frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    cities = ["zeta"] * 8 + ["alpha"] * 5 + ["mid"] * 4 + ["beta"] * 2 + ["omega"]
    rows = []
    for i in range(n):
        segment = None if i % 17 == 1 else f"s{(i * 3 + i // 7) % 6}"
        x = rng.normal()
        score = x + (0.8 if segment in ("s1", "s4") else -0.4) + rng.normal(0, 0.7)
        rows.append(
            {
                "color": None if i % 13 == 2 else ("red", "green", "blue", "teal")[(i * 7) % 4],
                "size": None if i % 11 == 3 else ("S", "M", "L")[(i // 2) % 3],
                "city": None if i % 37 == 9 else cities[(i * 11) % len(cities)],
                "tier": None if i % 31 == 0 else ("1", "2", "10", "b")[i % 4],
                "segment": segment,
                "x": x,
                "label": "yes" if score > 0 else "no",
            }
        )
    return pd.DataFrame(rows)


CLASSIFICATION_METRICS = [
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "confusion_matrix",
]


def encode_doc() -> dict:
    return _doc(
        "encode",
        _start("label", random_state=5)
        + [
            node(
                "n3", "label_encoding", "Label", columns=["color"], suffix="_code", unknown_value=-7
            ),
            node(
                "n4",
                "ordinal_encoding",
                "Ordinal",
                columns=["size"],
                categories={"size": ["S", "M", "L"]},
            ),
            node("n5", "one_hot_encoding", "One hot", columns=["city"], max_categories=4),
            node("n6", "dummy_encoding", "Dummy", columns=["tier"]),
            node("n7", "target_encoding", "Target enc", columns=[], cv=3, random_state=11),
            node(
                "n8",
                "train_model",
                "LR",
                model_type="logistic_regression",
                hyperparameters={"max_iter": 1000},
                cv_folds=0,
            ),
            node(
                "n9",
                "evaluate_model",
                "Evaluate",
                metrics=CLASSIFICATION_METRICS,
                positive_label="no",
            ),
        ],
    )


# D3: skewness (automatic), clipping, three binning strategies, KNN imputation, the three
# scalers, a bool column; ridge regression with every regression metric.
def numeric_frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, n)
    b = rng.lognormal(0, 1, n)
    c = rng.normal(5, 2, n)
    c[::29] += 25
    c[::31] -= 25
    d = (np.arange(n) * 7) % 30
    e = rng.uniform(0, 10, n)
    y = 2 * a + np.log(b) + 0.3 * c + 0.1 * d + e + rng.normal(0, 0.5, n) + 100
    a[::17] = np.nan
    return pd.DataFrame(
        {"a": a, "b": b, "c": c, "d": d, "e": e, "flag": np.arange(n) % 3 == 0, "y": y}
    )


REGRESSION_METRICS = ["rmse", "mae", "r2", "mape"]


def numeric_doc() -> dict:
    return _doc(
        "numeric",
        _start("y", stratify=False, random_state=7)
        + [
            node(
                "n3", "skewness_transform", "Skew", columns=[], method="yeo-johnson", threshold=0.75
            ),
            node(
                "n4",
                "outlier_removal",
                "Clip",
                columns=["c"],
                method="zscore",
                threshold=2.5,
                action="clip",
            ),
            node("n5", "binning", "Quantile bins", columns=["e"], n_bins=4, strategy="quantile"),
            node(
                "n6",
                "binning",
                "Custom bins",
                columns=["d"],
                strategy="custom",
                edges={"d": [5, 10, 20]},
                suffix="_cb",
                drop_original=True,
            ),
            node(
                "n7",
                "binning",
                "Kmeans bins",
                columns=["a"],
                n_bins=3,
                strategy="kmeans",
                suffix="_k",
            ),
            node(
                "n8", "imputation", "KNN", columns=["a", "a_k", "e"], strategy="knn", n_neighbors=3
            ),
            node("n9", "standard_scaler", "Standard", columns=[]),
            node(
                "n10",
                "minmax_scaler",
                "MinMax",
                columns=["b"],
                feature_range=[-1.0, 1.0],
                clip=True,
            ),
            node("n11", "robust_scaler", "Robust", columns=["c"], quantile_range=[10.0, 90.0]),
            node("n12", "drop_columns", "Drop flag", columns=["flag"]),
            node(
                "n13",
                "train_model",
                "Ridge",
                model_type="ridge",
                hyperparameters={"alpha": 0.5},
                cv_folds=0,
            ),
            node("n14", "evaluate_model", "Evaluate", metrics=REGRESSION_METRICS),
        ],
    )


# D4: missing-value nodes and row filters; rows without a target; decision tree.
def missing_frame(n: int = 320) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    k = rng.integers(0, 20, n).astype(float)
    m2 = rng.normal(0, 1, n)
    m4 = rng.normal(0, 1, n)
    m3 = np.array([("u", "v", "w")[i % 3] for i in range(n)], dtype=object)
    label = np.where(k + 3 * m2 + rng.normal(0, 2, n) > 10, "p", "q").astype(object)
    m1 = rng.normal(0, 1, n)
    frame = pd.DataFrame({"m1": m1, "m2": m2, "m3": m3, "m4": m4, "k": k, "label": label})
    # rows 40..69 repeat rows 0..29 except in m1 (dropped by drop_missing_columns)
    for col in ("m2", "m3", "m4", "k", "label"):
        frame.loc[40:69, col] = frame.loc[0:29, col].to_numpy()
    frame.loc[frame.index % 10 < 6, "m1"] = np.nan  # 60 % missing
    frame.loc[frame.index % 10 == 7, "m2"] = np.nan
    frame.loc[frame.index % 11 == 8, "m3"] = None
    frame.loc[frame.index % 19 == 9, "m4"] = np.nan
    frame.loc[frame.index % 41 == 13, "label"] = None  # no target: dropped before the split
    return frame


def missing_doc() -> dict:
    return _doc(
        "missing",
        _start("label", random_state=9)
        + [
            node("n3", "drop_missing_columns", "Drop sparse", missing_threshold=50.0),
            node("n4", "missing_indicator", "Flags", columns=[], suffix="_isna"),
            node("n5", "drop_missing_rows", "Need m4", columns=["m4"], how="any"),
            node("n6", "drop_duplicates", "Dedup", columns=[], keep="last"),
            node("n7", "imputation", "Text fill", columns=["m3"], strategy="constant"),
            node("n8", "imputation", "Median", columns=[], strategy="median"),
            node("n9", "one_hot_encoding", "One hot", columns=["m3"]),
            node(
                "n10",
                "train_model",
                "Tree",
                model_type="decision_tree_classifier",
                hyperparameters={"max_depth": 4},
                cv_folds=0,
            ),
            node("n11", "evaluate_model", "Evaluate", metrics=["accuracy", "confusion_matrix"]),
        ],
    )


# C: casts; drop_missing_rows how=all; drop_duplicates on a subset; one-hot with
# handle_unknown=error; automatic label encoding of bool/datetime/text; binary SVC without
# predict_proba and the first class as positive label.
def cast_frame(n: int = 260) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for i in range(n):
        p = rng.normal()
        rows.append(
            {
                "key": i // 2,
                "whole": None if i % 9 == 4 else float(i % 25),
                "price_txt": "n/a"
                if i % 14 == 6
                else (None if i % 23 == 1 else f"{(i % 40) / 4:.2f}"),
                "num": i % 13,
                "flagtxt": ("yes", "no", "TRUE", "0", "1", "false", "maybe")[i % 7],
                "when": "garbage" if i % 16 == 3 else f"2024-{1 + i % 12:02d}-{1 + i % 27:02d}",
                "grp": ("g1", "g2", "g3")[(i // 3) % 3],
                "p": np.nan if i % 6 in (1, 2) else p,
                "q": np.nan if i % 6 in (2, 3) else rng.normal(),
                "label": "a" if (i % 13) + 3 * p + (i % 25) / 5 > 8 else "b",
            }
        )
    return pd.DataFrame(rows)


def cast_doc() -> dict:
    casts = {
        "whole": "int",
        "price_txt": "float",
        "num": "str",
        "flagtxt": "bool",
        "when": "datetime",
        "grp": "category",
    }
    return _doc(
        "cast",
        _start("label", random_state=4)
        + [
            node("n3", "cast_columns", "Casts", casts=casts),
            node("n4", "drop_missing_rows", "Need p or q", columns=["p", "q"], how="all"),
            node("n5", "drop_duplicates", "Pairs", columns=["key", "grp"], keep="first"),
            node(
                "n6",
                "one_hot_encoding",
                "Num",
                columns=["num"],
                drop_first=True,
                handle_unknown="error",
            ),
            node("n7", "label_encoding", "Codes", columns=[]),
            node("n8", "imputation", "Frequent", columns=[], strategy="most_frequent"),
            node(
                "n9", "train_model", "SVC", model_type="svc", hyperparameters={"C": 2.0}, cv_folds=0
            ),
            node(
                "n10",
                "evaluate_model",
                "Evaluate",
                metrics=["accuracy", "precision", "recall", "roc_auc"],
                positive_label="a",
            ),
        ],
    )


# S1: drop_duplicates + random_oversample + smote; KNN (stores its training rows);
# cross-validation with samplers inside each fold.
def imbalanced_frame(n: int = 300, seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    minority = np.arange(n) % 5 == 0
    f1 = rng.normal(0, 1, n) + 1.5 * minority
    f2 = rng.normal(0, 1, n) - 1.0 * minority
    cnt = rng.integers(0, 50, n) + 20 * minority
    frame = pd.DataFrame(
        {
            "f1": f1.round(3),
            "f2": f2.round(3),
            "cnt": cnt,
            "label": np.where(minority, "min", "maj"),
        }
    )
    frame.iloc[-20:] = frame.iloc[:20].to_numpy()  # duplicates for drop_duplicates
    return frame.astype({"f1": float, "f2": float, "cnt": "int64"})


def sampler_doc_1() -> dict:
    return _doc(
        "samplers1",
        _start("label", random_state=8)
        + [
            node("n3", "drop_duplicates", "Dedup", columns=[]),
            node("n4", "random_oversample", "Oversample", sampling_strategy=0.5, random_state=1),
            node("n5", "smote", "SMOTE", sampling_strategy=0.8, k_neighbors=3, random_state=2),
            node(
                "n6",
                "train_model",
                "KNN",
                model_type="knn_classifier",
                hyperparameters={"n_neighbors": 3},
                cv_folds=3,
            ),
            node(
                "n7",
                "evaluate_model",
                "Evaluate",
                metrics=["accuracy", "roc_auc", "confusion_matrix"],
            ),
        ],
    )


def sampler_doc_2() -> dict:
    return _doc(
        "samplers2",
        _start("label", random_state=10)
        + [
            node("n3", "adasyn", "ADASYN", sampling_strategy=0.6, n_neighbors=4, random_state=5),
            node("n4", "random_undersample", "Undersample", sampling_strategy=0.9, random_state=6),
            node("n5", "near_miss", "NearMiss", version=2, n_neighbors=3),
            node(
                "n6",
                "train_model",
                "KNN",
                model_type="knn_classifier",
                hyperparameters={"n_neighbors": 5},
                cv_folds=0,
            ),
            node("n7", "evaluate_model", "Evaluate", metrics=["accuracy"]),
        ],
    )


# T1: grid search over the row-filtered training rows, with a sampler inside the folds.
def tune_frame(n: int = 260) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    u = rng.normal(0, 1, n)
    v = rng.normal(0, 1, n)
    v[::15] = rng.normal(0, 8, len(v[::15]))  # outliers
    w = rng.uniform(0, 1, n)
    label = np.where(u + 0.5 * np.clip(v, -3, 3) + rng.normal(0, 0.8, n) > 0.6, "yes", "no")
    w[::13] = np.nan  # a missing value is never an outlier
    return pd.DataFrame({"u": u, "v": v, "w": w, "label": label})


def tune_grid_doc() -> dict:
    return _doc(
        "tune_grid",
        _start("label", random_state=12)
        + [
            node(
                "n3",
                "outlier_removal",
                "IQR",
                columns=[],
                method="iqr",
                threshold=1.0,
                action="drop_rows",
            ),
            node("n4", "imputation", "Mean", columns=[], strategy="mean"),
            node("n5", "random_undersample", "Undersample"),
            node(
                "n6",
                "hyperparameter_tuning",
                "Grid",
                model_type="decision_tree_classifier",
                search="grid",
                param_grid={"max_depth": [1, 2, 4], "min_samples_leaf": [1, 10]},
                cv_folds=3,
                scoring="balanced_accuracy",
                random_state=0,
            ),
            node("n7", "evaluate_model", "Evaluate", metrics=["accuracy"]),
        ],
    )


# T2: random search, regression, scoring null (the model's own score), KFold.
def tune_regression_frame(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    b = rng.lognormal(1, 0.6, n)
    c = rng.normal(1, 2, n)
    g = rng.normal(0, 1, n)
    y = 3 * np.log(b) + np.log1p(np.maximum(c, 0)) + 0.5 * g + rng.normal(0, 0.3, n)
    return pd.DataFrame({"b": b, "c": c, "g": g, "y": y})


RANDOM_GRID = {"alpha": [0.001, 0.1, 1.0, 10.0, 100.0, 1000.0]}


def tune_random_doc() -> dict:
    return _doc(
        "tune_random",
        _start("y", stratify=False, random_state=13)
        + [
            node("n3", "skewness_transform", "Box-Cox", columns=["b"], method="box-cox"),
            node("n4", "skewness_transform", "Log", columns=["c"], method="log1p"),
            node("n5", "standard_scaler", "Scale"),
            node(
                "n6",
                "hyperparameter_tuning",
                "Random",
                model_type="ridge",
                search="random",
                param_grid=RANDOM_GRID,
                n_iter=3,
                cv_folds=4,
                scoring=None,
                random_state=5,
            ),
            node("n7", "evaluate_model", "Evaluate", metrics=[]),
        ],
    )


# R: refit on train + test; sqrt of max(x, 0); uniform bins; an automatic missing indicator
# that finds nothing.
def refit_frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    s = rng.normal(2, 2, n)
    u = rng.uniform(0, 9, n)
    y = np.sqrt(np.maximum(s, 0)) * 2 + np.floor(u / 3) + rng.normal(0, 0.2, n)
    return pd.DataFrame({"s": s, "u": u, "y": y})


def refit_doc() -> dict:
    return _doc(
        "refit",
        _start("y", stratify=False, random_state=14)
        + [
            node("n3", "skewness_transform", "Sqrt", columns=["s"], method="sqrt"),
            node(
                "n4",
                "binning",
                "Uniform",
                columns=["u"],
                n_bins=3,
                strategy="uniform",
                drop_original=True,
            ),
            node("n5", "missing_indicator", "Flags"),
            node("n6", "standard_scaler", "Scale", columns=[]),
            node(
                "n7",
                "train_model",
                "OLS",
                model_type="linear_regression",
                cv_folds=0,
                refit_on_train_and_validation=True,
            ),
            node("n8", "evaluate_model", "Evaluate", metrics=["rmse"]),
        ],
    )


# P: a sampler before a row filter: the filters decide on the training split's own rows.
def sampler_then_filter_doc() -> dict:
    return _doc(
        "sampler_filter",
        _start("label", random_state=8)
        + [
            node("n3", "random_oversample", "Oversample", random_state=3),
            node("n4", "drop_duplicates", "Dedup"),
            node("n5", "train_model", "KNN", model_type="knn_classifier", cv_folds=3),
            node("n6", "evaluate_model", "Evaluate", metrics=["accuracy"]),
        ],
    )


# L: a loans pipeline as a new user builds it (regex clean-up, text normalisation, date parts,
# hashing, automatic imputation of "columns with missing values", Ridge). Missing values are
# rare: the shipped sample's rows (and so a retraining on them) can lack some that the golden
# rows hold, which the generated determinism test must survive.
LOAN_PURPOSES = ["Debt  consolidation", "CAR loan", " home improvement ", "Medical!!", "car LOAN"]


def loans_frame(n: int = 900) -> pd.DataFrame:
    rng = np.random.default_rng(12)
    rows = []
    for i in range(n):
        amount = float(np.round(rng.uniform(1_000, 30_000), 2))
        grade = (i * 5 + i // 7) % 7
        month, day, year = 1 + i % 12, 1 + (i * 11) % 28, 2015 + i % 8
        # Mostly ISO dates; some US-style ones and some "n/a": the date parts that pandas
        # cannot parse are missing, in a batch-dependent way (the format is inferred).
        issued = (
            "n/a"
            if i % 45 == 40
            else f"{month:02d}/{day:02d}/{year}"
            if i % 20 == 3
            else f"{year}-{month:02d}-{day:02d}"
        )
        rows.append(
            {
                "loan_id": f"L-{i:05d}",
                "purpose": None if i % 30 == 11 else LOAN_PURPOSES[(i * 7) % len(LOAN_PURPOSES)],
                "term": f"{36 if i % 3 else 60} months",
                "issue_date": issued,
                "grade": "ABCDEFG"[grade],
                "annual_income": np.nan
                if i % 25 == 17
                else float(np.round(rng.lognormal(10.5, 0.4), 2)),
                "dti": np.nan if i % 40 == 21 else float(np.round(rng.uniform(0, 40), 2)),
                "loan_amount": amount,
                "interest_rate": 5 + 0.0002 * amount + 2.5 * grade / 6 + rng.normal(0, 0.3),
            }
        )
    return pd.DataFrame(rows)


def loans_doc() -> dict:
    return _doc(
        "loans",
        _start("interest_rate", stratify=False, random_state=21)
        + [
            node("n3", "drop_columns", "Drop id", columns=["loan_id"]),
            node(
                "n4",
                "regex_cleanup",
                "Term digits",
                columns=["term"],
                pattern=r"\s*months?",
                replacement="",
                case_sensitive=False,
            ),
            node("n5", "text_normalization", "Purpose", columns=["purpose"]),
            node(
                "n6",
                "date_standardization",
                "Issue date",
                columns=["issue_date"],
                extract=["year", "month"],
            ),
            node("n7", "hash_encoding", "Hash text", columns=[], n_features=6),
            node("n8", "imputation", "Fill gaps", columns=[], strategy="median"),
            node(
                "n9",
                "train_model",
                "Ridge",
                model_type="ridge",
                hyperparameters={"alpha": 1.0},
                cv_folds=3,
            ),
            node("n10", "evaluate_model", "Evaluate", metrics=["rmse", "r2"]),
        ],
    )


DOCS = {
    "text": (text_doc, text_frame),
    "encode": (encode_doc, encode_frame),
    "numeric": (numeric_doc, numeric_frame),
    "missing": (missing_doc, missing_frame),
    "cast": (cast_doc, cast_frame),
    "samplers1": (sampler_doc_1, imbalanced_frame),
    "samplers2": (sampler_doc_2, lambda: imbalanced_frame(260, seed=16)),
    "tune_grid": (tune_grid_doc, tune_frame),
    "tune_random": (tune_random_doc, tune_regression_frame),
    "refit": (refit_doc, refit_frame),
    "sampler_filter": (sampler_then_filter_doc, imbalanced_frame),
    "loans": (loans_doc, loans_frame),
}


def test_the_documents_cover_every_catalog_node_type():
    used = {n["type"] for make, _ in DOCS.values() for n in make()["graph"]["nodes"]}
    assert used == set(load_catalog().nodes)
    assert len(used) == 32
    searches = {
        n["data"]["config"].get("search")
        for make, _ in DOCS.values()
        for n in make()["graph"]["nodes"]
        if n["type"] == "hyperparameter_tuning"
    }
    assert searches == {"grid", "random"}


# --- building and loading ------------------------------------------------------------------


@dataclass
class Case:
    name: str
    document: dict
    raw: pd.DataFrame  # the data file as pandas reads it
    root: Path  # the generated project, written out
    files: dict
    metrics: dict
    pipe: object  # the shipped fitted pipeline
    validate: object  # the project's validate_frame
    x_train: pd.DataFrame  # raw training rows (SPEC split), validated like the project does
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series

    def config(self, node_id: str) -> dict:
        return next(n for n in self.document["graph"]["nodes"] if n["id"] == node_id)["data"][
            "config"
        ]

    def index(self, node_id: str) -> int:
        names = [name for name, _ in self.pipe.steps]
        return next(i for i, name in enumerate(names) if name.startswith(f"{node_id}_"))

    def step(self, node_id: str):
        return self.pipe.steps[self.index(node_id)][1]

    def through(self, frame: pd.DataFrame, upto: int) -> pd.DataFrame:
        """``frame`` transformed by the fitted steps before position ``upto`` (serving path)."""
        for _, step in self.pipe.steps[:upto]:
            if not hasattr(step, "fit_resample"):
                frame = step.transform(frame)
        return frame

    def before(self, node_id: str, frame: pd.DataFrame) -> pd.DataFrame:
        return self.through(frame, self.index(node_id))

    def after(self, node_id: str, frame: pd.DataFrame) -> pd.DataFrame:
        return self.through(frame, self.index(node_id) + 1)

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.through(frame, len(self.pipe.steps) - 1)

    @property
    def model(self):
        return self.pipe.steps[-1][1]


def _purge_src() -> None:
    for name in [m for m in sys.modules if m == "src" or m.startswith("src.")]:
        del sys.modules[name]


@contextmanager
def project_on_path(root: Path):
    """Import the generated project's ``src`` package (every project has one)."""
    _purge_src()
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        _purge_src()


def _build(base: Path, name: str):
    from gitexport.build import build_project
    from gitexport.render import RenderOptions

    make_doc, make_frame = DOCS[name]
    document, frame = make_doc(), make_frame()
    bundle = write_bundle(base / name / "bundle", document, frame)
    planned = plan_bundle(bundle)
    built = build_project(
        planned, RenderOptions(docker=False, kubernetes=False, ci=False), allow_parity_drift=True
    )
    return document, bundle, built


@pytest.fixture(scope="module")
def built_cases(tmp_path_factory):
    base = tmp_path_factory.mktemp("coverage")
    results = {}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_build, base, name) for name in DOCS}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except Exception as exc:  # noqa: BLE001 - reported by the tests of that document
                results[name] = exc
    return base, results


def _split(document: dict, raw: pd.DataFrame, classification: bool):
    split = next(n for n in document["graph"]["nodes"] if n["type"] == "feature_target_split")
    cfg = split["data"]["config"]
    rows = raw[raw[cfg["target"]].notna()]
    x, y = rows.drop(columns=[cfg["target"]]), rows[cfg["target"]]
    return train_test_split(
        x,
        y,
        test_size=cfg["test_size"],
        random_state=cfg["random_state"],
        stratify=y if cfg["stratify"] and classification else None,
    )


@pytest.fixture(scope="module")
def case(request, built_cases):
    """The built document named by the test's ``doc`` parameter (indirect)."""
    name = request.param
    base, results = built_cases
    result = results[name]
    if isinstance(result, Exception):
        raise result
    document, bundle, built = result
    root = _write_project(base, name, built.files)
    raw = pd.read_csv(bundle / "data" / "data.csv")
    classification = built.plan.problem_type == "classification"
    x_train, x_test, y_train, y_test = _split(document, raw, classification)
    import joblib

    with project_on_path(root):
        from src.data.data_validator import validate_frame

        pipe = joblib.load(root / "models" / "trained" / "model.joblib")
        validated = validate_frame(raw[raw[built.plan.target].notna()])
    features = validated.drop(columns=[built.plan.target])
    return Case(
        name,
        document,
        raw,
        root,
        built.files,
        built.metrics,
        pipe,
        validate_frame,
        features.loc[x_train.index],
        features.loc[x_test.index],
        y_train,
        y_test,
    )


def cases(*names):
    return pytest.mark.parametrize("case", names, indirect=True)


def _write_project(base: Path, name: str, files: dict) -> Path:
    root = base / name / "project"
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _project_pytest(root: Path) -> subprocess.CompletedProcess:
    # The project's own settings (pythonpath = ["."]), not gitexport's environment.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_every_generated_test_passes_on_every_document(built_cases):
    """Each document's project runs its own whole test suite (slow determinism test included):
    a generated test must hold for any pipeline the catalog allows, not only the examples."""
    base, results = built_cases
    roots = {}
    for name, result in results.items():
        if isinstance(result, Exception):
            raise result
        roots[name] = _write_project(base, name, result[2].files)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(roots, pool.map(_project_pytest, roots.values()), strict=True))
    failed = {
        name: (proc.stdout + proc.stderr)[-3000:]
        for name, proc in runs.items()
        if proc.returncode != 0
        or " passed" not in proc.stdout
        or any(word in proc.stdout for word in ("skipped", "deselected"))
    }
    assert not failed, "\n\n".join(f"--- {name}\n{out}" for name, out in failed.items())


def assert_frame_values(actual: pd.DataFrame, expected: pd.DataFrame, rtol=1e-9, atol=1e-9):
    assert list(actual.columns) == list(expected.columns)
    for column in expected.columns:
        a, e = actual[column], expected[column]
        if (
            pd.api.types.is_numeric_dtype(e)
            and pd.api.types.is_numeric_dtype(a)
            and not pd.api.types.is_bool_dtype(e)
        ):
            np.testing.assert_allclose(
                a.to_numpy(dtype=float, na_value=np.nan),
                e.to_numpy(dtype=float, na_value=np.nan),
                rtol=rtol,
                atol=atol,
                err_msg=column,
            )
        else:
            assert [None if pd.isna(v) else v for v in a] == [
                None if pd.isna(v) else v for v in e
            ], column


def numeric_cols(frame: pd.DataFrame) -> list[str]:
    """SPEC's "numeric": a pandas numeric dtype that is not bool."""
    return [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]


def non_numeric_cols(frame: pd.DataFrame) -> list[str]:
    keep = set(numeric_cols(frame))
    return [c for c in frame.columns if c not in keep]


slow = pytest.mark.slow


# --- D1: text, dates, regex, hashing ---------------------------------------------------------


def normalize_text(value) -> str:
    text = unicodedata.normalize("NFKC", str(value)).strip()
    text = re.sub(r"\s+", " ", text).lower()
    return text.translate(str.maketrans("", "", string.punctuation))


def date_parts(raw: pd.Series) -> pd.DataFrame:
    dates = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
    epoch = [
        np.nan
        if pd.isna(d)
        else float((d.to_pydatetime().date() - pd.Timestamp("1970-01-01").date()).days)
        for d in dates
    ]
    return pd.DataFrame(
        {
            "signup_year": dates.dt.year.astype(float),
            "signup_month": dates.dt.month.astype(float),
            "signup_day": dates.dt.day.astype(float),
            "signup_dayofweek": [np.nan if pd.isna(d) else float(d.weekday()) for d in dates],
            "signup_hour": dates.dt.hour.astype(float),
            "signup_epoch_days": epoch,
        },
        index=raw.index,
    )


def hashed(values: pd.Series, prefix: str, n: int) -> pd.DataFrame:
    hasher = FeatureHasher(n_features=n, input_type="string", alternate_sign=False)
    tokens = [["" if pd.isna(v) else str(v)] for v in values]
    matrix = hasher.transform(tokens).toarray()
    return pd.DataFrame(
        matrix, columns=[f"{prefix}_hash_{i}" for i in range(n)], index=values.index
    )


def text_features(x: pd.DataFrame) -> pd.DataFrame:
    """SPEC applied by hand to raw rows, up to (not including) the imputation."""
    note = x["note"].map(normalize_text, na_action="ignore")
    code = (
        x["code"]
        .map(normalize_text, na_action="ignore")
        .map(lambda v: re.sub("^AB", "", v, flags=re.IGNORECASE), na_action="ignore")
    )
    return pd.concat(
        [x[["amount"]], date_parts(x["signup"]), hashed(note, "note", 4), hashed(code, "code", 4)],
        axis=1,
    )


@slow
@cases("text")
def test_text_date_regex_and_hash_steps(case):
    x = case.x_test
    # text_normalization: automatic choice = every non-numeric column at that node
    assert case.step("n5").columns_ == ["note", "code"]
    out = case.after("n5", x)
    expected_note = x["note"].map(normalize_text, na_action="ignore")
    assert_frame_values(out[["note"]], expected_note.to_frame())
    assert out["note"].isna().sum() == x["note"].isna().sum() > 0  # missing stays missing
    sample = {
        "  Hello   World! ": "hello world",
        "ÉCOLE  Café.": "école café",
        "ﬁne Print": "fine print",
        "Ｆｕｌｌ  width": "full width",
        "Don't STOP": "dont stop",
        "a-b_c": "abc",
    }
    for raw, want in sample.items():
        assert normalize_text(raw) == want
        rows = x.index[x["note"] == raw]
        if len(rows):
            assert out.loc[rows[0], "note"] == want
    # regex_cleanup (case-insensitive), after text normalization lowercased the codes
    out = case.after("n6", x)
    codes = (
        x["code"]
        .map(normalize_text, na_action="ignore")
        .map(lambda v: re.sub("^AB", "", v, flags=re.IGNORECASE), na_action="ignore")
    )
    assert_frame_values(out[["code"]], codes.to_frame())
    assert out["code"].dropna().str.match(r"^\d\dx$").all()
    # date_standardization: float parts, appended, original dropped, unparseable → missing
    out = case.after("n4", x)
    parts = date_parts(x["signup"])
    assert list(out.columns) == ["note", "code", "amount", *parts.columns]
    assert all(out[c].dtype == "float64" for c in parts.columns)
    assert_frame_values(out[list(parts.columns)], parts)
    assert out.loc[x["signup"] == "not a date", "signup_year"].isna().all()
    # hash_encoding: automatic = the two text columns, hashed from [str(value)], missing = ""
    assert case.step("n7").columns_ == ["note", "code"]
    by_hand = text_features(x)
    out = case.after("n7", x)
    assert_frame_values(out, by_hand)


@slow
@cases("text")
def test_text_imputation_auto_choice_features_and_default_metrics(case):
    train_in = text_features(case.x_train)
    missing = [c for c in train_in.columns if train_in[c].isna().any()]
    assert missing == [c for c in train_in.columns if c.startswith("signup_")]
    assert case.step("n8").columns_ == missing
    test_in = text_features(case.x_test)
    expected = test_in.copy()
    for column in missing:
        expected[column] = test_in[column].fillna(train_in[column].mean())
    assert_frame_values(case.features(case.x_test), expected)
    assert case.metrics["features"] == list(expected.columns)
    # the model, refitted here on the hand-made features, predicts the same
    train = train_in.fillna(train_in[missing].mean())
    svc = SVC(C=1.0, random_state=42).fit(train, case.y_train)
    predicted = case.pipe.predict(case.x_test)
    assert list(predicted) == list(svc.predict(expected))
    # default metrics (multiclass): accuracy, macro precision/recall/f1, one-vs-rest macro
    # roc_auc from decision_function (SVC without predict_proba)
    y = case.y_test
    decision = svc.decision_function(expected)
    auc = np.mean([skm.roc_auc_score(y == c, decision[:, i]) for i, c in enumerate(svc.classes_)])
    want = {
        "accuracy": skm.accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, average="macro"),
        "recall": skm.recall_score(y, predicted, average="macro"),
        "f1": skm.f1_score(y, predicted, average="macro"),
        "roc_auc": auc,
    }
    assert case.metrics["test"] == pytest.approx(want, rel=1e-9)


@slow
@cases("loans")
def test_loans_automatic_imputation_of_columns_with_missing_values_and_ridge(case):
    train_in = case.before("n8", case.x_train)
    missing = [c for c in train_in.columns if train_in[c].isna().any()]
    # The rare gaps, the unparseable dates' parts and (hashing fills none) nothing else.
    assert set(missing) == {"annual_income", "dti", "issue_date_year", "issue_date_month"}
    assert case.step("n8").columns_ == missing
    medians = train_in[missing].median()
    ridge = Ridge(alpha=1.0).fit(train_in.fillna(medians), case.y_train)
    test_in = case.before("n8", case.x_test)
    np.testing.assert_allclose(
        case.pipe.predict(case.x_test), ridge.predict(test_in.fillna(medians)), rtol=1e-9
    )
    # regex clean-up: "36 months" -> "36", case-insensitively
    assert set(case.after("n4", case.x_test)["term"]) == {"36", "60"}


# --- D2: encoders ---------------------------------------------------------------------------


def _as_str(series: pd.Series) -> pd.Series:
    return series.map(lambda v: np.nan if pd.isna(v) else str(v)).astype(object)


def encoded_by_hand(train: pd.DataFrame, y_train: pd.Series, x: pd.DataFrame, *, cross_fit=False):
    """SPEC's encoders on raw rows ``x`` (learned on ``train``)."""
    out = x[["color", "size", "segment", "x"]].copy()
    # label_encoding with suffix: sorted training values as strings, unseen/missing → -7
    color_codes = {v: i for i, v in enumerate(sorted({str(v) for v in train["color"].dropna()}))}
    codes = x["color"].map(lambda v: color_codes.get(str(v), -7) if pd.notna(v) else -7)
    # ordinal_encoding in place, given order
    out["size"] = x["size"].map(
        lambda v: {"S": 0, "M": 1, "L": 2}.get(v, -1) if pd.notna(v) else -1
    )
    new = {"color_code": codes.astype("int64")}
    # one_hot_encoding, max_categories=4
    counts = train["city"].dropna().astype(str).value_counts()
    cats = sorted(counts.index)
    kept, infrequent = cats, []
    if len(cats) > 4:
        by_freq = sorted(cats, key=lambda c: (-counts[c], c))
        kept = sorted(by_freq[:3])
        infrequent = [c for c in cats if c not in kept]
    for c in kept:
        new[f"city_{c}"] = (x["city"] == c).astype("int64")
    if infrequent:
        new["city_infrequent"] = x["city"].isin(infrequent).astype("int64")
    # dummy_encoding: drop_first, categories sorted as strings
    tiers = sorted({str(v) for v in train["tier"].dropna()})
    for c in tiers[1:]:
        new[f"tier_{c}"] = (x["tier"].astype(object) == c).astype("int64")
    out = pd.concat([out, pd.DataFrame(new, index=x.index)], axis=1)
    # target_encoding (automatic: the text columns left, color and segment), missing → mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        encoder = TargetEncoder(
            smooth="auto", cv=3, shuffle=True, random_state=11, target_type="binary"
        )
        cols = ["color", "segment"]
        if cross_fit:
            values = encoder.fit_transform(train[cols].apply(_as_str), y_train)
        else:
            encoder.fit(train[cols].apply(_as_str), y_train)
            values = encoder.transform(x[cols].apply(_as_str))
    missing = x[cols].isna().to_numpy()
    out[cols] = np.where(missing, encoder.target_mean_, values)
    return out, encoder, (kept, infrequent)


@slow
@cases("encode")
def test_encoders_on_serving_rows(case):
    expected, encoder, (kept, infrequent) = encoded_by_hand(case.x_train, case.y_train, case.x_test)
    assert infrequent, "the data must exercise max_categories"
    assert case.step("n7").columns_ == ["color", "segment"]
    assert np.isclose(encoder.target_mean_, (case.y_train == "yes").mean())
    actual = case.features(case.x_test)
    assert_frame_values(actual, expected)
    assert case.metrics["features"] == list(expected.columns)
    assert list(expected.columns[4:]) == [
        "color_code",
        *[f"city_{c}" for c in kept],
        "city_infrequent",
        "tier_10",
        "tier_2",
        "tier_b",
    ]
    # missing values: label → unknown_value, ordinal → -1, one-hot and dummy → all zeros,
    # target encoding → training target mean
    row = case.x_test.iloc[[0]].copy()
    row[["color", "size", "city", "tier", "segment"]] = np.nan
    out = case.features(row.astype(case.x_test.dtypes.to_dict())).iloc[0]
    assert out["color_code"] == -7 and out["size"] == -1
    assert out.filter(like="city_").sum() == 0 and out.filter(like="tier_").sum() == 0
    assert out["color"] == pytest.approx(encoder.target_mean_) == out["segment"]
    # unseen categories: the same, except target encoding, which uses the overall mean too
    row = case.x_test.iloc[[0]].copy()
    row[["color", "size", "city", "tier", "segment"]] = ["purple", "XL", "nowhere", "zz", "s99"]
    out = case.features(row).iloc[0]
    assert out["color_code"] == -7 and out["size"] == -1
    assert out.filter(like="city_").sum() == 0 and out.filter(like="tier_").sum() == 0
    assert out["segment"] == pytest.approx(encoder.target_mean_)


@slow
@cases("encode")
def test_target_encoding_cross_fits_the_training_rows(case):
    # the training frame is encoded with fit_transform (cross-fitting), in split order
    step_index = case.index("n7")
    frame = case.through(case.x_train, step_index)
    fresh = clone(case.step("n7"))
    encoded = fresh.fit_transform(frame, case.y_train)
    expected, _, _ = encoded_by_hand(case.x_train, case.y_train, case.x_train, cross_fit=True)
    np.testing.assert_allclose(
        encoded[["color", "segment"]].to_numpy(dtype=float),
        expected[["color", "segment"]].to_numpy(dtype=float),
        rtol=1e-9,
    )
    # and that is what the model learned from: refit the model on it
    train_features, _, _ = encoded_by_hand(case.x_train, case.y_train, case.x_train, cross_fit=True)
    model = LogisticRegression(max_iter=1000, random_state=42).fit(train_features, case.y_train)
    np.testing.assert_allclose(case.model.coef_, model.coef_, rtol=1e-6, atol=1e-8)


@slow
@cases("encode")
def test_every_classification_metric_with_positive_label(case):
    y, x = case.y_test, case.x_test
    predicted = case.pipe.predict(x)
    proba = case.pipe.predict_proba(x)
    classes = sorted(y.unique())
    assert list(case.pipe.classes_) == classes == ["no", "yes"]
    want = {
        "accuracy": skm.accuracy_score(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, pos_label="no"),
        "recall": skm.recall_score(y, predicted, pos_label="no"),
        "f1": skm.f1_score(y, predicted, pos_label="no"),
        "roc_auc": skm.roc_auc_score(y == "no", proba[:, 0]),
        "log_loss": skm.log_loss(y, proba, labels=classes),
    }
    test = case.metrics["test"]
    assert {k: test[k] for k in want} == pytest.approx(want, rel=1e-9)
    assert test["confusion_matrix"] == skm.confusion_matrix(y, predicted, labels=classes).tolist()
    assert set(test) == set(CLASSIFICATION_METRICS)
    assert test["precision"] != pytest.approx(skm.precision_score(y, predicted, pos_label="yes"))


# --- D3: numbers ----------------------------------------------------------------------------


def numeric_by_hand(train: pd.DataFrame, x: pd.DataFrame):
    """The numeric document's steps on ``x``, each learned on the training frame at its node."""
    frames = [train.copy(), x.copy()]
    skewed = [c for c in numeric_cols(train) if abs(train[c].skew()) > 0.75]
    power = PowerTransformer(method="yeo-johnson", standardize=False).fit(train[skewed])
    for f in frames:
        f[skewed] = power.transform(f[skewed])
    c = frames[0]["c"]
    low, high = c.mean() - 2.5 * c.std(ddof=1), c.mean() + 2.5 * c.std(ddof=1)
    for f in frames:
        f["c"] = f["c"].clip(low, high)
    bins = KBinsDiscretizer(
        n_bins=4,
        encode="ordinal",
        strategy="quantile",
        quantile_method="averaged_inverted_cdf",
        subsample=None,
    )
    bins.fit(frames[0][["e"]].to_numpy())
    for f in frames:
        f["e_bin"] = bins.transform(f[["e"]].to_numpy()).ravel()
    for f in frames:
        d = f.pop("d").to_numpy(dtype=float)
        cut = pd.cut(d, bins=[5, 10, 20], labels=False, include_lowest=True).astype(float)
        f["d_cb"] = np.where(d < 5, 0.0, np.where(d > 20, 1.0, cut))
    a = frames[0]["a"].dropna().to_numpy().reshape(-1, 1)
    kmeans = KBinsDiscretizer(n_bins=3, encode="ordinal", strategy="kmeans", subsample=None).fit(a)
    for f in frames:
        values = np.full(len(f), np.nan)
        present = f["a"].notna().to_numpy()
        values[present] = kmeans.transform(f.loc[present, ["a"]].to_numpy()).ravel()
        f["a_k"] = values
    knn = KNNImputer(n_neighbors=3).fit(frames[0][["a", "a_k", "e"]])
    for f in frames:
        f[["a", "a_k", "e"]] = knn.transform(f[["a", "a_k", "e"]])
    scaled = numeric_cols(frames[0])
    standard = StandardScaler().fit(frames[0][scaled])
    minmax = MinMaxScaler(feature_range=(-1, 1), clip=True)
    robust = RobustScaler(quantile_range=(10, 90))
    for i, f in enumerate(frames):
        f[scaled] = standard.transform(f[scaled])
        if i == 0:
            minmax.fit(f[["b"]])
            robust.fit(f[["c"]])
        f["b"] = minmax.transform(f[["b"]]).ravel()
        f["c"] = robust.transform(f[["c"]]).ravel()
    return frames[0].drop(columns=["flag"]), frames[1].drop(columns=["flag"]), skewed, scaled


@slow
@cases("numeric")
def test_numeric_steps_by_hand(case):
    train, test, skewed, scaled = numeric_by_hand(case.x_train, case.x_test)
    assert "b" in skewed and "flag" not in skewed
    assert case.step("n3").columns_ == skewed
    # the automatic scaler takes every numeric non-bool column: the bool flag is left alone
    assert case.step("n9").columns_ == scaled
    assert "flag" not in scaled and case.before("n9", case.x_test)["flag"].dtype == bool
    actual = case.features(case.x_test)
    assert_frame_values(actual, test, rtol=1e-7, atol=1e-9)
    assert case.metrics["features"] == ["a", "b", "c", "e", "e_bin", "d_cb", "a_k"]
    # binning writes floats; missing values stay missing until the imputer
    before_knn = case.before("n8", case.x_test)
    assert before_knn["a_k"].isna().equals(case.x_test["a"].isna())
    assert {before_knn[c].dtype.name for c in ("e_bin", "d_cb", "a_k")} == {"float64"}
    assert set(before_knn["d_cb"].unique()) <= {0.0, 1.0}
    # clipping: the training bounds clip every frame (as floats)
    unclipped = case.before("n4", case.x_test)["c"]
    clipped = case.after("n4", case.x_test)["c"]
    assert clipped.dtype == "float64" and (clipped != unclipped).any()
    # the model and every regression metric
    ridge = Ridge(alpha=0.5).fit(train, case.y_train)
    predicted = ridge.predict(test)
    np.testing.assert_allclose(case.pipe.predict(case.x_test), predicted, rtol=1e-7)
    y = case.y_test
    want = {
        "rmse": skm.root_mean_squared_error(y, predicted),
        "mae": skm.mean_absolute_error(y, predicted),
        "r2": skm.r2_score(y, predicted),
        "mape": skm.mean_absolute_percentage_error(y, predicted),
    }
    assert case.metrics["test"] == pytest.approx(want, rel=1e-6)
    assert case.metrics["test"]["mape"] < 1  # a fraction, not a percentage


# --- D4: missing values and row filters ----------------------------------------------------


@slow
@cases("missing")
def test_missing_value_nodes_and_row_filters(case):
    raw = case.raw
    assert (
        case.metrics["rows"]["train"] + case.metrics["rows"]["test"] == raw["label"].notna().sum()
    )
    train, y = case.x_train, case.y_train
    # drop_missing_columns: strictly above 50 % missing in the training rows
    share = train.isna().mean() * 100
    dropped = [c for c in train.columns if share[c] > 50]
    assert dropped == ["m1"]
    assert case.step("n3").dropped_columns_ == dropped
    frame = train.drop(columns=dropped)
    # missing_indicator, automatic: the columns with a missing training value
    flagged = [c for c in frame.columns if frame[c].isna().any()]
    assert flagged == ["m2", "m3", "m4"]
    assert case.step("n4").columns_ == flagged
    for c in flagged:
        frame[f"{c}_isna"] = frame[c].isna().astype("int64")
    # drop_missing_rows then drop_duplicates (features at that node and target, keep last)
    frame = frame[frame["m4"].notna()]
    with_target = frame.assign(__y=y.loc[frame.index])
    frame = frame[~with_target.duplicated(keep="last")]
    assert len(frame) < len(with_target), "the data must hold duplicates in the training rows"
    assert case.metrics["rows"]["train_after_filters"] == len(frame)
    kept = frame.index
    # constant imputation of text without fill_value → "missing"; then the automatic median
    # choice on the filtered rows: only m2 still misses values (m4's rows were dropped)
    frame["m3"] = frame["m3"].astype(object).where(frame["m3"].notna(), "missing")
    assert case.step("n8").columns_ == ["m2"]
    median = frame["m2"].median()
    # serving rows: same steps, learned state from above
    x = case.x_test.drop(columns=dropped)
    for c in flagged:
        x[f"{c}_isna"] = x[c].isna().astype("int64")
    x["m3"] = x["m3"].astype(object).where(x["m3"].notna(), "missing")
    x["m2"] = x["m2"].fillna(median)
    frame["m2"] = frame["m2"].fillna(median)
    cats = sorted(frame["m3"].astype(str).unique())
    assert cats == ["missing", "u", "v", "w"]
    for f in (frame, x):
        for cat in cats:
            f[f"m3_{cat}"] = (f["m3"] == cat).astype("int64")
        del f["m3"]
    assert (
        case.metrics["features"]
        == list(x.columns)
        == ["m2", "m4", "k", "m2_isna", "m3_isna", "m4_isna", "m3_missing", "m3_u", "m3_v", "m3_w"]
    )
    actual = case.features(case.x_test)
    # m4 still misses values at serving time: the filter never runs there
    assert actual["m4"].isna().sum() == case.x_test["m4"].isna().sum() > 0
    assert_frame_values(actual, x)
    # the tree learned from exactly the kept rows
    tree = DecisionTreeClassifier(max_depth=4, random_state=42).fit(frame, y.loc[kept])
    assert case.model.tree_.node_count == tree.tree_.node_count
    np.testing.assert_array_equal(case.model.tree_.threshold, tree.tree_.threshold)


# --- C: casts ------------------------------------------------------------------------------


def _bool(value):
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    return words.get(str(value).strip().lower(), pd.NA) if pd.notna(value) else pd.NA


def _cast_rows_kept(case) -> pd.DataFrame:
    """The cast training rows that the two row filters keep."""
    train = case.after("n3", case.x_train)
    train = train[~(train["p"].isna() & train["q"].isna())]
    return train[~train[["key", "grp"]].duplicated(keep="first")]


@slow
@cases("cast")
def test_casts_and_automatic_label_encoding(case):
    out = case.after("n3", case.x_test)
    x = case.x_test
    assert out["whole"].dtype == "Int64"
    assert out["whole"].isna().equals(x["whole"].isna())
    assert out["price_txt"].dtype == "float64"
    assert out["price_txt"].isna().equals(x["price_txt"].isna() | (x["price_txt"] == "n/a"))
    np.testing.assert_allclose(
        out["price_txt"].dropna(), pd.to_numeric(x["price_txt"], errors="coerce").dropna()
    )
    assert [str(v) for v in out["num"]] == [str(v) for v in x["num"]]
    assert not pd.api.types.is_numeric_dtype(out["num"])
    assert [None if pd.isna(v) else bool(v) for v in out["flagtxt"]] == [
        None if pd.isna(b := _bool(v)) else b for v in x["flagtxt"]
    ]
    assert out["flagtxt"][x["flagtxt"] == "maybe"].isna().all()
    assert pd.api.types.is_datetime64_any_dtype(out["when"])
    assert out["when"].isna().equals(x["when"] == "garbage")
    # label_encoding, automatic: bool, datetime and text columns are all non-numeric
    assert case.step("n7").columns_ == ["flagtxt", "when", "grp"]
    train_cast = _cast_rows_kept(case)
    frame = case.before("n7", x)
    coded = case.after("n7", x)
    for column in ("flagtxt", "when", "grp"):
        order = sorted({str(v) for v in train_cast[column].dropna()})
        want = [
            order.index(str(v)) if pd.notna(v) and str(v) in order else -1 for v in frame[column]
        ]
        assert coded[column].tolist() == want, column
    assert (coded["when"][x["when"] == "garbage"] == -1).all()
    # one-hot of the str-cast integers: categories sorted as strings, first dropped
    num_cols = [c for c in coded.columns if c.startswith("num_")]
    cats = sorted({str(v) for v in case.x_train["num"]})
    assert cats[:3] == ["0", "1", "10"]
    assert num_cols == [f"num_{c}" for c in cats[1:]]
    # handle_unknown=error: an unseen category is refused
    row = case.before("n6", x.iloc[[0]])
    row["num"] = "99"
    with pytest.raises(ValueError, match="99"):
        case.step("n6").transform(row)


@slow
@cases("cast")
def test_cast_document_row_filters_imputation_and_svc_metrics(case):
    train = _cast_rows_kept(case)
    assert len(train) < len(case.x_train)
    assert case.metrics["rows"]["train_after_filters"] == len(train)
    # most_frequent, automatic: every column with a missing value after the filters
    before = case.before("n8", case.x_train).loc[train.index]
    missing = [c for c in before.columns if before[c].isna().any()]
    assert case.step("n8").columns_ == missing
    assert {"whole", "price_txt", "p", "q"} <= set(missing)
    filled = case.features(case.x_test)
    frame = case.before("n8", case.x_test)
    for column in missing:
        mode = before[column].astype(float).value_counts()
        mode = min(mode.index[mode == mode.max()])
        np.testing.assert_allclose(filled[column], frame[column].astype(float).fillna(mode))
    # binary SVC without predict_proba, positive label = the first class: roc_auc from the
    # decision function, negated
    predicted = case.pipe.predict(case.x_test)
    decision = case.pipe.decision_function(case.x_test)
    y = case.y_test
    want = {
        "accuracy": skm.accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, pos_label="a"),
        "recall": skm.recall_score(y, predicted, pos_label="a"),
        "roc_auc": skm.roc_auc_score(y == "a", -decision),
    }
    assert case.metrics["test"] == pytest.approx(want, rel=1e-9)
    assert not hasattr(case.model, "predict_proba") or not case.model.probability


# --- samplers -------------------------------------------------------------------------------


def _fit_rows(model) -> tuple[np.ndarray, np.ndarray]:
    """A KNeighborsClassifier's training rows and labels."""
    return model._fit_X, np.asarray(model.classes_)[model._y]


@slow
@cases("samplers1")
def test_oversamplers_in_order(case):
    x, y = case.x_train, case.y_train
    dup = x.assign(__y=y).duplicated(keep="first")
    assert dup.any()
    xk, yk = x[~dup], y[~dup]
    assert case.metrics["rows"]["train_after_filters"] == len(xk)
    xs, ys = RandomOverSampler(sampling_strategy=0.5, random_state=1).fit_resample(xk, yk)
    xs, ys = SMOTE(sampling_strategy=0.8, k_neighbors=3, random_state=2).fit_resample(xs, ys)
    assert xs["cnt"].dtype == "int64"  # pandas in, pandas out: synthetic counts are integers
    fit_x, fit_y = _fit_rows(case.model)
    np.testing.assert_allclose(fit_x, xs.to_numpy(dtype=float))
    assert list(fit_y) == list(ys)
    assert (fit_x[:, 2] == np.floor(fit_x[:, 2])).all()
    assert case.metrics["features"] == ["f1", "f2", "cnt"]


@slow
@cases("samplers1")
def test_cross_validation_resamples_inside_each_fold(case):
    x, y = case.x_train, case.y_train
    keep = ~x.assign(__y=y).duplicated(keep="first")
    xk, yk = x[keep], y[keep]
    results = []
    for tr, va in StratifiedKFold(n_splits=3).split(xk, yk):
        xs, ys = RandomOverSampler(sampling_strategy=0.5, random_state=1).fit_resample(
            xk.iloc[tr], yk.iloc[tr]
        )
        xs, ys = SMOTE(sampling_strategy=0.8, k_neighbors=3, random_state=2).fit_resample(xs, ys)
        model = KNeighborsClassifier(n_neighbors=3).fit(xs, ys)
        predicted = model.predict(xk.iloc[va])
        proba = model.predict_proba(xk.iloc[va])[:, 1]
        results.append(
            (
                skm.accuracy_score(yk.iloc[va], predicted),
                skm.roc_auc_score(yk.iloc[va] == "min", proba),
                skm.confusion_matrix(yk.iloc[va], predicted, labels=["maj", "min"]),
            )
        )
    cv = case.metrics["cv"]
    assert cv["accuracy"] == pytest.approx(np.mean([r[0] for r in results]), rel=1e-12)
    assert cv["roc_auc"] == pytest.approx(np.mean([r[1] for r in results]), rel=1e-12)
    assert cv["confusion_matrix"] == np.sum([r[2] for r in results], axis=0).tolist()
    assert sum(map(sum, cv["confusion_matrix"])) == len(xk)


@slow
@cases("samplers2")
def test_adasyn_then_undersamplers(case):
    x, y = case.x_train, case.y_train
    xs, ys = ADASYN(sampling_strategy=0.6, n_neighbors=4, random_state=5).fit_resample(x, y)
    xs, ys = RandomUnderSampler(sampling_strategy=0.9, random_state=6).fit_resample(xs, ys)
    xs, ys = NearMiss(version=2, n_neighbors=3).fit_resample(xs, ys)
    fit_x, fit_y = _fit_rows(case.model)
    np.testing.assert_allclose(fit_x, xs.to_numpy(dtype=float))
    assert list(fit_y) == list(ys)
    assert (pd.Series(fit_y).value_counts() == (ys == "min").sum()).all()
    # samplers never run at serving time: every test row gets a prediction
    assert len(case.pipe.predict(case.x_test)) == len(case.x_test)
    assert case.metrics["rows"]["train_after_filters"] == len(x)


# --- tuning ---------------------------------------------------------------------------------


@slow
@cases("tune_grid")
def test_grid_search_over_filtered_rows_with_sampler_in_folds(case):
    x, y = case.x_train, case.y_train
    # outlier_removal drop_rows, automatic = numeric columns; iqr with t=1; NaN is kept
    outside = pd.Series(False, index=x.index)
    for column in numeric_cols(x):
        q1, q3 = x[column].quantile([0.25, 0.75])
        values = x[column]
        outside |= (values < q1 - (q3 - q1)) | (values > q3 + (q3 - q1))
    assert outside.any()
    assert x.loc[~outside, "w"].isna().any()
    xk, yk = x[~outside], y[~outside]
    assert case.metrics["rows"]["train_after_filters"] == len(xk)
    pipeline = ImbPipeline(
        [
            ("impute", SimpleImputer(strategy="mean")),
            ("sampler", RandomUnderSampler(random_state=42)),
            ("model", DecisionTreeClassifier(random_state=0)),
        ]
    )
    grid = {"model__max_depth": [1, 2, 4], "model__min_samples_leaf": [1, 10]}
    search = GridSearchCV(pipeline, grid, cv=StratifiedKFold(3), scoring="balanced_accuracy").fit(
        xk, yk
    )
    best = {k.split("__", 1)[1]: v for k, v in search.best_params_.items()}
    params = case.model.get_params()
    assert {k: params[k] for k in best} == best
    assert params["random_state"] == 0
    # the final model is fitted on all kept rows, with the sampler
    final = clone(search.best_estimator_).fit(xk, yk)
    np.testing.assert_array_equal(final.predict(case.x_test), case.pipe.predict(case.x_test))


@slow
@cases("tune_random")
def test_random_search_regression_with_model_score(case):
    x, y = case.x_train, case.y_train
    power = PowerTransformer(method="box-cox", standardize=False).fit(x[["b"]])
    np.testing.assert_allclose(case.step("n3").power_.lambdas_, power.lambdas_, rtol=1e-9)
    out = case.after("n4", case.x_test)
    np.testing.assert_allclose(out["c"], np.log1p(np.maximum(case.x_test["c"], 0)))
    prep = ColumnTransformer(
        [
            ("boxcox", PowerTransformer(method="box-cox", standardize=False), ["b"]),
            ("log", FunctionTransformer(lambda v: np.log1p(np.maximum(v, 0))), ["c"]),
        ],
        remainder="passthrough",
    )
    pipeline = ImbPipeline([("prep", prep), ("scale", StandardScaler()), ("model", Ridge())])
    search = RandomizedSearchCV(
        pipeline,
        {"model__alpha": RANDOM_GRID["alpha"]},
        n_iter=3,
        random_state=5,
        cv=KFold(4),
        scoring=None,
    ).fit(x, y)
    assert case.model.alpha == search.best_params_["model__alpha"]
    assert case.metrics["model_params"]["alpha"] == case.model.alpha
    predicted = search.best_estimator_.predict(case.x_test)
    np.testing.assert_allclose(case.pipe.predict(case.x_test), predicted, rtol=1e-7)
    assert set(case.metrics["test"]) == {"rmse", "mae", "r2"}  # default regression metrics


# --- refit ---------------------------------------------------------------------------------


@slow
@cases("refit")
def test_refit_on_train_and_test_after_evaluation(case):
    def features(x, fitted_on):
        out = x.copy()
        out["s"] = np.sqrt(np.maximum(out["s"], 0))
        width = (fitted_on["u"].max() - fitted_on["u"].min()) / 3
        bins = np.clip(np.floor((out.pop("u") - fitted_on["u"].min()) / width), 0, 2)
        out["u_bin"] = bins.astype(float)
        return out

    everything = pd.concat([case.x_train, case.x_test])
    y_all = pd.concat([case.y_train, case.y_test])
    # the missing indicator found no column with a missing value: a no-op
    assert case.step("n5").columns_ == []
    assert list(case.before("n6", case.x_test).columns) == ["s", "u_bin"]
    # the shipped pipeline was refitted on every row: the scaler learned their mean
    all_features = features(everything, everything)
    np.testing.assert_allclose(
        case.step("n6").scaler_.mean_, all_features.mean().to_numpy(), rtol=1e-9
    )
    refit = LinearRegression().fit(StandardScaler().fit_transform(all_features), y_all)
    np.testing.assert_allclose(case.model.coef_, refit.coef_, rtol=1e-7)
    # the test metrics were measured before the refit, by the train-only fit
    train_features = features(case.x_train, case.x_train)
    scaler = StandardScaler().fit(train_features)
    model = LinearRegression().fit(scaler.transform(train_features), case.y_train)
    predicted = model.predict(scaler.transform(features(case.x_test, case.x_train)))
    assert case.metrics["test"]["rmse"] == pytest.approx(
        skm.root_mean_squared_error(case.y_test, predicted)
    )


# --- export errors SPEC names for these nodes (plan time, quick) -----------------------------


def _problems(tmp_path, nodes, frame, chain_ids=None) -> list[str]:
    bundle = write_bundle(tmp_path, _doc("errors", nodes, chain_ids), frame)
    with pytest.raises(DocumentError) as info:
        plan_bundle(bundle)
    return [str(p) for p in info.value.problems]


def _small_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame(
        {
            "num": rng.normal(0, 1, n),  # has negative values
            "pos": rng.uniform(1, 5, n),
            "txt": [("a", "b", "c")[i % 3] for i in range(n)],
            "gap": [np.nan if i % 5 == 0 else float(i) for i in range(n)],
            "label": [("no", "yes")[i % 2] for i in range(n)],
            "kind": [("x", "y", "z")[i % 3] for i in range(n)],
            "price": rng.uniform(1, 9, n),
        }
    )


def _chain(
    *middle, model="logistic_regression", target="label", metrics=None, drop=("kind", "price")
):
    nodes = [
        node("n1", "dataset", source_id="ds_1"),
        node(
            "n2",
            "feature_target_split",
            target=target,
            random_state=0,
            stratify=model in ("logistic_regression", "svc"),
        ),
    ]
    nodes.append(node("n3", "drop_columns", columns=[c for c in drop if c != target]))
    nodes += list(middle)
    nodes.append(node("m", "train_model", model_type=model, cv_folds=0))
    nodes.append(node("e", "evaluate_model", metrics=metrics or []))
    return nodes


def _has(problems, *parts) -> bool:
    return any(all(p in line for p in parts) for line in problems)


ENCODE_TXT = node("z", "one_hot_encoding", columns=["txt"])
IMPUTE_GAP = node("i", "imputation", columns=["gap"])


def test_ordinal_order_missing_a_training_value_is_an_error(tmp_path):
    nodes = _chain(
        node("x", "ordinal_encoding", "Order", columns=["txt"], categories={"txt": ["a", "b"]}),
        IMPUTE_GAP,
    )
    problems = _problems(tmp_path, nodes, _small_frame())
    assert _has(problems, "'x'", "'txt'", "'c'", "config.categories.txt"), problems


def test_box_cox_on_negative_column_is_an_error(tmp_path):
    nodes = _chain(
        node("x", "skewness_transform", columns=["num"], method="box-cox"), IMPUTE_GAP, ENCODE_TXT
    )
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "'num'", "box-cox")


def test_custom_binning_without_edges_is_an_error(tmp_path):
    nodes = _chain(
        node("x", "binning", columns=["pos"], strategy="custom", edges={"num": [0, 1]}),
        IMPUTE_GAP,
        ENCODE_TXT,
    )
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "'pos'", "edges")


def test_binning_text_column_is_an_error(tmp_path):
    nodes = _chain(node("x", "binning", columns=["txt"]), IMPUTE_GAP, ENCODE_TXT)
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "'txt'", "not numeric")


def test_invalid_regex_is_an_error(tmp_path):
    nodes = _chain(
        node("x", "regex_cleanup", columns=["txt"], pattern="(unclosed"), IMPUTE_GAP, ENCODE_TXT
    )
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "config.pattern")


@pytest.mark.parametrize(
    "new_node, clash",
    [
        (node("x", "label_encoding", columns=["txt"], suffix="_missing"), "txt_missing"),
        (node("x", "missing_indicator", columns=["gap"], suffix=""), "gap"),
        (node("x", "binning", columns=["num"], suffix=""), "num"),
        (node("x", "hash_encoding", columns=["txt"], n_features=2), "txt_hash_0"),
    ],
    ids=["label-suffix", "indicator", "binning", "hash"],
)
def test_writing_an_existing_column_is_an_error(tmp_path, new_node, clash):
    frame = _small_frame()
    frame["txt_missing"] = 0
    frame["txt_hash_0"] = 1.0
    nodes = _chain(new_node, IMPUTE_GAP, node("z", "drop_columns", columns=["txt"]))
    if new_node["type"] in ("hash_encoding",):
        nodes = _chain(new_node, IMPUTE_GAP)
    assert _has(_problems(tmp_path, nodes, frame), "'x'", repr(clash), "exists")


def test_one_hot_category_clashing_with_a_column_is_an_error(tmp_path):
    frame = _small_frame()
    frame["txt_a"] = 1
    nodes = _chain(ENCODE_TXT, IMPUTE_GAP)
    assert _has(_problems(tmp_path, nodes, frame), "'z'", "'txt_a'")


def test_target_encoding_multiclass_is_an_error(tmp_path):
    nodes = _chain(
        node("x", "target_encoding", columns=["txt"]),
        IMPUTE_GAP,
        target="kind",
        drop=("label", "price"),
    )
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "'kind'", "3 classes")


@pytest.mark.parametrize(
    "sampler", ["smote", "adasyn", "random_oversample", "random_undersample", "near_miss"]
)
def test_sampler_on_regression_is_an_error(tmp_path, sampler):
    nodes = _chain(
        IMPUTE_GAP,
        ENCODE_TXT,
        node("x", sampler),
        model="ridge",
        target="price",
        drop=("label", "kind"),
    )
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "regression")


def test_numeric_sampler_before_imputation_is_an_error(tmp_path):
    nodes = _chain(ENCODE_TXT, node("x", "near_miss"), IMPUTE_GAP)
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "'gap'", "missing")


@pytest.mark.parametrize("strategy", ["mean", "median", "knn"])
def test_numeric_imputation_of_text_is_an_error(tmp_path, strategy):
    nodes = _chain(node("x", "imputation", columns=["txt", "gap"], strategy=strategy), ENCODE_TXT)
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "'txt'", strategy)


def test_scaler_on_text_column_is_an_error(tmp_path):
    nodes = _chain(node("x", "robust_scaler", columns=["txt"]), IMPUTE_GAP, ENCODE_TXT)
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "'txt'", "not numeric")


def test_cast_to_unknown_type_is_an_error(tmp_path):
    nodes = _chain(node("x", "cast_columns", casts={"num": "decimal"}), IMPUTE_GAP, ENCODE_TXT)
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'x'", "decimal")


def test_text_or_missing_values_reaching_the_model_are_named(tmp_path):
    problems = _problems(tmp_path, _chain(), _small_frame())
    assert _has(problems, "'m'", "'txt'", "string")
    assert _has(problems, "'m'", "'gap'", "missing")
    # a model that takes missing values is fine with 'gap'
    problems = _problems(
        tmp_path, _chain(model="hist_gradient_boosting_classifier"), _small_frame()
    )
    assert not _has(problems, "'gap'") and _has(problems, "'txt'")


def test_datetime_cast_reaching_the_model_is_an_error(tmp_path):
    nodes = _chain(node("x", "cast_columns", casts={"pos": "datetime"}), IMPUTE_GAP, ENCODE_TXT)
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'m'", "'pos'", "datetime")


@pytest.mark.parametrize(
    "model, metric",
    [
        ("logistic_regression", "rmse"),
        ("logistic_regression", "mape"),
        ("ridge", "accuracy"),
        ("ridge", "roc_auc"),
        ("ridge", "confusion_matrix"),
    ],
)
def test_metric_of_the_other_task_is_an_error(tmp_path, model, metric):
    target = "label" if model == "logistic_regression" else "price"
    drop = ("kind", "price") if target == "label" else ("label", "kind")
    nodes = _chain(IMPUTE_GAP, ENCODE_TXT, model=model, target=target, metrics=[metric], drop=drop)
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'e'", repr(metric))


def test_log_loss_without_predict_proba_is_an_error(tmp_path):
    nodes = _chain(IMPUTE_GAP, ENCODE_TXT, model="svc", metrics=["accuracy", "log_loss"])
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'e'", "log_loss")


def test_positive_label_not_a_class_is_an_error(tmp_path):
    nodes = _chain(IMPUTE_GAP, ENCODE_TXT)
    nodes[-1] = node("e", "evaluate_model", metrics=["precision"], positive_label="maybe")
    assert _has(_problems(tmp_path, nodes, _small_frame()), "'e'", "'maybe'")


def test_documents_above_plan_cleanly():
    """Sanity for the slow tests: every coverage document plans without error."""
    import tempfile

    for name, (make_doc, make_frame) in DOCS.items():
        with tempfile.TemporaryDirectory() as tmp:
            plan = plan_bundle(write_bundle(Path(tmp), make_doc(), make_frame())).plan
            assert [s.node_id for s in plan.steps], name
            json.loads(plan.to_json())


@slow
@cases("sampler_filter")
def test_sampler_before_a_row_filter(case):
    x, y = case.x_train, case.y_train
    # the final fit: oversample, then drop the duplicates (the repeated rows among them)
    xs, ys = RandomOverSampler(random_state=3).fit_resample(x, y)
    keep = ~xs.assign(__y=ys.to_numpy()).duplicated(keep="first").to_numpy()
    fit_x, fit_y = _fit_rows(case.model)
    np.testing.assert_allclose(fit_x, xs[keep].to_numpy(dtype=float))
    assert list(fit_y) == list(ys[keep])
    # cross-validation runs on the training split's own rows the filter keeps (our reading
    # of "the training rows that survive the row filters of the final fit")
    own = ~x.assign(__y=y).duplicated(keep="first")
    assert case.metrics["rows"]["train_after_filters"] == int(own.sum())
    assert "accuracy" in case.metrics["cv"]
