"""Child processes and their owners: is a pid alive, stop a process and all it started.

gitexport runs git and the generated project's code in their own sessions (process groups),
so stopping one — on cancel, a timeout, Ctrl-C — stops everything it started too.
"""

from __future__ import annotations

import os
import signal
import subprocess


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (ours or someone else's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def kill_group(proc: subprocess.Popen) -> None:
    """Kill *proc* (started with ``start_new_session=True``) and its whole process group,
    then reap it."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
