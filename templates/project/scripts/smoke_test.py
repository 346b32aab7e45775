#!/usr/bin/env python3
"""Smoke-test a running prediction API: health, readiness, metadata and one golden prediction.

Usage: scripts/smoke_test.py [--url http://127.0.0.1:8000] [--timeout 60]

Waits for the server to answer, then posts the first row of
tests/fixtures/golden_predictions.csv to /predict and compares the answer with the prediction
the shipped model made when it was exported. Standard library only, so it runs anywhere
(CI, a container, a laptop). Exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

GOLDEN_PATH = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "golden_predictions.csv"


def call(url: str, body: dict | None = None) -> tuple[int, dict]:
    """(status, JSON body) of a GET, or of a POST when ``body`` is given."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def wait_until_up(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if call(f"{base}/health")[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{base}/health did not answer within {timeout:.0f} s")
        time.sleep(1)


def golden_request(features: list[dict]) -> tuple[dict, str] | None:
    """The first golden row as a request body, and the prediction it should get."""
    if not GOLDEN_PATH.exists():
        return None
    with open(GOLDEN_PATH, newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    record = {}
    for feature in features:
        text = row[feature["name"]]
        if text == "":
            value = None  # a missing value in the CSV
        elif feature["kind"] == "integer":
            value = int(float(text))
        elif feature["kind"] == "float":
            value = float(text)
        elif feature["kind"] == "bool":
            value = text.lower() in ("true", "1")
        else:
            value = text
        record[feature["name"]] = value
    return record, row["prediction"]


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok: {message}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the API's base URL")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for start-up")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")

    wait_until_up(base, args.timeout)
    check(call(f"{base}/health") == (200, {"status": "ok"}), "GET /health")
    status, ready = call(f"{base}/ready")
    check(status == 200 and ready.get("status") == "ready", "GET /ready")
    status, metadata = call(f"{base}/metadata")
    check(status == 200 and metadata["model"]["sha256"] == ready["model_sha256"], "GET /metadata")

    golden = golden_request(metadata["features"])
    if golden is None:
        print(f"skipped: POST /predict ({GOLDEN_PATH.name} is not in this project)")
        return 0
    record, expected = golden
    status, answer = call(f"{base}/predict", record)
    check(status == 200, f"POST /predict answered {status}: {answer}")
    predicted = answer["prediction"]
    if metadata["model"]["problem_type"] == "regression":
        same = math.isclose(float(predicted), float(expected), rel_tol=1e-6)
    else:
        same = str(predicted) == expected
    check(same, f"golden prediction {expected!r} (got {predicted!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
