"""Canvas category ``encoding``: label, ordinal, one-hot/dummy, hash and target encoding.

Each class implements one canvas node with exactly the semantics the canvas
used; the shared conventions are in ``_base``.
"""

from collections import Counter

import numpy as np
import pandas as pd
from sklearn.feature_extraction import FeatureHasher
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import TargetEncoder

from ._base import (
    _append_columns,
    _check_choice,
    _FrameTransformer,
    _is_not_numeric,
    _is_numeric,
    _output_columns,
    _select_columns,
)

__all__ = [
    "HashEncoderColumns",
    "LabelEncoderColumns",
    "OneHotEncoderColumns",
    "OrdinalEncoderColumns",
    "TargetEncoderColumns",
]


def _as_text(series, missing=None):
    """Values as strings (categories are compared as strings), missing -> ``missing``."""
    values = [missing if pd.isna(value) else str(value) for value in series]
    return np.array(values, dtype=object)


def _codes(keys, categories, unknown_value):
    """Each key's position in ``categories``, or ``unknown_value`` if absent."""
    position = {category: code for code, category in enumerate(categories)}
    return np.array([position.get(key, unknown_value) for key in keys], dtype="int64")


class _CodeEncoder(_FrameTransformer):
    """Label and ordinal encoding: the position of each value in ``categories_``.

    Subclasses implement ``fit`` (setting ``columns_`` and ``categories_``, then
    calling ``_remember_code_columns``) and ``_keys``, the values as they are
    looked up in the categories.
    """

    def _remember_code_columns(self, X):
        new_columns = [f"{c}{self.suffix}" for c in self.columns_ if self.suffix]
        self._remember_columns(X, _output_columns(X, new_columns))

    def transform(self, X):
        X = self._checked(X).copy()
        new_columns = {}
        for column in self.columns_:
            keys = self._keys(X[column])
            codes = _codes(keys, self.categories_[column], self.unknown_value)
            if self.suffix:
                new_columns[f"{column}{self.suffix}"] = codes
            else:
                X[column] = codes
        return _append_columns(X, new_columns)


class LabelEncoderColumns(_CodeEncoder):
    """Canvas node ``label_encoding``: integer codes of the values as strings.

    Codes 0..k-1 follow the sorted order of the distinct training values, compared
    as strings (``str(value)``). Missing and unseen values get ``unknown_value``.
    ``suffix=""`` replaces the column in place; otherwise a new column
    ``<col><suffix>`` is appended and the original kept. ``columns=None``: every
    non-numeric column.
    """

    def __init__(self, columns=None, suffix="", unknown_value=-1):
        self.columns = columns
        self.suffix = suffix
        self.unknown_value = unknown_value

    def fit(self, X, y=None):
        self.columns_ = _select_columns(X, self.columns, _is_not_numeric)
        self.categories_ = {}
        for column in self.columns_:
            self.categories_[column] = sorted({str(v) for v in X[column].dropna()})
        self._remember_code_columns(X)
        return self

    def _keys(self, series):
        return _as_text(series)


class OrdinalEncoderColumns(_CodeEncoder):
    """Canvas node ``ordinal_encoding``: integer codes in a given category order.

    ``categories`` maps a column to its ordered list of values (codes 0..k-1 in
    that order); a column not named there uses its sorted distinct training
    values (numerically for numeric columns, as strings otherwise). A training
    value missing from a given order raises a ValueError. Missing and unseen
    values get ``unknown_value``. ``suffix=""`` replaces the column in place;
    otherwise ``<col><suffix>`` is appended. ``columns=None``: every non-numeric
    column.
    """

    def __init__(self, columns=None, categories=None, suffix="", unknown_value=-1):
        self.columns = columns
        self.categories = categories
        self.suffix = suffix
        self.unknown_value = unknown_value

    def fit(self, X, y=None):
        self.columns_ = _select_columns(X, self.columns, _is_not_numeric)
        given = self.categories or {}
        stray = [column for column in given if column not in self.columns_]
        if stray:
            raise ValueError(f"categories given for column(s) not encoded: {stray}")
        self.categories_ = {}
        for column in self.columns_:
            seen = X[column].dropna().unique().tolist()
            if column in given:
                order = list(given[column])
                outside = [value for value in seen if value not in order]
                if outside:
                    raise ValueError(
                        f"Column {column!r} has training value(s) {outside} "
                        f"missing from its category order {order}"
                    )
            elif _is_numeric(X[column]):
                order = sorted(seen)
            else:
                order = sorted(seen, key=str)
            self.categories_[column] = order
        self._remember_code_columns(X)
        return self

    def _keys(self, series):
        return [None if pd.isna(value) else value for value in series]


