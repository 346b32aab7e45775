"""Canvas category ``scaling``: standard, min-max and robust scaling of columns.

The class implements the canvas's scaler nodes with exactly their semantics;
the shared conventions are in ``_base``.
"""

from sklearn.base import clone

from ._base import _FrameTransformer, _is_numeric, _select_columns

__all__ = ["ColumnScaler"]


class ColumnScaler(_FrameTransformer):
    """Canvas nodes ``standard_scaler``, ``minmax_scaler``, ``robust_scaler``.

    A clone of ``scaler`` (e.g. ``StandardScaler(with_mean=True)``) is fitted on
    the columns together and rescales them in place as floats; missing values
    are ignored when fitting and stay missing. ``columns=None``: every numeric
    column.
    """

    def __init__(self, scaler, columns=None):
        self.scaler = scaler
        self.columns = columns

    def fit(self, X, y=None):
        self.columns_ = _select_columns(X, self.columns, _is_numeric)
        self.scaler_ = None
        if self.columns_:
            self.scaler_ = clone(self.scaler).fit(X[self.columns_])
        self._remember_columns(X, X.columns)
        return self

    def transform(self, X):
        X = self._checked(X).copy()
        if self.columns_:
            X[self.columns_] = self.scaler_.transform(X[self.columns_])
        return X
