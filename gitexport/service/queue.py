"""The job queue on huey: SQLite storage in the state folder embedded, Redis scaled out.

The queue carries only job ids: what a job is lives in the job store, so a lost or repeated
message costs nothing (a worker claims a job with a compare-and-swap in the store and skips one
that is running elsewhere or finished). The API process enqueues; worker processes (or the
threads ``gitexport serve`` embeds) consume through huey's own consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer

TASK_NAME = "gitexport.run_job"

_log = logging.getLogger("gitexport.service.queue")


def make_huey(queue_url: str | None, state_dir: Path) -> Huey:
    if queue_url:
        return RedisHuey("gitexport", url=queue_url, utc=True)
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    return SqliteHuey("gitexport", filename=str(Path(state_dir) / "queue.sqlite3"), utc=True)


class JobQueue:
    """Enqueue job ids; run them with *runner* in a consumer."""

    def __init__(self, huey: Huey, runner: Callable[[str], None] | None = None):
        self.huey = huey
        self._runner = runner
        # Registered in every process under one name: the API only enqueues it.
        self._task = huey.task(name=TASK_NAME, retries=0)(self._run)

    def _run(self, job_id: str) -> None:
        if self._runner is None:
            raise RuntimeError("this process only enqueues jobs; it has no worker")
        self._runner(job_id)

    def set_runner(self, runner: Callable[[str], None]) -> None:
        self._runner = runner

    def enqueue(self, job_id: str, delay: float = 0) -> None:
        if delay > 0:
            self._task.schedule(args=(job_id,), delay=delay)
        else:
            self._task(job_id)

    def ping(self) -> int:
        """The number of waiting messages; raises when the queue cannot be reached."""
        return self.huey.pending_count()

    def consumer(self, workers: int, *, embedded: bool) -> Consumer:
        """huey's consumer with *workers* threads, polling at most every half second (a
        freshly queued job must not wait for an idle worker's back-off)."""
        cls = _EmbeddedConsumer if embedded else Consumer
        return cls(
            self.huey,
            workers=workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.2,
            max_delay=0.5,
            scheduler_interval=1,
            check_worker_health=True,
        )


class _EmbeddedConsumer(Consumer):
    """Runs beside uvicorn in ``gitexport serve``: uvicorn owns the process's signals."""

    def _set_signal_handlers(self) -> None:
        pass