class OneHotEncoderColumns(_FrameTransformer):
    """Canvas nodes ``one_hot_encoding`` and ``dummy_encoding``: 0/1 columns.

    Each column is replaced by int columns ``<col>_<category>`` appended at the
    end, categories being the training values as strings, sorted. When a column
    has more than ``max_categories`` categories, the ``max_categories - 1`` most
    frequent stay (ties: sorted order) and the rest share one column
    ``<col>_infrequent`` after the kept ones. ``drop_first`` drops the first
    column of each block. Missing values give all zeros; unseen categories give
    all zeros (``handle_unknown="ignore"``) or raise a ValueError (``"error"``).
    ``columns=None``: every non-numeric column. (``dummy_encoding`` is this class
    with ``handle_unknown="ignore"`` and ``drop_first=True``.)
    """

    def __init__(
        self,
        columns=None,
        drop_first=False,
        handle_unknown="ignore",
        max_categories=None,
    ):
        self.columns = columns
        self.drop_first = drop_first
        self.handle_unknown = handle_unknown
        self.max_categories = max_categories

    def fit(self, X, y=None):
        _check_choice("handle_unknown", self.handle_unknown, ("ignore", "error"))
        if self.max_categories is not None and self.max_categories < 1:
            raise ValueError(f"max_categories must be >= 1, got {self.max_categories}")
        self.columns_ = _select_columns(X, self.columns, _is_not_numeric)
        self.categories_ = {}
        self.infrequent_categories_ = {}
        for column in self.columns_:
            counts = Counter(str(value) for value in X[column].dropna())
            categories = sorted(counts)
            infrequent = []
            limit = self.max_categories
            if limit is not None and len(categories) > limit:
                by_frequency = sorted(categories, key=lambda c: (-counts[c], c))
                kept = set(by_frequency[: limit - 1])
                infrequent = [c for c in categories if c not in kept]
                categories = [c for c in categories if c in kept]
            self.categories_[column] = categories
            self.infrequent_categories_[column] = infrequent
        new_columns = [name for c in self.columns_ for name, _ in self._blocks(c)]
        self._remember_columns(X, _output_columns(X, new_columns, self.columns_))
        return self

    def transform(self, X):
        self._checked(X)
        new_columns = {}
        for column in self.columns_:
            values = _as_text(X[column])
            known = {*self.categories_[column], *self.infrequent_categories_[column]}
            unseen = sorted({v for v in values if v is not None and v not in known})
            if unseen and self.handle_unknown == "error":
                raise ValueError(f"Column {column!r} has unseen categories {unseen}")
            for name, group in self._blocks(column):
                new_columns[name] = np.isin(values, group).astype("int64")
        return _append_columns(X, new_columns, self.columns_)

    def _blocks(self, column):
        """(output name, categories it flags) of a column, after ``drop_first``."""
        blocks = [(f"{column}_{c}", [c]) for c in self.categories_[column]]
        if self.infrequent_categories_[column]:
            blocks.append((f"{column}_infrequent", self.infrequent_categories_[column]))
        return blocks[1:] if self.drop_first else blocks


