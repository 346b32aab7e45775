"""Canvas category ``missing_data``: imputation, dropping and indicating missing values.

Each class implements one canvas node with exactly the semantics the canvas
used; the shared conventions are in ``_base``. ``DropMissingRows`` is a
training-only row filter.
"""

import numpy as np
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.utils.validation import check_is_fitted

from ._base import (
    _append_columns,
    _check_choice,
    _check_present,
    _FrameTransformer,
    _is_numeric,
    _output_columns,
    _RowFilter,
    _select_columns,
)

__all__ = [
    "ColumnImputer",
    "DropMissingColumns",
    "DropMissingRows",
    "MissingIndicatorColumns",
]


def _numeric_frame(frame):
    return frame.astype("float64")


def _object_frame(frame):
    # Plain objects with NaN as the only missing marker (pd.NA is not one for
    # scikit-learn's imputers).
    return frame.astype(object).where(frame.notna(), np.nan)


class ColumnImputer(_FrameTransformer):
    """Canvas node ``imputation``: fill missing values in place.

    ``mean``/``median``/``most_frequent``/``constant``: ``SimpleImputer(strategy,
    fill_value)``; ``knn``: ``KNNImputer(n_neighbors)`` over the columns together.
    ``constant`` without ``fill_value`` fills 0 in numeric columns and
    ``"missing"`` in the others. Numeric columns come out as floats, the others
    keep their values. ``columns=None``: every column with a missing training
    value (only numeric ones for ``mean``, ``median`` and ``knn``).
    """

    def __init__(self, columns=None, strategy="median", fill_value=None, n_neighbors=5):
        self.columns = columns
        self.strategy = strategy
        self.fill_value = fill_value
        self.n_neighbors = n_neighbors

    def fit(self, X, y=None):
        if self.strategy not in ("mean", "median", "most_frequent", "constant", "knn"):
            raise ValueError(f"Unknown imputation strategy {self.strategy!r}")
        numeric_only = self.strategy in ("mean", "median", "knn")
        self.columns_ = _select_columns(
            X,
            self.columns,
            lambda s: s.isna().any() and (_is_numeric(s) or not numeric_only),
        )
        numeric = [column for column in self.columns_ if _is_numeric(X[column])]
        others = [column for column in self.columns_ if column not in numeric]
        if numeric_only and others:
            raise ValueError(f"{self.strategy!r} needs numeric columns, not {others}")
        # Numbers and text are imputed separately (each imputer still sees its
        # columns together) so that numbers stay numeric and the default constant
        # fits the column type.
        self.imputers_ = []
        for group, default_fill, prepare in (
            (numeric, 0, _numeric_frame),
            (others, "missing", _object_frame),
        ):
            if group:
                imputer = self._make_imputer(default_fill).fit(prepare(X[group]))
                self.imputers_.append((group, prepare, imputer))
        self._remember_columns(X, X.columns)
        return self

    def transform(self, X):
        X = self._checked(X).copy()
        for group, prepare, imputer in self.imputers_:
            X[group] = imputer.transform(prepare(X[group]))
        return X

    def _make_imputer(self, default_fill):
        # keep_empty_features: a column missing everywhere in training is filled
        # (0) instead of silently disappearing from the output.
        if self.strategy == "knn":
            return KNNImputer(n_neighbors=self.n_neighbors, keep_empty_features=True)
        fill_value = default_fill if self.fill_value is None else self.fill_value
        return SimpleImputer(
            strategy=self.strategy, fill_value=fill_value, keep_empty_features=True
        )


class DropMissingColumns(_FrameTransformer):
    """Canvas node ``drop_missing_columns``: drop mostly-missing columns.

    Drops the columns whose share of missing training values, in percent, is
    strictly above ``missing_threshold``; the same columns are dropped from every
    frame. The dropped columns are in ``dropped_columns_``.
    """

    def __init__(self, missing_threshold=40.0):
        self.missing_threshold = missing_threshold

    def fit(self, X, y=None):
        percent_missing = X.isna().mean() * 100
        self.dropped_columns_ = [
            column
            for column, percent in percent_missing.items()
            if percent > self.missing_threshold
        ]
        kept = [column for column in X.columns if column not in self.dropped_columns_]
        self._remember_columns(X, kept)
        return self

    def transform(self, X):
        check_is_fitted(self)  # before reading dropped_columns_
        _check_present(X, self.dropped_columns_)
        return X.drop(columns=self.dropped_columns_)


class MissingIndicatorColumns(_FrameTransformer):
    """Canvas node ``missing_indicator``: flag missing values.

    Appends ``<col><suffix>``, 1 where the value is missing and 0 elsewhere (int),
    in column order. ``columns=None``: every column with a missing training
    value.
    """

    def __init__(self, columns=None, suffix="_missing"):
        self.columns = columns
        self.suffix = suffix

    def fit(self, X, y=None):
        self.columns_ = _select_columns(X, self.columns, lambda s: s.isna().any())
        new_columns = [f"{column}{self.suffix}" for column in self.columns_]
        self._remember_columns(X, _output_columns(X, new_columns))
        return self

    def transform(self, X):
        self._checked(X)
        flags = {
            f"{column}{self.suffix}": X[column].isna().to_numpy().astype("int64")
            for column in self.columns_
        }
        return _append_columns(X.copy(), flags)


class DropMissingRows(_RowFilter):
    """Canvas node ``drop_missing_rows`` (training only).

    Drops the training rows missing a value in any (``how="any"``) or all
    (``how="all"``) of ``columns``; ``columns=None`` means every feature column
    and the target.
    """

    def __init__(self, columns=None, how="any"):
        self.columns = columns
        self.how = how

    def fit(self, X, y=None):
        _check_choice("how", self.how, ("any", "all"))
        self._fit_columns(X, y)
        return self

    def _drop_mask(self, X, y):
        missing = X[self.columns_].isna().to_numpy()
        if self.with_target_:
            missing = np.column_stack([missing, y.isna().to_numpy()])
        return missing.any(axis=1) if self.how == "any" else missing.all(axis=1)
