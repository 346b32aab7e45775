"""The generated code's processes: scrubbed environment, a budget, no orphans, no leftovers.

Issue 12: the forge token reached the training process's environment; killing only
gitexport's PID left training running at 100 % CPU; killed runs left `gitexport-build-*`
folders (holding the data with `--data full`); training had no guard but a one-hour timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gitexport import api, build
from gitexport.errors import BudgetExceeded
from helpers import training_processes

SECRET = "ghp_should-never-reach-generated-code-0123456789"


def test_generated_code_environment_keeps_only_what_python_needs(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    monkeypatch.setenv("GITEXPORT_SECRET_KEYS", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    env = build.generated_code_env()
    assert SECRET not in "".join(env.values())
    assert env["PYTHONHASHSEED"] == "0" and env["OMP_NUM_THREADS"] == "2"
    assert "PATH" in env


def test_stale_build_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{build.BUILD_DIR_PREFIX}{dead.pid}-abc"
    live = tmp_path / f"{build.BUILD_DIR_PREFIX}{os.getpid()}-def"
    foreign = tmp_path / f"{build.BUILD_DIR_PREFIX}notapid"
    for path in (stale, live, foreign):
        (path / "data").mkdir(parents=True)
    build.remove_stale_build_dirs()
    assert not stale.exists()
    assert live.exists() and foreign.exists()  # a running build's, and one we did not name


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie runs nothing; its reaper may just be slow)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@pytest.mark.slow
def test_killing_gitexport_kills_its_training_and_the_next_run_cleans_up(tmp_path):
    env = {**os.environ, "GITHUB_TOKEN": SECRET, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitexport", "export", "--example", "telco_churn", "--out"]
        + [str(tmp_path / "repo"), "--data", "full"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    training: list[int] = []
    while time.monotonic() < deadline and not training:
        training = training_processes(tmp_path)
        time.sleep(0.2)
    assert training, "training never started"
    # The token in gitexport's environment does not reach the generated code.
    environ = Path(f"/proc/{training[0]}/environ").read_bytes()
    assert SECRET.encode() not in environ

    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(p) for p in training):
        time.sleep(0.1)
    alive = [p for p in training if _running(p)]
    assert not alive, "the training outlived gitexport"

    leftovers = list((tmp_path / "tmp").glob(f"{build.BUILD_DIR_PREFIX}*"))
    assert leftovers, "expected the killed run's staging folder"
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())
    # The next run removes the dead run's folder (it held the full data).
    subprocess.run(
        [sys.executable, "-c", "from gitexport.build import remove_stale_build_dirs as r; r()"],
        env=env,
        check=True,
    )
    assert not any(p.exists() for p in leftovers)


@pytest.mark.slow
def test_training_past_its_time_budget_is_stopped_with_a_named_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the staging folder goes here
    started = time.monotonic()
    with pytest.raises(BudgetExceeded) as info:
        api.build(api.example("telco_churn"), budget=build.Budget(seconds=2))
    assert "time budget of 2 s" in str(info.value)
    assert time.monotonic() - started < 60
    assert not training_processes(tmp_path)


@pytest.mark.slow
def test_cli_reports_the_budget_and_exits_1(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "gitexport", "export", "--example", "telco_churn", "--out"]
        + [str(tmp_path / "repo"), "--train-timeout", "2"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "time budget" in proc.stderr and "internal error" not in proc.stderr
    assert not (tmp_path / "repo").exists()
