"""BLAS and OpenMP thread counts, made explicit.

Some steps (a neighbour search, a KNN imputation or model) add up floating-point numbers in an
order that depends on how many threads compute them, so the same data and seed can give a
slightly different model on a machine with another core count. Training therefore runs with
explicit counts: the folds' worker processes compute with the training process's counts, and
where the pipeline has such steps, models/manifest.json records the counts the shipped model
was trained with so that a retraining on any machine replays them (see the model card). A
thread variable set in the environment (``OMP_NUM_THREADS`` and the like) always wins: that is
how you choose other counts on purpose.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager, nullcontext
from pathlib import Path

from joblib import cpu_count, parallel_config
from threadpoolctl import ThreadpoolController, threadpool_info, threadpool_limits

logger = logging.getLogger(__name__)

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
)


def effective_threads() -> dict[str, int]:
    """The thread counts scikit-learn computes with here, per API (``blas``, ``openmp``)."""
    counts: dict[str, int] = {}
    for pool in threadpool_info():
        api = pool["user_api"]
        counts[api] = max(counts.get(api, 1), pool["num_threads"])
    if "openmp" in counts and not os.environ.get("OMP_NUM_THREADS"):
        # scikit-learn's OpenMP loops use at most one thread per physical core, unless
        # OMP_NUM_THREADS says otherwise.
        counts["openmp"] = min(counts["openmp"], cpu_count(only_physical_cores=True))
    return counts


def recorded_threads(manifest_path: Path) -> dict[str, int] | None:
    """The counts the shipped model was trained with, unless the environment sets its own."""
    chosen = [name for name in THREAD_VARIABLES if os.environ.get(name)]
    if chosen:
        logger.info("thread counts from the environment (%s)", ", ".join(chosen))
        return None
    try:
        manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return manifest.get("threads")


@contextmanager
def pinned_threads(counts: dict[str, int]):
    """Compute with exactly ``counts`` threads, even more than this machine has cores."""
    saved = os.environ.get("OMP_NUM_THREADS")
    with threadpool_limits(limits=counts):
        if "openmp" in counts:
            # Read by scikit-learn at each call: without it, it caps OpenMP at the core count.
            os.environ["OMP_NUM_THREADS"] = str(counts["openmp"])
        try:
            yield counts
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved


def prediction_threads(manifest_path: Path | None):
    """For a process that predicts with the shipped model (the API, a batch job): a context
    to enter around each prediction, computing with the counts the model was trained and
    its golden rows predicted with (a KNN model predicts by a neighbour search).

    Made once per process: ``OMP_NUM_THREADS`` is set for the process (scikit-learn reads it
    at each call, so concurrent requests must not set and unset it), BLAS's count is
    process-wide, and OpenMP's is per thread, so each prediction sets it in its own thread
    through one controller (finding the libraries anew would cost about 4 ms a call).
    """
    counts = recorded_threads(manifest_path) if manifest_path else None
    if not counts:
        return nullcontext
    controller = ThreadpoolController()
    if "blas" in counts:
        controller.limit(limits=counts["blas"], user_api="blas")
    if "openmp" not in counts:
        return nullcontext
    os.environ["OMP_NUM_THREADS"] = str(counts["openmp"])
    return lambda: controller.limit(limits=counts["openmp"], user_api="openmp")


def parallel_workers(jobs: int, counts: dict[str, int]):
    """joblib's settings for worker processes that compute with ``counts`` threads.

    joblib would give each worker ``cores // jobs`` threads; a fold computed with fewer threads
    than the training process would differ from the same fold computed in it.
    """
    return parallel_config(
        backend="loky", n_jobs=jobs, inner_max_num_threads=max(counts.values(), default=1)
    )


def call_with_threads(counts: dict[str, int], function, *args):
    """Call ``function(*args)`` with ``counts`` threads (in a worker process)."""
    with pinned_threads(counts):
        return function(*args)
