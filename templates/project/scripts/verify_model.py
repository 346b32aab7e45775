"""Check that a retrained model reproduces the committed one.

Usage: python scripts/verify_model.py RETRAINED_DIR

RETRAINED_DIR is the folder given to ``python -m src.models.train --output-dir``. The check
passes when its models/metrics.json equals the committed models/metrics.json and its model
predicts the rows of tests/fixtures/golden_predictions.csv exactly as committed (classes
equal, numbers within a relative 1e-9). Exits 1 with the differences otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden_predictions.csv"
REL_TOL = 1e-9
MAX_SHOWN = 10


def metric_differences(committed: dict, retrained: dict, prefix: str = "") -> list[str]:
    """Every metric path whose value differs, as ``path: committed -> retrained``."""
    out = []
    for key in sorted(committed.keys() | retrained.keys()):
        path = f"{prefix}{key}"
        a, b = committed.get(key), retrained.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += metric_differences(a, b, f"{path}.")
        elif a != b:
            out.append(f"{path}: {a!r} -> {b!r}")
    return out


def same_prediction(golden: str, value: object) -> bool:
    if str(value) == golden:
        return True
    try:
        return math.isclose(float(golden), float(value), rel_tol=REL_TOL)
    except (TypeError, ValueError):
        return False


def prediction_differences(retrained: Path) -> list[str]:
    # The project's own package: CI installs it (pip install -e .) before this runs.
    from src.models.predict import ModelPredictor

    predictor = ModelPredictor(
        str(retrained / "models" / "trained" / "model.joblib"),
        str(retrained / "models" / "manifest.json"),
    )
    with GOLDEN.open(newline="", encoding="utf-8") as handle:
        golden = [row["prediction"] for row in csv.DictReader(handle)]
    predicted = predictor.predict_batch(str(GOLDEN))["prediction"].tolist()
    if len(predicted) != len(golden):
        return [f"{len(predicted)} predictions for {len(golden)} golden rows"]
    return [
        f"row {i}: committed {want!r}, retrained {got!r}"
        for i, (want, got) in enumerate(zip(golden, predicted, strict=True))
        if not same_prediction(want, got)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("retrained", type=Path, help="the retrained project's --output-dir")
    args = parser.parse_args(argv)
    metrics = args.retrained / "models" / "metrics.json"
    if not metrics.is_file():
        print(f"verify_model: {metrics} is missing: retrain first", file=sys.stderr)
        return 1
    committed = json.loads((ROOT / "models" / "metrics.json").read_text(encoding="utf-8"))
    failures = metric_differences(committed, json.loads(metrics.read_text(encoding="utf-8")))
    if GOLDEN.is_file():
        failures += prediction_differences(args.retrained)
    if failures:
        print(f"The retrained model differs from the committed one ({len(failures)}):")
        for line in failures[:MAX_SHOWN]:
            print(f"  {line}")
        if len(failures) > MAX_SHOWN:
            print(f"  … and {len(failures) - MAX_SHOWN} more")
        return 1
    print("The retrained model reproduces the committed metrics and golden predictions.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