class HashEncoderColumns(_FrameTransformer):
    """Canvas node ``hash_encoding``: the hashing trick, per column.

    Each column is hashed by ``FeatureHasher(n_features, input_type="string",
    alternate_sign=False)`` over the one-token list ``[str(value)]`` (a missing
    value hashes the empty string) into float columns ``<col>_hash_0`` ..
    ``<col>_hash_<n-1>`` appended at the end; the original column is removed.
    ``columns=None``: every non-numeric column.
    """

    def __init__(self, columns=None, n_features=8):
        self.columns = columns
        self.n_features = n_features

    def fit(self, X, y=None):
        self.columns_ = _select_columns(X, self.columns, _is_not_numeric)
        new_columns = [name for column in self.columns_ for name in self._names(column)]
        self._remember_columns(X, _output_columns(X, new_columns, self.columns_))
        return self

    def transform(self, X):
        self._checked(X)
        hasher = FeatureHasher(
            n_features=self.n_features, input_type="string", alternate_sign=False
        )
        new_columns = {}
        for column in self.columns_:
            tokens = [[value] for value in _as_text(X[column], missing="")]
            hashed = hasher.transform(tokens).toarray()
            for i, name in enumerate(self._names(column)):
                new_columns[name] = hashed[:, i]
        return _append_columns(X, new_columns, self.columns_)

    def _names(self, column):
        return [f"{column}_hash_{i}" for i in range(self.n_features)]


def _target_type(y, declared=None):
    """The target type: ``declared`` (from the canvas's model), else guessed.

    Guessed: ``continuous`` for a float target, ``binary`` otherwise. A binary target
    with more than two classes is an error.
    """
    if declared is None and pd.api.types.is_float_dtype(y):
        declared = "continuous"
    if declared == "continuous":
        return declared
    n = pd.Series(y).nunique()
    if n > 2:
        raise ValueError(f"multiclass target encoding is not supported ({n} classes)")
    return "binary"


class TargetEncoderColumns(_FrameTransformer):
    """Canvas node ``target_encoding``: scikit-learn's ``TargetEncoder``, in place.

    ``TargetEncoder(smooth, cv, shuffle=True, random_state)`` over the columns'
    values as strings. ``fit_transform`` (what a Pipeline calls on the training
    frame) returns the cross-fitted encoding; ``transform`` uses the encoding
    learned on all training rows. ``target_type`` is ``"binary"`` (classification,
    scikit-learn's positive class: the second in sorted order) or ``"continuous"``
    (regression); ``None`` guesses from the target (float: continuous). A
    classification target with more than two classes raises a ValueError. Missing values
    are encoded as the training target mean; unseen values too (scikit-learn).
    ``columns=None``: every non-numeric column.
    """

    def __init__(
        self,
        columns=None,
        smooth="auto",
        cv=5,
        random_state=42,
        target_type=None,
    ):
        self.columns = columns
        self.smooth = smooth
        self.cv = cv
        self.target_type = target_type
        self.random_state = random_state

    def fit(self, X, y):
        self._fit(X, y, cross_fit=False)
        return self

    def fit_transform(self, X, y):
        return self._fit(X, y, cross_fit=True)

    def transform(self, X):
        self._checked(X)
        if not self.columns_:
            return X.copy()
        return self._write(X, self.encoder_.transform(self._categories(X)))

    def _fit(self, X, y, cross_fit):
        """Fit the encoder; return the cross-fitted training encoding if asked."""
        self.columns_ = _select_columns(X, self.columns, _is_not_numeric)
        self._remember_columns(X, X.columns)
        target_type = _target_type(y, self.target_type)
        # TargetEncoder(cv, shuffle=True, random_state) cross-fits on these folds;
        # scikit-learn 1.9 deprecates shuffle and random_state for passing them.
        folds = StratifiedKFold if target_type == "binary" else KFold
        self.encoder_ = TargetEncoder(
            smooth=self.smooth,
            cv=folds(n_splits=self.cv, shuffle=True, random_state=self.random_state),
            target_type=target_type,
        )
        if not self.columns_:
            return X.copy()
        if cross_fit:
            return self._write(X, self.encoder_.fit_transform(self._categories(X), y))
        self.encoder_.fit(self._categories(X), y)
        return None

    def _categories(self, X):
        # Values as strings with NaN for missing: scikit-learn would otherwise
        # learn a category for missing values, while the canvas encodes them as
        # the training target mean (see _write).
        return pd.DataFrame(
            {column: _as_text(X[column], missing=np.nan) for column in self.columns_},
            index=X.index,
        )

    def _write(self, X, encoded):
        X = X.copy()
        missing = X[self.columns_].isna().to_numpy()
        X[self.columns_] = np.where(missing, self.encoder_.target_mean_, encoded)
        return X
