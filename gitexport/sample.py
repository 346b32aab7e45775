"""The data a project ships: the sample rows and the golden rows, as the source wrote them.

The sample is read back by the generated ``src/data/data_loader.py`` with the source's own
read options (``plan.source.read_options``: the canvas's ``delimiter`` and ``encoding``), so
it is written with the same ones: a ``;`` source ships a ``;`` sample, a latin-1 source a
latin-1 one. Writing it as plain UTF-8 CSV split no column and turned ``Dréam`` into
``DrÃ©am`` while the project's tests still passed. A Parquet source ships a Parquet sample
(``data/sample/<name>.parquet``; the loader picks the reader by the suffix): as CSV, a
zero-padded code ``"01234"`` came back as the number 1234 and dates as text.
:func:`sample_bytes` reads what it wrote back the loader's way and refuses to ship a sample
that does not load to the same rows.
"""

from __future__ import annotations

import io

import pandas as pd

from gitexport.errors import DocumentError, Problem
from gitexport.plan_model import ExportPlan

SAMPLE_ROWS = 300
GOLDEN_ROWS = 50

# pandas.read_csv keyword -> DataFrame.to_csv keyword, for the options a writer mirrors.
# An option outside this table is still checked by the read-back in sample_bytes.
_WRITER_KEYWORD = {
    "sep": "sep",
    "delimiter": "sep",
    "decimal": "decimal",
    "quotechar": "quotechar",
    "quoting": "quoting",
    "escapechar": "escapechar",
    "doublequote": "doublequote",
    "lineterminator": "lineterminator",
}


def sample_rows(plan: ExportPlan, frame: pd.DataFrame) -> pd.DataFrame:
    """A few hundred rows, stratified by class for classification, in source order."""
    rows = frame[frame[plan.target].notna()]
    if len(rows) <= SAMPLE_ROWS:
        return rows
    from sklearn.model_selection import train_test_split

    stratify = rows[plan.target] if plan.problem_type == "classification" else None
    try:
        picked, _ = train_test_split(
            rows.index, train_size=SAMPLE_ROWS, random_state=0, stratify=stratify
        )
    except ValueError:  # a class too small to stratify: plain random rows
        picked, _ = train_test_split(rows.index, train_size=SAMPLE_ROWS, random_state=0)
    return rows.loc[sorted(picked)]


def csv_bytes(frame: pd.DataFrame, read_options: dict | None = None) -> bytes:
    """``frame`` as CSV that ``pandas.read_csv(..., **read_options)`` reads back.

    Without options: UTF-8, comma-separated, ``\\n`` line ends (gitexport's own files such as
    the golden predictions).
    """
    options = dict(read_options or {})
    encoding = options.pop("encoding", None) or "utf-8"
    # Python's csv writer quotes a value holding a character of the line terminator only: with
    # "\n" a carriage return inside a value went out bare and split its row on reading.
    writer = {"lineterminator": "\r\n" if _has_carriage_return(frame) else "\n"}
    writer.update({_WRITER_KEYWORD[k]: v for k, v in options.items() if k in _WRITER_KEYWORD})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, **writer)
    return buffer.getvalue().encode(encoding)


def _has_carriage_return(frame: pd.DataFrame) -> bool:
    if any("\r" in str(name) for name in frame.columns):
        return True
    for name in frame.columns:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_datetime64_any_dtype(
            column
        ):
            if column.astype(str).str.contains("\r", regex=False).any():
                return True
    return False


def sample_bytes(plan: ExportPlan, sample: pd.DataFrame) -> bytes:
    """The shipped sample file: ``sample`` written with the source's read options, checked
    to read back (the generated loader's way) as the rows plain CSV gives."""
    where = f"data source {plan.source.id!r}, options"
    if plan.source.file_format == "parquet":
        return _parquet_bytes(sample, where)
    options = dict(plan.source.read_options)
    data = _csv_sample(sample, options, where)
    # Whatever the options, the loader must get back as many rows and the same columns.
    try:
        shipped = pd.read_csv(io.BytesIO(data), **options)
    except (ValueError, UnicodeError, pd.errors.ParserError) as exc:
        raise DocumentError(Problem(where, f"the sample does not read back: {exc}")) from None
    if shipped.shape != sample.shape or list(shipped.columns) != [str(c) for c in sample.columns]:
        raise DocumentError(
            Problem(
                where,
                f"the sample ({sample.shape[0]} rows, {sample.shape[1]} columns) reads back as "
                f"{shipped.shape[0]} rows and {shipped.shape[1]} columns; export with --data none",
            )
        )
    return data


def _csv_sample(sample: pd.DataFrame, options: dict, where: str) -> bytes:
    try:
        data = csv_bytes(sample, options)
    except (UnicodeError, LookupError, ValueError, TypeError) as exc:
        raise DocumentError(
            Problem(where, f"the sample data cannot be written with {options}: {exc}")
        ) from None
    if options:
        # Plain CSV is what gitexport always shipped; these options must not change the rows.
        expected = pd.read_csv(io.BytesIO(csv_bytes(sample)))
        try:
            shipped = pd.read_csv(io.BytesIO(data), **options)
            pd.testing.assert_frame_equal(shipped, expected)
        except (AssertionError, ValueError, UnicodeError, pd.errors.ParserError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DocumentError(
                Problem(
                    where,
                    f"the sample written with {options} does not read back as the same rows "
                    f"({first}); export with --data none or change the options",
                )
            ) from None
    return data


def _parquet_bytes(sample: pd.DataFrame, where: str) -> bytes:
    buffer = io.BytesIO()
    sample.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    try:
        pd.testing.assert_frame_equal(
            pd.read_parquet(io.BytesIO(data)), sample.reset_index(drop=True)
        )
    except AssertionError as exc:  # an object column of mixed types, say
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "differs"
        raise DocumentError(
            Problem(where, f"the sample does not read back from Parquet as the same rows ({first})")
        ) from None
    return data
