"""Wiring shared by ``gitexport serve``, ``gitexport worker`` and ``gitexport keys``: the
settings made into a migrated store, the vault, the queue and (for workers) a worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from gitexport.service.config import Settings, redact_url
from gitexport.service.queue import JobQueue, make_huey
from gitexport.service.store import JobStore
from gitexport.service.vault import TokenVault
from gitexport.service.worker import Worker

_log = logging.getLogger("gitexport.service")


@dataclass
class Runtime:
    settings: Settings
    store: JobStore
    vault: TokenVault
    queue: JobQueue
    worker: Worker


def start(settings: Settings) -> Runtime:
    state_dir = Path(settings.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)  # job bundles, caches and (embedded) the store live here
    store = JobStore(settings.database_url, state_dir)
    store.migrate()
    vault = TokenVault(settings.secret_keys)
    huey = make_huey(settings.queue_url, state_dir)
    queue = JobQueue(huey)
    worker = Worker(
        store,
        vault,
        state_dir,
        enqueue=queue.enqueue,
        heartbeat_seconds=settings.heartbeat_seconds,
        lease_seconds=settings.lease_seconds,
        job_ttl_seconds=settings.job_ttl_seconds,
    )
    queue.set_runner(worker.run_job)
    _log.info(
        "state %s, store %s, queue %s",
        state_dir,
        redact_url(settings.database_url) or "embedded SQLite",
        redact_url(settings.queue_url) or "embedded SQLite",
    )
    return Runtime(settings, store, vault, queue, worker)


def configure_logging(verbose: bool = True) -> None:
    logging.getLogger("gitexport").setLevel(logging.INFO if verbose else logging.WARNING)
