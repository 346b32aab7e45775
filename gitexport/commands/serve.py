"""``gitexport serve``: the export service on one machine, in one command.

The API (FastAPI on uvicorn) and ``--workers`` embedded worker threads, sharing the queue and
the job store (embedded in ``--state-dir`` unless ``GITEXPORT_QUEUE_URL`` /
``GITEXPORT_DATABASE_URL`` name servers). Refuses to start without service keys or secret
keys (``GITEXPORT_SERVICE_KEYS``, ``GITEXPORT_SECRET_KEYS``) rather than run open.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the export service (API + embedded workers)",
        description="Run the export service (gitexport-service/1): the HTTP API and embedded "
        "workers, with an embedded queue and job store in the state folder.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument("--state-dir", type=Path, help="state folder (GITEXPORT_STATE_DIR)")
    parser.add_argument(
        "--workers",
        type=int,
        help="embedded worker threads (default GITEXPORT_WORKER_CONCURRENCY; 0: API only)",
    )
    parser.set_defaults(run=run)


def settings_from(args: argparse.Namespace):
    from gitexport.service.config import load_settings

    settings = load_settings()
    if getattr(args, "state_dir", None):
        settings = settings.model_copy(update={"state_dir": args.state_dir.expanduser()})
    return settings


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from gitexport.service import runtime
    from gitexport.service.app import create_app

    settings = settings_from(args)  # ConfigError: printed by the CLI, exit status 1
    logging.getLogger("gitexport").setLevel(logging.INFO)
    rt = runtime.start(settings)
    workers = settings.worker_concurrency if args.workers is None else args.workers
    if workers < 0:
        from gitexport.errors import UserError

        raise UserError("--workers must be 0 or more")
    consumer = None
    if workers:
        consumer = rt.queue.consumer(workers, embedded=True)
        consumer.start()
        rt.worker.start_maintenance()
    app = create_app(settings, rt.store, rt.queue)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=True)
    finally:
        rt.worker.stop()
        if consumer is not None:
            # Running jobs stop here; the sweeper of the next start re-runs them.
            consumer.stop(graceful=False)
    return 0
