"""The generated API's latency and batch throughput against the fitted pipeline in-process.

A built project (``gitexport.api.build``, trained) is written to a temporary folder and served
with ``uvicorn src.api.main:app`` on 127.0.0.1 (``MAX_BATCH_SIZE=1000``), as
tests/test_generated_serving.py starts it. Records are rows of the example's data file, keyed
by the serving schema's columns. After a warm-up:

* ``/predict``: p50/p95 of one record, sequential requests with one httpx client (keep-alive);
  anchor: p50 of the fitted pipeline's own ``predict_proba`` (``predict`` for a regressor) on
  one row of the same data, in this process (goal: p50 ≤ 1.3× of it);
* ``/predict/batch`` of 1,000 records: records per second against the single-record
  throughput (sequential ``/predict`` requests per second; goal ≥ 20×).

It asserts nothing.

    python bench/serving_latency.py [--example telco_churn] [--requests 200] [--batches 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_project(example: str, root: Path):
    """Build (train) the example and write the project; returns the built project."""
    from gitexport import api

    built = api.build(api.example(example))
    for rel, data in {**built.files, **built.release_files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return built


def records_of(built, frame) -> list[dict]:
    """JSON records of the serving schema's columns, rows whose required columns are set."""
    import pandas as pd

    required = [f.name for f in built.plan.serving_schema if not f.nullable]
    rows = frame.dropna(subset=required)
    records = []
    for _, row in rows.iterrows():
        record = {}
        for field in built.plan.serving_schema:
            value = row[field.name]
            if pd.isna(value):
                value = None
            elif field.kind == "string":
                value = str(value)
            record[field.name] = value.item() if hasattr(value, "item") else value
        records.append(record)
    return records


def serve(root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MAX_BATCH_SIZE"] = str(BATCH)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "src.api.main:app", "--host", "127.0.0.1"]
        + ["--port", str(port), "--log-level", "warning"],
        cwd=root,
        env=env,
        stdout=(root / "uvicorn.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen, url: str, root: Path, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"uvicorn exited:\n{(root / 'uvicorn.log').read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"uvicorn did not answer in {timeout} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def over_http(url: str, records: list[dict], n: int, batches: int) -> dict:
    import httpx

    batch = {"records": (records * (BATCH // len(records) + 1))[:BATCH]}
    with httpx.Client(base_url=url, timeout=120) as http:
        for i in range(20):  # warm-up: connection, first predictions, lazy imports
            http.post("/predict", json=records[i % len(records)]).raise_for_status()
        http.post("/predict/batch", json=batch).raise_for_status()
        single = []
        started = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            http.post("/predict", json=records[i % len(records)]).raise_for_status()
            single.append(time.perf_counter() - t0)
        single_wall = time.perf_counter() - started
        batch_times = []
        for _ in range(batches):
            t0 = time.perf_counter()
            http.post("/predict/batch", json=batch).raise_for_status()
            batch_times.append(time.perf_counter() - t0)
    return {
        "p50": percentile(single, 0.5),
        "p95": percentile(single, 0.95),
        "single_rps": n / single_wall,
        "batch_s": statistics.median(batch_times),
    }


def in_process(root: Path, frame, target: str, n: int) -> dict:
    """The fitted pipeline's own prediction on one row (and on 1,000) in this process."""
    import joblib

    sys.path.insert(0, str(root))  # the pipeline's pickled steps live in the project's src
    pipeline = joblib.load(root / "models" / "trained" / "model.joblib")
    predict = getattr(pipeline, "predict_proba", pipeline.predict)
    features = frame.drop(columns=[target])
    for i in range(20):
        predict(features.iloc[[i]])
    one = []
    for i in range(n):
        row = features.iloc[[i % len(features)]]
        t0 = time.perf_counter()
        predict(row)
        one.append(time.perf_counter() - t0)
    rows = features.head(BATCH)
    t0 = time.perf_counter()
    predict(rows)
    return {"p50": percentile(one, 0.5), "batch_s": time.perf_counter() - t0, "how": predict}


def main() -> None:
    import pandas as pd

    from gitexport import api

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="telco_churn")
    parser.add_argument("--requests", type=int, default=200, help="sequential /predict calls")
    parser.add_argument("--batches", type=int, default=10, help="/predict/batch calls (median)")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# serving latency: {args.example}, {os.cpu_count()} cores, load average {load}")
    with tempfile.TemporaryDirectory(prefix="gitexport-bench-") as tmp:
        root = Path(tmp) / "project"
        print("building and training the project (not timed) ...", flush=True)
        built = write_project(args.example, root)
        planned = api.load(api.example(args.example))
        frame = pd.read_csv(planned.data_path)
        records = records_of(built, frame)
        proc, url = serve(root)
        try:
            wait_ready(proc, url, root)
            http = over_http(url, records, args.requests, args.batches)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        local = in_process(root, frame, built.plan.target, args.requests)
    name = local["how"].__name__
    batch_rps = BATCH / http["batch_s"]
    print(f"{'what':46} {'figure':>14}   {'anchor':>14}   ratio   goal")
    print(
        f"{'/predict one record, p50':46} {http['p50'] * 1e3:11.1f} ms   "
        f"{local['p50'] * 1e3:11.1f} ms   {http['p50'] / local['p50']:5.2f}x   <= 1.3x"
        f"   (anchor: pipeline.{name} on one row, in-process)"
    )
    print(
        f"{'/predict one record, p95':46} {http['p95'] * 1e3:11.1f} ms   "
        f"{local['p50'] * 1e3:11.1f} ms   {http['p95'] / local['p50']:5.2f}x"
    )
    print(
        f"{'/predict/batch of 1,000: records/s':46} {batch_rps:11.0f} /s   "
        f"{http['single_rps']:11.1f} /s   {batch_rps / http['single_rps']:5.1f}x   >= 20x"
        "   (anchor: sequential /predict, records/s)"
    )
    print(
        f"{'  (batch of 1,000 over HTTP vs in-process)':46} {http['batch_s'] * 1e3:11.0f} ms   "
        f"{local['batch_s'] * 1e3:11.0f} ms   {http['batch_s'] / local['batch_s']:5.2f}x"
    )


if __name__ == "__main__":
    main()
