"""Canvas category ``transformation``: binning, skewness transforms, outlier handling.

Each class implements one canvas node with exactly the semantics the canvas
used; the shared conventions are in ``_base``. ``OutlierRowFilter`` is a
training-only row filter.
"""

import itertools

import numpy as np
import pandas as pd
from sklearn.preprocessing import KBinsDiscretizer, PowerTransformer

from ._base import (
    _append_columns,
    _explicit_columns,
    _FrameTransformer,
    _is_numeric,
    _output_columns,
    _RowFilter,
    _select_columns,
)

__all__ = ["Binner", "OutlierClipper", "OutlierRowFilter", "SkewnessTransformer"]


def _outlier_bounds(X, columns, method, threshold):
    """(lower, upper) per column from the training values; missing values are ignored.

    ``iqr``: ``[q1 - t * iqr, q3 + t * iqr]`` with pandas' linear quantiles
    (t defaults to 1.5); ``zscore``: ``mean -/+ t * std`` with ddof=1 (t defaults
    to 3.0).
    """
    if method not in ("iqr", "zscore"):
        raise ValueError(f"Unknown outlier method {method!r} (iqr or zscore)")
    bounds = {}
    for column in columns:
        values = X[column].astype("float64")
        if method == "iqr":
            t = 1.5 if threshold is None else threshold
            q1, q3 = values.quantile([0.25, 0.75])
            bounds[column] = (q1 - t * (q3 - q1), q3 + t * (q3 - q1))
        else:
            t = 3.0 if threshold is None else threshold
            mean, std = values.mean(), values.std(ddof=1)
            bounds[column] = (mean - t * std, mean + t * std)
    return bounds


def _float_values(series):
    """A numeric column as a float array, missing values (NaN or pd.NA) as NaN."""
    return series.to_numpy(dtype="float64", na_value=np.nan)


class Binner(_FrameTransformer):
    """Canvas node ``binning``: bin numbers into a new float column ``<col><suffix>``.

    ``uniform``/``quantile``/``kmeans``: per column, ``KBinsDiscretizer(n_bins,
    encode="ordinal", strategy, quantile_method="averaged_inverted_cdf",
    subsample=None)`` fitted on the column's non-missing training values.
    ``custom``: ``pd.cut(edges[col], labels=False, include_lowest=True)``, values
    outside the edges going to the first or last bin. Missing values stay
    missing. Bin columns are appended in column order; ``drop_original`` removes
    the binned columns.
    """

    def __init__(
        self,
        columns,
        n_bins=5,
        strategy="quantile",
        edges=None,
        suffix="_bin",
        drop_original=False,
    ):
        self.columns = columns
        self.n_bins = n_bins
        self.strategy = strategy
        self.edges = edges
        self.suffix = suffix
        self.drop_original = drop_original

    def fit(self, X, y=None):
        self.columns_ = _explicit_columns(X, self.columns)
        new_columns = [f"{column}{self.suffix}" for column in self.columns_]
        dropped = self.columns_ if self.drop_original else ()
        output_columns = _output_columns(X, new_columns, dropped)
        self.discretizers_ = {}
        if self.strategy == "custom":
            self._check_edges()
        else:
            for column in self.columns_:
                values = _float_values(X[column])
                discretizer = KBinsDiscretizer(
                    n_bins=self.n_bins,
                    encode="ordinal",
                    strategy=self.strategy,
                    quantile_method="averaged_inverted_cdf",
                    subsample=None,
                )
                present = values[~np.isnan(values)]
                self.discretizers_[column] = discretizer.fit(present.reshape(-1, 1))
        self._remember_columns(X, output_columns)
        return self

    def transform(self, X):
        self._checked(X)
        new_columns = {}
        for column in self.columns_:
            values = _float_values(X[column])
            present = ~np.isnan(values)
            bins = np.full(len(values), np.nan)
            if present.any():
                bins[present] = self._bin(column, values[present])
            new_columns[f"{column}{self.suffix}"] = bins
        dropped = self.columns_ if self.drop_original else ()
        return _append_columns(X, new_columns, dropped)

    def _bin(self, column, values):
        """Bin numbers of one column (no missing values among them)."""
        if self.strategy != "custom":
            return self.discretizers_[column].transform(values.reshape(-1, 1)).ravel()
        edges = self.edges[column]
        bins = pd.cut(values, bins=edges, labels=False, include_lowest=True)
        # pd.cut leaves values outside the edges missing: the canvas puts them in
        # the first or last bin.
        bins = np.where(values < edges[0], 0, bins)
        return np.where(values > edges[-1], len(edges) - 2, bins)

    def _check_edges(self):
        edges = self.edges or {}
        absent = [column for column in self.columns_ if column not in edges]
        if absent:
            raise ValueError(f"strategy 'custom' needs edges for column(s) {absent}")
        for column in self.columns_:
            bounds = list(edges[column])
            if len(bounds) < 2 or any(b <= a for a, b in itertools.pairwise(bounds)):
                raise ValueError(
                    f"Edges of column {column!r} must be at least two increasing "
                    f"numbers, got {bounds}"
                )


