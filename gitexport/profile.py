"""Reading the data source (an I/O edge) and summarising what planning needs from it.

The plan is pure; everything it needs to know about the data (header, dtypes, and a few
facts about the training split: which columns have missing values, which categories occur)
is gathered here once, as a plain :class:`DataProfile`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
from pandas.api import types as ptypes

from gitexport.document import Bundle, DataSource
from gitexport.errors import DocumentError, Problem

MAX_CATEGORIES = 200  # beyond this a text column is treated as free text, not a category


def column_kind(dtype) -> str:
    """The spec's coarse type: numeric means a pandas numeric dtype that is not bool."""
    if ptypes.is_bool_dtype(dtype):
        return "bool"
    if ptypes.is_integer_dtype(dtype):
        return "integer"
    if ptypes.is_numeric_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def read_source(path: Path, source: DataSource) -> pd.DataFrame:
    """Read a data file the way the canvas did (SPEC: read_csv with options, or read_parquet)."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path, sep=source.options.delimiter, encoding=source.options.encoding)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    dtype: str
    kind: str
    missing_in_data: int
    missing_in_train: int
    train_min: float | None = None
    train_categories: tuple[str, ...] | None = None  # sorted as strings; None = too many / numeric
    missing_in_test: int = (
        0  # in the test rows of the split (the rows with a target, not trained on)
    )


@dataclass(frozen=True)
class DataProfile:
    file: str  # relative path inside the bundle
    sha256: str
    n_rows: int
    n_rows_with_target: int
    n_train: int
    n_test: int
    columns: tuple[ColumnProfile, ...]
    target_classes: tuple = field(default=())  # classification: sorted class values
    train_class_counts: tuple[int, ...] = ()  # training rows of each of target_classes

    @cached_property
    def _by_name(self) -> dict[str, ColumnProfile]:
        # built once: planning asks per column and per node (wide data made a search quadratic)
        return {col.name: col for col in reversed(self.columns)}

    def column(self, name: str) -> ColumnProfile:
        return self._by_name[name]


def load_training_frame(bundle: Bundle, source: DataSource) -> tuple[Path, pd.DataFrame]:
    path = bundle.resolve(source.training_file or "")
    try:
        frame = read_source(path, source)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bundle problem
        raise DocumentError(
            Problem(f"data source {source.id!r}", f"cannot read {source.training_file!r}: {exc}")
        ) from None
    return path, frame


def profile_data(
    path: Path,
    relative: str,
    frame: pd.DataFrame,
    *,
    target: str,
    test_size: float,
    stratify: bool,
    random_state: int,
    classification: bool,
    split_where: str = "feature_target_split",
) -> DataProfile:
    """Profile the frame, and the training split exactly as the generated code will make it."""
    from sklearn.model_selection import train_test_split

    with_target = frame[frame[target].notna()]
    y = with_target[target]
    try:
        train_idx, _ = train_test_split(
            with_target.index,
            test_size=test_size,
            random_state=random_state,
            stratify=y if (stratify and classification) else None,
        )
    except ValueError as exc:
        raise DocumentError(Problem(split_where, f"cannot split the data: {exc}")) from None
    train = with_target.loc[train_idx]
    test = with_target.drop(index=train_idx)
    train_counts = train[target].value_counts() if classification else None
    if classification:
        only_in_test = [c for c in y.unique().tolist() if c not in train_counts.index]
        if only_in_test:
            # the model would never see the class, and scoring the test rows fails on it
            raise DocumentError(
                Problem(
                    split_where,
                    f"class(es) {', '.join(map(repr, sorted(map(str, only_in_test))))} of the "
                    f"target {target!r} occur only in the test rows; the model cannot learn "
                    "them (use stratify: true, a smaller test_size, or more rows of them)",
                )
            )
    columns = []
    for name in frame.columns:
        series = frame[name]
        kind = column_kind(series.dtype)
        train_col = train[name]
        categories = None
        train_min = None
        if kind in ("integer", "float"):
            train_min = float(train_col.min()) if train_col.notna().any() else None
        elif kind in ("string", "bool"):
            values = train_col.dropna().astype(str).unique()
            if len(values) <= MAX_CATEGORIES:
                categories = tuple(sorted(values))
        columns.append(
            ColumnProfile(
                name=str(name),
                dtype=str(series.dtype),
                kind=kind,
                missing_in_data=int(series.isna().sum()),
                missing_in_train=int(train_col.isna().sum()),
                missing_in_test=int(test[name].isna().sum()),
                train_min=train_min,
                train_categories=categories,
            )
        )
    classes = tuple(sorted(y.unique().tolist())) if classification else ()
    return DataProfile(
        file=relative,
        sha256=sha256_file(path),
        n_rows=len(frame),
        n_rows_with_target=len(with_target),
        n_train=len(train_idx),
        n_test=len(with_target) - len(train_idx),
        columns=tuple(columns),
        target_classes=tuple(c.item() if hasattr(c, "item") else c for c in classes),
        train_class_counts=tuple(int(train_counts[c]) for c in classes) if classification else (),
    )
