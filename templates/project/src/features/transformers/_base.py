"""Plumbing shared by the transformers of every category.

Conventions every class in this package follows:

* the input is a DataFrame of feature columns (never the target) and the output
  keeps its index; the input is never modified in place;
* ``columns=None`` is the node's automatic column choice, made at ``fit`` on the
  training frame and recorded in ``columns_``; when it finds no column the node
  does nothing. "Numeric" means a numeric dtype that is not bool;
* a column the node replaces keeps its position; new columns are appended at
  the end, in column order, then category order;
* learned state lives in attributes ending with ``_`` (scikit-learn style).

The training-only row filters follow imbalanced-learn's sampler protocol
instead: ``fit_resample(X, y)`` returns the kept rows of both.
"""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


def _is_numeric(series):
    """The canvas's "numeric": a numeric dtype that is not bool."""
    dtype = series.dtype
    return pd.api.types.is_numeric_dtype(dtype) and dtype.kind != "b"


def _check_present(X, columns):
    """Raise a ValueError naming every listed column that X does not have."""
    absent = [column for column in columns if column not in X.columns]
    if absent:
        raise ValueError(f"Column(s) not found in the input frame: {absent}")


def _is_not_numeric(series):
    """The automatic choice of the text nodes and the encoders."""
    return not _is_numeric(series)


def _check_choice(name, value, choices):
    """Raise a ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        allowed = " or ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def _explicit_columns(X, columns):
    """A node's explicit column list, checked against X."""
    _check_present(X, columns)
    return list(columns)


def _select_columns(X, columns, auto):
    """The node's columns: the explicit list, or (None) those where ``auto`` holds."""
    if columns is None:
        return [column for column in X.columns if auto(X[column])]
    return _explicit_columns(X, columns)


def _check_new_columns(X, new_columns):
    """A node never overwrites: refuse new names already in X or repeated."""
    taken = set(X.columns)
    clashes = []
    for column in new_columns:
        if column in taken:
            clashes.append(column)
        taken.add(column)
    if clashes:
        raise ValueError(f"Column name(s) already exist: {clashes}")


def _output_columns(X, new_columns, dropped=()):
    """X's columns but ``dropped``, then ``new_columns``: what ``transform`` returns.

    Refuses a new name that clashes (``_check_new_columns``).
    """
    _check_new_columns(X, new_columns)
    return [column for column in X.columns if column not in dropped] + list(new_columns)


def _append_columns(X, new_columns, dropped=()):
    """X without ``dropped``, then ``new_columns`` (name -> 1-d array), keeping X's index."""
    if dropped:
        X = X.drop(columns=list(dropped))
    # One concat instead of a column-by-column insert keeps the frame
    # unfragmented; the arrays carry no index, so nothing is realigned.
    return pd.concat([X, pd.DataFrame(new_columns, index=X.index)], axis=1)


class _FrameTransformer(TransformerMixin, BaseEstimator):
    """Shared plumbing: remembers the columns seen at fit and the output columns."""

    def _remember_columns(self, X, output_columns):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.feature_names_out_ = np.asarray(output_columns, dtype=object)

    def _checked(self, X, columns=None):
        """X, once the node is fitted and X has the columns it reads (``columns_``).

        ``columns`` is evaluated by the caller, so it must not be fitted state.
        """
        check_is_fitted(self)
        _check_present(X, self.columns_ if columns is None else columns)
        return X

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns, as decided at ``fit``."""
        check_is_fitted(self)
        seen = list(self.feature_names_in_)
        if input_features is not None and list(input_features) != seen:
            raise ValueError("input_features differ from the columns seen at fit")
        return self.feature_names_out_.copy()


class _ValueMapper(_FrameTransformer):
    """A node that rewrites each non-missing value of its columns in place.

    Subclasses implement ``fit`` (setting ``columns_``) and ``_map_value``.
    """

    def transform(self, X):
        X = self._checked(X).copy()
        for column in self.columns_:
            X[column] = X[column].map(self._map_value, na_action="ignore")
        return X


class _RowFilter(BaseEstimator):
    """Training-only row filter, in imbalanced-learn's sampler protocol.

    ``imblearn.pipeline.Pipeline`` calls ``fit_resample`` while fitting and skips
    the step when predicting, so a filter never drops a row at serving time. That
    is why there is no ``transform``. Subclasses implement ``fit`` and
    ``_drop_mask`` (a boolean array, True for the rows to drop).
    """

    def fit_resample(self, X, y):
        """Fit, then return ``(X, y)`` without the dropped rows (index kept)."""
        self.fit(X, y)
        keep = ~self._drop_mask(X, y)
        self.kept_index_ = X.index[keep]
        return X.loc[keep], y.loc[keep]

    def _fit_columns(self, X, y):
        """Set ``columns_`` and ``with_target_`` (see ``_row_filter_columns``)."""
        self.columns_, self.with_target_ = _row_filter_columns(X, y, self.columns)
        _check_present(X, self.columns_)


def _row_filter_columns(X, y, columns):
    """Feature columns a row filter reads, and whether it reads the target too.

    ``None`` means every feature column and the target; an explicit list may name the
    target (row filters are the only nodes that touch it).
    """
    if columns is None:
        return list(X.columns), True
    target = getattr(y, "name", None)
    reads_target = target is not None and target in columns and target not in X.columns
    return [c for c in columns if not (reads_target and c == target)], reads_target
