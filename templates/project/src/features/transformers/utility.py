"""Canvas category ``utility``: casting and dropping columns, dropping duplicate rows.

Each class implements one canvas node with exactly the semantics the canvas
used; the shared conventions are in ``_base``. ``DropDuplicateRows`` is a
training-only row filter.
"""

import numbers

import pandas as pd

from ._base import (
    _check_choice,
    _check_present,
    _explicit_columns,
    _FrameTransformer,
    _output_columns,
    _RowFilter,
)

__all__ = ["CastColumns", "DropColumns", "DropDuplicateRows"]


_BOOL_WORDS = {
    **dict.fromkeys(("true", "yes", "1"), True),
    **dict.fromkeys(("false", "no", "0"), False),
}


def _parse_bool(value):
    """true/false/yes/no/1/0 (any case, or the numbers 1 and 0) -> bool; else missing."""
    if isinstance(value, numbers.Number) and value in (0, 1):
        return bool(value)
    return _BOOL_WORDS.get(str(value).strip().lower(), pd.NA)


def _to_bool(series):
    values = [pd.NA if pd.isna(value) else _parse_bool(value) for value in series]
    return pd.Series(values, index=series.index, dtype="boolean")


_CASTS = {
    "int": lambda series: series.astype("Int64"),
    "float": lambda series: pd.to_numeric(series, errors="coerce").astype("float64"),
    "str": lambda series: series.astype("str"),
    "category": lambda series: series.astype("str"),
    "bool": _to_bool,
    "datetime": lambda series: pd.to_datetime(series, errors="coerce"),
}


class CastColumns(_FrameTransformer):
    """Canvas node ``cast_columns``: change column types in place.

    ``casts`` maps a column to ``int`` (pandas ``Int64``), ``float``
    (``pd.to_numeric(errors="coerce")`` as float64), ``str`` or ``category``
    (pandas string), ``bool`` (true/false/yes/no/1/0 in any case, to pandas
    nullable ``boolean``; other values become missing) or ``datetime``
    (``pd.to_datetime(errors="coerce")``). Missing values stay missing.
    """

    def __init__(self, casts):
        self.casts = casts

    def fit(self, X, y=None):
        unknown = {c: kind for c, kind in self.casts.items() if kind not in _CASTS}
        if unknown:
            raise ValueError(f"Unknown cast type(s) {unknown}; known: {list(_CASTS)}")
        _check_present(X, list(self.casts))
        self._remember_columns(X, X.columns)
        return self

    def transform(self, X):
        X = self._checked(X, list(self.casts)).copy()
        for column, kind in self.casts.items():
            X[column] = _CASTS[kind](X[column])
        return X


class DropColumns(_FrameTransformer):
    """Canvas node ``drop_columns``: remove the listed columns."""

    def __init__(self, columns):
        self.columns = columns

    def fit(self, X, y=None):
        self.columns_ = _explicit_columns(X, self.columns)
        self._remember_columns(X, _output_columns(X, [], self.columns_))
        return self

    def transform(self, X):
        self._checked(X)
        return X.drop(columns=self.columns_)


class DropDuplicateRows(_RowFilter):
    """Canvas node ``drop_duplicates`` (training only).

    Drops training rows that repeat an earlier (``keep="first"``) or later
    (``keep="last"``) row on ``columns``; ``columns=None`` compares every feature
    column and the target.
    """

    def __init__(self, columns=None, keep="first"):
        self.columns = columns
        self.keep = keep

    def fit(self, X, y=None):
        _check_choice("keep", self.keep, ("first", "last"))
        self._fit_columns(X, y)
        return self

    def _drop_mask(self, X, y):
        # Positional labels, so the target can never clash with a feature name.
        rows = X[self.columns_].set_axis(range(len(self.columns_)), axis=1)
        if self.with_target_:
            rows[len(self.columns_)] = y.to_numpy()
        return rows.duplicated(keep=self.keep).to_numpy()
