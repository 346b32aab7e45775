"""The data a project ships: the sample rows and the golden rows, as the source wrote them."""

from __future__ import annotations

import io

import pandas as pd

from gitexport.plan_model import ExportPlan

SAMPLE_ROWS = 300
GOLDEN_ROWS = 50


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


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")
