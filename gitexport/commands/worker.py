"""``gitexport worker``: an extra export worker (scale-out), on any machine that shares the
queue (``GITEXPORT_QUEUE_URL``) and the job store (``GITEXPORT_DATABASE_URL``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run export workers for the service's queue",
        description="Run export workers for the service's queue and job store.",
    )
    parser.add_argument(
        "--concurrency", type=int, help="jobs run at once (GITEXPORT_WORKER_CONCURRENCY)"
    )
    parser.add_argument("--state-dir", type=Path, help="state folder (GITEXPORT_STATE_DIR)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from gitexport.commands.serve import settings_from
    from gitexport.errors import UserError
    from gitexport.service import runtime

    settings = settings_from(args)
    concurrency = args.concurrency or settings.worker_concurrency
    if concurrency < 1:
        raise UserError("--concurrency must be 1 or more")
    logging.getLogger("gitexport").setLevel(logging.INFO)
    rt = runtime.start(settings)
    rt.worker.start_maintenance()
    consumer = rt.queue.consumer(concurrency, embedded=False)
    try:
        consumer.run()  # until SIGINT/SIGTERM
    finally:
        rt.worker.stop()
    return 0
