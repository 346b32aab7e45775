"""Load figures of the export service: jobs per minute, p50/p95 job time and the service's own
overhead, for 1, 10 and 50 queued jobs with 1 and 2 workers; and how fast an ``up_to_date``
job answers.

    python bench/service_load.py                      # 1/10/50 jobs x 1/2 workers (long)
    python bench/service_load.py --jobs 1,4 --workers 1,2

Each configuration starts a fresh ``gitexport serve --workers N`` (embedded queue and store)
on 127.0.0.1 and queues the penguins example to distinct local bare repositories, so jobs run
in parallel up to the workers. Per job:

* job time = finished − created (what the canvas waits, queueing included);
* export time = the library's own time (first ``phase`` event → its last progress report),
  taken from the timed event stream of the human page;
* overhead = (finished − started) − export time: claiming, unpacking the bundle, the ZIP, the
  store writes — the cost of the service around one export (target: under 5 %).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from canvas_client import CanvasClient  # noqa: E402

from gitexport import api  # noqa: E402

# The measured processes cache bytecode, as a user's Python does (some shells turn it off).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

KEY = "bench-service-key-0123456789"
OPTIONS = {"data": "sample", "docker": False, "kubernetes": False, "ci": False}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workdir: Path, workers: int) -> tuple[subprocess.Popen, str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith("GITEXPORT_")}
    env.update(
        GITEXPORT_SERVICE_KEYS=KEY,
        GITEXPORT_SECRET_KEYS=Fernet.generate_key().decode(),
        GITEXPORT_STATE_DIR=str(workdir / "state"),
        GITEXPORT_MAX_QUEUED_PER_USER="1000",
        XDG_CACHE_HOME=str(workdir / "cache"),
    )
    port = _port()
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitexport",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(url + "/v1/ready", timeout=1).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gitexport serve did not start; see " + str(workdir / "serve.log"))


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def export_seconds(url: str, job: dict) -> float:
    """First phase event → the library's last progress report, from the page's timed stream."""
    page = job["links"]["page"]
    stream = page.replace("?", "/events?", 1)  # the page's own stream: events with times
    first = last = None
    with requests.get(stream, stream=True, timeout=60) as r:
        event = None
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                message = json.loads(line.split(":", 1)[1])
                at, data = message["at"], message["data"]
                if event == "phase" and data.get("phase") == "done":
                    continue  # written by the service when it records the result
                if event == "phase" and first is None:
                    first = at
                if event in ("phase", "log"):
                    last = at
                if event in ("result", "error"):
                    break
    return (last or 0.0) - (first or 0.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_config(n_jobs: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="gitexport-bench-") as tmp:
        tmp = Path(tmp)
        proc, url = start(tmp, workers)
        try:
            client = CanvasClient(url, KEY, "bench")
            bundle = api.example("penguins")
            t0 = time.time()

            def submit(i: int) -> str:
                request = {
                    "target": {"provider": "local", "repo": str(tmp / "remotes" / f"r{i}.git")},
                    "options": OPTIONS,
                }
                return client.export(bundle, request)["id"]

            with ThreadPoolExecutor(8) as pool:
                ids = list(pool.map(submit, range(n_jobs)))
            jobs = []
            for job_id in ids:
                for _ in client.events(job_id):
                    pass
                jobs.append(client.job(job_id))
            wall = time.time() - t0
            failed = [j for j in jobs if j["state"] != "succeeded"]
            if failed:
                raise SystemExit(f"{len(failed)} job(s) failed: {failed[0]['error']}")
            job_times = [_ts(j["finished_at"]) - _ts(j["created_at"]) for j in jobs]
            exports = [export_seconds(url, j) for j in jobs]
            runs = [_ts(j["finished_at"]) - _ts(j["started_at"]) for j in jobs]
            overheads = [r - e for r, e in zip(runs, exports, strict=True)]

            # The same bundle again to the first repository: an up_to_date job.
            request = {
                "target": {"provider": "local", "repo": str(tmp / "remotes" / "r0.git")},
                "options": OPTIONS,
            }
            t1 = time.time()
            again = client.export(bundle, request)
            for _ in client.events(again["id"]):
                pass
            up_to_date = client.job(again["id"])
            answer = time.time() - t1
            return {
                "jobs": n_jobs,
                "workers": workers,
                "jobs_per_minute": n_jobs / wall * 60,
                "p50_job_s": statistics.median(job_times),
                "p95_job_s": percentile(job_times, 0.95),
                "export_s": statistics.median(exports),
                "overhead_s": statistics.median(overheads),
                "overhead_pct": 100
                * statistics.median(o / e for o, e in zip(overheads, exports, strict=True) if e),
                "up_to_date": bool(up_to_date["result"]["up_to_date"]),
                "up_to_date_answer_s": answer,
            }
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", default="1,10,50", help="comma-separated queued job counts")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args(argv)
    header = (
        f"{'jobs':>5} {'workers':>7} {'jobs/min':>9} {'p50 s':>7} {'p95 s':>7} "
        f"{'export s':>9} {'overhead s':>10} {'overhead':>9} {'up_to_date s':>12}"
    )
    print(header)
    for workers in (int(w) for w in args.workers.split(",")):
        for n in (int(j) for j in args.jobs.split(",")):
            r = run_config(n, workers)
            print(
                f"{r['jobs']:>5} {r['workers']:>7} {r['jobs_per_minute']:>9.2f} "
                f"{r['p50_job_s']:>7.1f} {r['p95_job_s']:>7.1f} {r['export_s']:>9.2f} "
                f"{r['overhead_s']:>10.2f} {r['overhead_pct']:>8.1f}% "
                f"{r['up_to_date_answer_s']:>12.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
