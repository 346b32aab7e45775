"""Canvas category ``data_consistency``: text normalization, date parts, regex clean-up.

Each class implements one canvas node with exactly the semantics the canvas
used; the shared conventions are in ``_base``.
"""

import re
import string
import unicodedata

import pandas as pd

from ._base import (
    _append_columns,
    _explicit_columns,
    _FrameTransformer,
    _is_not_numeric,
    _output_columns,
    _select_columns,
    _ValueMapper,
)

__all__ = ["DateFeatures", "RegexReplace", "TextNormalizer"]


_WHITESPACE = re.compile(r"\s+")


_PUNCTUATION = str.maketrans("", "", string.punctuation)


class TextNormalizer(_ValueMapper):
    """Canvas node ``text_normalization``: normalize text in place.

    Each non-missing value becomes ``str(value)`` and then, in this order and
    each step only when switched on: Unicode normalization (``unicode_form``,
    ``"none"`` skips it), strip, collapse runs of white space (``\\s+``) to one
    space, lowercase, remove ``string.punctuation`` characters. Missing values
    stay missing. ``columns=None``: every non-numeric column.
    """

    def __init__(
        self,
        columns=None,
        lowercase=True,
        strip=True,
        collapse_whitespace=True,
        remove_punctuation=False,
        unicode_form="NFKC",
    ):
        self.columns = columns
        self.lowercase = lowercase
        self.strip = strip
        self.collapse_whitespace = collapse_whitespace
        self.remove_punctuation = remove_punctuation
        self.unicode_form = unicode_form

    def fit(self, X, y=None):
        self.columns_ = _select_columns(X, self.columns, _is_not_numeric)
        self._remember_columns(X, X.columns)
        return self

    def _map_value(self, value):
        text = str(value)
        if self.unicode_form != "none":
            text = unicodedata.normalize(self.unicode_form, text)
        if self.strip:
            text = text.strip()
        if self.collapse_whitespace:
            text = _WHITESPACE.sub(" ", text)
        if self.lowercase:
            text = text.lower()
        if self.remove_punctuation:
            text = text.translate(_PUNCTUATION)
        return text


_DATE_PARTS = {
    "year": lambda dates: dates.dt.year,
    "month": lambda dates: dates.dt.month,
    "day": lambda dates: dates.dt.day,
    "dayofweek": lambda dates: dates.dt.day_of_week,  # Monday = 0
    "hour": lambda dates: dates.dt.hour,
    # Whole days since 1970-01-01 (floored, so earlier dates are negative).
    "epoch_days": lambda dates: (dates - pd.Timestamp("1970-01-01")).dt.days,
}


class DateFeatures(_FrameTransformer):
    """Canvas node ``date_standardization``: date parts as new float columns.

    Each column is parsed with ``pd.to_datetime(format=input_format,
    errors="coerce")`` (unparseable values become missing) and every part in
    ``extract`` is appended as a float column ``<col>_<part>``, in column order
    then ``extract`` order. Parts: year, month, day, dayofweek (Monday=0), hour,
    epoch_days (whole days since 1970-01-01). ``drop_original`` removes the
    parsed columns.
    """

    def __init__(
        self,
        columns,
        input_format=None,
        extract=("year", "month", "day", "dayofweek"),
        drop_original=True,
    ):
        self.columns = columns
        self.input_format = input_format
        self.extract = extract
        self.drop_original = drop_original

    def fit(self, X, y=None):
        unknown = [part for part in self.extract if part not in _DATE_PARTS]
        if unknown:
            raise ValueError(f"Unknown date part(s) {unknown}; known: {[*_DATE_PARTS]}")
        self.columns_ = _explicit_columns(X, self.columns)
        new_columns = [f"{c}_{part}" for c in self.columns_ for part in self.extract]
        dropped = self.columns_ if self.drop_original else ()
        self._remember_columns(X, _output_columns(X, new_columns, dropped))
        return self

    def transform(self, X):
        self._checked(X)
        parts = {}
        for column in self.columns_:
            dates = pd.to_datetime(X[column], format=self.input_format, errors="coerce")
            for part in self.extract:
                values = _DATE_PARTS[part](dates).astype("float64")
                parts[f"{column}_{part}"] = values.to_numpy()
        dropped = self.columns_ if self.drop_original else ()
        return _append_columns(X, parts, dropped)


class RegexReplace(_ValueMapper):
    """Canvas node ``regex_cleanup``: ``re.sub(pattern, replacement, str(value))``
    in place.

    ``case_sensitive=False`` adds ``re.IGNORECASE``. Missing values stay missing.
    An invalid pattern raises a ValueError at ``fit``.
    """

    def __init__(self, columns, pattern, replacement="", case_sensitive=True):
        self.columns = columns
        self.pattern = pattern
        self.replacement = replacement
        self.case_sensitive = case_sensitive

    def fit(self, X, y=None):
        self.columns_ = _explicit_columns(X, self.columns)
        flags = 0 if self.case_sensitive else re.IGNORECASE
        try:
            self.regex_ = re.compile(self.pattern, flags)
        except re.error as error:
            raise ValueError(f"Invalid regex {self.pattern!r}: {error}") from error
        self._remember_columns(X, X.columns)
        return self

    def _map_value(self, value):
        return self.regex_.sub(self.replacement, str(value))
