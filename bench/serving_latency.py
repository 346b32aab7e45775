"""The generated API's latency and batch throughput against the fitted pipeline in-process.

A built project (``gitexport.api.build``, trained) is written to a temporary folder and served
by its own ``scripts/serve.sh`` (uvicorn, one worker) on 127.0.0.1 (``MAX_BATCH_SIZE=1000``).
Records are rows of the example's data file, keyed by the serving schema's columns. After a
warm-up, each round times, in turn and on the same row:

* ``/predict``: p50/p95 of one record, sequential requests with one httpx client (keep-alive);
  anchor: p50 of the fitted pipeline's own ``predict_proba`` (``predict`` for a regressor) on
  that row, in this process (goal: p50 ≤ 1.3× of it). Taking them in turns keeps a noisy
  machine from favouring one side;
* ``GET /health``: what HTTP on loopback and the server cost for a trivial endpoint (part of
  the endpoint's cost, as the anchor is in-process);
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

# The measured processes cache bytecode, as a user's Python does (some shells turn it off).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

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


def usable_rows(built, frame):
    """The rows whose required columns are set (the others would be refused with a 422)."""
    return frame.dropna(subset=[f.name for f in built.plan.serving_schema if not f.nullable])


def records_of(built, rows) -> list[dict]:
    """The rows as JSON records of the serving schema's columns."""
    import pandas as pd

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
    # The project's own start-up script (scripts/serve.sh), with this interpreter.
    env.update(PYTHON=sys.executable, HOST="127.0.0.1", PORT=str(port))
    proc = subprocess.Popen(
        ["bash", "scripts/serve.sh", "--log-level", "warning"],
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


def load_pipeline(root: Path):
    """The fitted pipeline's own prediction method, loaded in this process."""
    import joblib

    sys.path.insert(0, str(root))  # the pipeline's pickled steps live in the project's src
    pipeline = joblib.load(root / "models" / "trained" / "model.joblib")
    return getattr(pipeline, "predict_proba", pipeline.predict)


def measure(url: str, records: list[dict], predict, features, n: int, batches: int) -> dict:
    """/health, /predict and the in-process anchor timed in turns, on the same rows.

    One loop takes one of each in turn, so that the anchor and the endpoint see the same
    machine (load, CPU frequency) rather than two stretches of a noisy one.
    """
    import httpx

    batch = {"records": (records * (BATCH // len(records) + 1))[:BATCH]}
    rows = features.head(BATCH)
    times = {"health": [], "predict": [], "anchor": []}
    with httpx.Client(base_url=url, timeout=120) as http:
        for i in range(20):  # warm-up: connection, first predictions, lazy imports
            http.get("/health").raise_for_status()
            http.post("/predict", json=records[i % len(records)]).raise_for_status()
            predict(features.iloc[[i % len(features)]])
        http.post("/predict/batch", json=batch).raise_for_status()
        single_wall = 0.0
        for i in range(n):
            record, row = records[i % len(records)], features.iloc[[i % len(features)]]
            t0 = time.perf_counter()
            http.get("/health").raise_for_status()
            t1 = time.perf_counter()
            http.post("/predict", json=record).raise_for_status()
            t2 = time.perf_counter()
            predict(row)
            t3 = time.perf_counter()
            times["health"].append(t1 - t0)
            times["predict"].append(t2 - t1)
            times["anchor"].append(t3 - t2)
            single_wall += t2 - t1
        batch_http, batch_local = [], []
        for _ in range(batches):
            t0 = time.perf_counter()
            http.post("/predict/batch", json=batch).raise_for_status()
            t1 = time.perf_counter()
            predict(rows)
            batch_http.append(t1 - t0)
            batch_local.append(time.perf_counter() - t1)
    return {
        "p50": percentile(times["predict"], 0.5),
        "p95": percentile(times["predict"], 0.95),
        "health_p50": percentile(times["health"], 0.5),
        "anchor_p50": percentile(times["anchor"], 0.5),
        "single_rps": n / single_wall,
        "batch_s": statistics.median(batch_http),
        "local_batch_s": statistics.median(batch_local),
    }


def main() -> None:
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
        frame = planned.frame  # the data source as the canvas read it (CSV or Parquet)
        rows = usable_rows(built, frame)
        records = records_of(built, rows)
        features = rows.drop(columns=[built.plan.target])  # the same rows, as a frame
        predict = load_pipeline(root)
        proc, url = serve(root)
        try:
            wait_ready(proc, url, root)
            m = measure(url, records, predict, features, args.requests, args.batches)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    name = predict.__name__
    batch_rps = BATCH / m["batch_s"]
    anchor = m["anchor_p50"]
    print(f"{'what':46} {'figure':>14}   {'anchor':>14}   ratio   goal")
    print(
        f"{'/predict one record, p50':46} {m['p50'] * 1e3:11.1f} ms   "
        f"{anchor * 1e3:11.1f} ms   {m['p50'] / anchor:5.2f}x   <= 1.3x"
        f"   (anchor: pipeline.{name} on one row, in-process)"
    )
    print(
        f"{'/predict one record, p95':46} {m['p95'] * 1e3:11.1f} ms   "
        f"{anchor * 1e3:11.1f} ms   {m['p95'] / anchor:5.2f}x"
    )
    print(
        f"{'  GET /health (HTTP and server floor), p50':46} {m['health_p50'] * 1e3:11.2f} ms"
        "   (keep-alive httpx client, trivial endpoint)"
    )
    print(
        f"{'/predict/batch of 1,000: records/s':46} {batch_rps:11.0f} /s   "
        f"{m['single_rps']:11.1f} /s   {batch_rps / m['single_rps']:5.1f}x   >= 20x"
        "   (anchor: sequential /predict, records/s)"
    )
    print(
        f"{'  (batch of 1,000 over HTTP vs in-process)':46} {m['batch_s'] * 1e3:11.0f} ms   "
        f"{m['local_batch_s'] * 1e3:11.0f} ms   {m['batch_s'] / m['local_batch_s']:5.2f}x"
    )


if __name__ == "__main__":
    main()
