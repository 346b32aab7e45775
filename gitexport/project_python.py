"""The Python processes that run the generated project's code (an edge: processes).

Each runs with an environment cut down to what Python and BLAS need (a forge token or the
service's keys in ours must not reach generated code), in a session of its own (a cancel kills
everything it started), dying with us, and within the build's memory budget.

Training starts by importing pandas and scikit-learn, which takes about as long (1.5-2 s) as
gitexport's own planning and rendering before it, on one core each. So an export *prestarts*
an interpreter that imports them while gitexport plans (:func:`prestart`), and the first
``python -m`` run of the build takes it (:func:`start`). The prestarted interpreter imports
only modules the generated training imports anyway (:data:`PRELOAD`, then the pipeline's
estimators once the plan names them, :func:`preload`; checked by a test), then waits on its
stdin for the module to run, its arguments and its folder, and runs it as ``python -m`` does. Nothing else differs from a fresh interpreter: same executable, same
environment, same limits.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import IO

# What the generated code sees of our environment: enough to run Python and BLAS, nothing
# else.
_ENV_ALLOWED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "SYSTEMROOT")
_ENV_ALLOWED_PREFIXES = ("OMP_", "OPENBLAS_", "MKL_", "BLIS_", "VECLIB_")

# Imported by every generated project's training (src/models/train.py and the modules it
# imports), whatever the pipeline; the pipeline's own estimators load when it runs.
PRELOAD = (
    "numpy",
    "pandas",
    "yaml",
    "joblib",
    "threadpoolctl",
    "sklearn.base",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
)

# Runs in the prestarted interpreter: import PRELOAD (argv), wait for a request, run it as
# `python -m` would (sys.path[0] is the folder, argv[0] the module's file).
_BOOTSTRAP = """\
# gitexport-prestarted: an interpreter for the generated project's code
import importlib, json, os, runpy, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
while True:
    line = sys.stdin.readline()
    if not line:
        raise SystemExit(0)
    request = json.loads(line)
    if "import" not in request:
        break
    for name in request["import"]:
        importlib.import_module(name)
os.chdir(request["cwd"])
sys.path[0] = request["cwd"]
sys.argv = [request["module"], *request["args"]]
runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
"""


def generated_code_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k in _ENV_ALLOWED or k.startswith(_ENV_ALLOWED_PREFIXES)
    }
    env.update(
        PYTHONHASHSEED="0",  # set iteration order must not leak into pickles
        PYTHONDONTWRITEBYTECODE="1",
    )
    # Thread counts are left alone on purpose: SMOTE's neighbour search goes through BLAS,
    # whose summation order depends on the thread count; the canvas trained with the default.
    return env


def _child_setup(memory_mb: int | None):
    def setup() -> None:  # runs in the child between fork and exec
        if sys.platform.startswith("linux"):
            import ctypes
            import signal

            # Die with the parent: a killed gitexport must not leave training running.
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if memory_mb:
            import resource

            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return setup


def _popen(
    args: list[str], cwd: str, env: dict[str, str], memory_mb: int | None, **streams
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        start_new_session=True,
        preexec_fn=_child_setup(memory_mb),
        **streams,
    )


@dataclass
class _Prestarted:
    proc: subprocess.Popen
    output: IO[bytes]  # its stdout and stderr
    env: dict[str, str]
    memory_mb: int | None

    def usable(self, memory_mb: int | None) -> bool:
        return (
            self.proc.poll() is None
            and self.memory_mb == memory_mb
            and self.env == generated_code_env()
        )

    def send(self, message: dict) -> None:
        """One request line on its stdin (raises OSError if it has died)."""
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def discard(self) -> None:
        from gitexport.processes import kill_group

        kill_group(self.proc)
        self.output.close()


_waiting: _Prestarted | None = None
_lock = threading.Lock()


@atexit.register
def _discard_waiting() -> None:
    global _waiting
    with _lock:
        if _waiting is not None:
            _waiting.discard()
            _waiting = None


def prestart(memory_mb: int | None = None) -> None:
    """Start an interpreter for the next :func:`start` of a module, unless one is waiting.

    It imports :data:`PRELOAD` meanwhile; a build that ends before it needs it leaves it for
    the next build of this process (it exits when we do).
    """
    global _waiting
    with _lock:
        if _waiting is not None:
            if _waiting.usable(memory_mb):
                return
            _waiting.discard()
        env = generated_code_env()
        output = tempfile.TemporaryFile()
        proc = _popen(
            ["-c", _BOOTSTRAP, *PRELOAD],
            tempfile.gettempdir(),
            env,
            memory_mb,
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        _waiting = _Prestarted(proc, output, env, memory_mb)


def preload(modules: list[str]) -> None:
    """Have the waiting interpreter, if any, import *modules* too: those of the pipeline's
    estimators, which the generated code imports as well, once the plan names them."""
    with _lock:
        if _waiting is None or _waiting.proc.poll() is not None:
            return
        try:
            _waiting.send({"import": modules})
        except OSError:  # it died meanwhile: start() starts a fresh one
            pass


def _take(memory_mb: int | None) -> _Prestarted | None:
    global _waiting
    with _lock:
        taken, _waiting = _waiting, None
    if taken is not None and not taken.usable(memory_mb):
        taken.discard()
        return None
    return taken


def start(
    args: list[str], cwd: os.PathLike | str, memory_mb: int | None
) -> tuple[subprocess.Popen, IO[bytes]]:
    """Run ``python *args`` in *cwd*: the process and a file with its output (stdout and
    stderr; the caller closes it). ``-m module ...`` runs in the prestarted interpreter if
    one is waiting."""
    if args[:1] == ["-m"]:
        taken = _take(memory_mb)
        if taken is not None:
            request = {"cwd": os.fspath(os.path.abspath(cwd)), "module": args[1], "args": args[2:]}
            try:
                taken.send(request)
                taken.proc.stdin.close()  # the code reads an empty stdin, as with DEVNULL
            except OSError:  # it died meanwhile (the memory budget, a kill): start afresh
                taken.discard()
            else:
                return taken.proc, taken.output
    output = tempfile.TemporaryFile()
    proc = _popen(
        args,
        os.fspath(cwd),
        generated_code_env(),
        memory_mb,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    return proc, output