class SkewnessTransformer(_FrameTransformer):
    """Canvas node ``skewness_transform``: reduce skew in place.

    ``log1p`` and ``sqrt`` apply to ``max(x, 0)``; ``yeo-johnson`` and
    ``box-cox`` are ``PowerTransformer(method, standardize=False)`` fitted on the
    columns. Box-cox on a column with a non-positive training value raises a
    ValueError. Missing values stay missing. ``columns=None``: every numeric
    column whose training skewness (pandas ``skew``) has ``abs() > threshold``.
    """

    def __init__(self, columns=None, method="yeo-johnson", threshold=0.75):
        self.columns = columns
        self.method = method
        self.threshold = threshold

    def fit(self, X, y=None):
        if self.method not in ("log1p", "sqrt", "yeo-johnson", "box-cox"):
            raise ValueError(f"Unknown skewness method {self.method!r}")
        self.columns_ = _select_columns(
            X, self.columns, lambda s: _is_numeric(s) and abs(s.skew()) > self.threshold
        )
        if self.method == "box-cox":
            non_positive = [c for c in self.columns_ if (X[c] <= 0).any()]
            if non_positive:
                raise ValueError(
                    f"box-cox needs strictly positive values; column(s) {non_positive} "
                    "have values <= 0"
                )
        self.power_ = None
        if self.method in ("yeo-johnson", "box-cox") and self.columns_:
            self.power_ = PowerTransformer(method=self.method, standardize=False)
            self.power_.fit(X[self.columns_])
        self._remember_columns(X, X.columns)
        return self

    def transform(self, X):
        X = self._checked(X).copy()
        if self.power_ is not None:
            X[self.columns_] = self.power_.transform(X[self.columns_])
        elif self.method in ("log1p", "sqrt"):
            function = np.log1p if self.method == "log1p" else np.sqrt
            for column in self.columns_:
                X[column] = function(np.maximum(_float_values(X[column]), 0))
        return X


class _OutlierBounds:
    """What both ``outlier_removal`` actions learn: ``bounds_`` of the ``columns_``.

    ``columns=None``: every numeric column.
    """

    def __init__(self, columns=None, method="iqr", threshold=None):
        self.columns = columns
        self.method = method
        self.threshold = threshold

    def fit(self, X, y=None):
        self.columns_ = _select_columns(X, self.columns, _is_numeric)
        self.bounds_ = _outlier_bounds(X, self.columns_, self.method, self.threshold)
        return self


class OutlierClipper(_OutlierBounds, _FrameTransformer):
    """Canvas node ``outlier_removal`` with ``action: clip``: clip to training bounds.

    Bounds per column from the training values: ``iqr`` = ``[q1 - t*iqr,
    q3 + t*iqr]`` (pandas linear quantiles, t defaults to 1.5), ``zscore`` =
    ``mean -/+ t*std`` (ddof=1, t defaults to 3.0). Every frame is clipped to
    them, in place, as floats; missing values stay missing. ``columns=None``:
    every numeric column.
    """

    def fit(self, X, y=None):
        super().fit(X, y)
        self._remember_columns(X, X.columns)
        return self

    def transform(self, X):
        X = self._checked(X).copy()
        for column, (lower, upper) in self.bounds_.items():
            # Always float: whether clipping happens must not change the dtype.
            X[column] = X[column].astype("float64").clip(lower, upper)
        return X


class OutlierRowFilter(_OutlierBounds, _RowFilter):
    """Canvas node ``outlier_removal`` with ``action: drop_rows`` (training only).

    Drops the training rows with a value outside the bounds in any listed column.
    Bounds: ``iqr`` = ``[q1 - t*iqr, q3 + t*iqr]`` (pandas linear quantiles, t
    defaults to 1.5), ``zscore`` = ``mean -/+ t*std`` (ddof=1, t defaults to 3.0).
    A missing value is never an outlier. ``columns=None``: every numeric column.
    """

    def _drop_mask(self, X, y):
        outside = np.zeros(len(X), dtype=bool)
        for column, (lower, upper) in self.bounds_.items():
            values = _float_values(X[column])
            # NaN compares False both ways, so a missing value never drops a row.
            outside |= (values < lower) | (values > upper)
        return outside
