"""Service fixtures: a real ``gitexport serve`` (and ``gitexport worker``) subprocess on
127.0.0.1, the fake GitHub over HTTP, and (scaled mode) real redis-server and PostgreSQL
started in temporary folders."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

from canvas_client import CanvasClient  # noqa: E402

SERVICE_KEY = "svc-key-0123456789-abcdefghij"
SECRET_KEY = "nJ8xq9m2Vb3n3yHkq6h0sKqTqfW7pZ4QzY1c5e8r2aA="
FAST_OPTIONS = {"data": "sample", "docker": False, "kubernetes": False, "ci": False}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(state_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITEXPORT_")}
    env.update(
        GITEXPORT_SERVICE_KEYS=SERVICE_KEY,
        GITEXPORT_SECRET_KEYS=SECRET_KEY,
        GITEXPORT_STATE_DIR=str(state_dir),
        GITEXPORT_HEARTBEAT_SECONDS="1",
        GITEXPORT_LEASE_SECONDS="4",
        XDG_CACHE_HOME=str(state_dir.parent / "cache"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Proc:
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Service:
    url: str
    state_dir: Path
    env: dict
    api: Proc
    workers: list[Proc] = field(default_factory=list)

    def client(self, user: str = "alice") -> CanvasClient:
        return CanvasClient(self.url, SERVICE_KEY, user)

    def logs(self) -> str:
        procs = [self.api, *self.workers]
        return "".join(p.log.read_text(errors="replace") for p in procs if p.log.exists())

    def stop(self) -> None:
        for p in [*self.workers, self.api]:
            p.stop()


def spawn(args: list[str], env: dict, log: Path) -> Proc:
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitexport", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    return Proc(proc, log)


def start_service(tmp: Path, *, workers: int = 2, extra_workers: int = 0, **env_extra) -> Service:
    state = tmp / "state"
    env = service_env(state, **env_extra)
    port = free_port()
    api = spawn(["serve", "--port", str(port), "--workers", str(workers)], env, tmp / "serve.log")
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        if api.proc.poll() is not None:
            raise AssertionError("gitexport serve exited:\n" + (tmp / "serve.log").read_text())
        try:
            if requests.get(url + "/v1/ready", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.time() > deadline:
            api.kill()
            raise AssertionError("gitexport serve did not become ready")
        time.sleep(0.2)
    service = Service(url, state, env, api)
    for i in range(extra_workers):
        # Each worker has its own state folder, as on another machine.
        worker_env = {**env, "GITEXPORT_STATE_DIR": str(tmp / f"worker{i}-state")}
        service.workers.append(
            spawn(["worker", "--concurrency", "1"], worker_env, tmp / f"worker{i}.log")
        )
    return service


@pytest.fixture
def service(tmp_path):
    """``gitexport serve`` with 2 embedded workers, embedded queue and store."""
    svc = start_service(tmp_path)
    yield svc
    svc.stop()


@pytest.fixture
def github(git_server, server_token):
    """The fake GitHub API over HTTP in front of the real git + LFS server."""
    from forge_http import ForgeHttpServer

    from servers.github_api import FakeGitHub

    server = ForgeHttpServer(
        lambda base: FakeGitHub(
            git_server, api=base + "/api/v3", uploads=base + "/api/v3", token=server_token
        )
    ).start()
    yield server
    server.stop()


@pytest.fixture
def gitlab(git_server, server_token):
    """The fake GitLab API over HTTP in front of the real git + LFS server."""
    from forge_http import ForgeHttpServer

    from servers.gitlab_api import FakeGitLab

    server = ForgeHttpServer(
        lambda base: FakeGitLab(git_server, base=base, token=server_token)
    ).start()
    yield server
    server.stop()


def wait_job(client: CanvasClient, job_id: str, timeout: float = 180) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.job(job_id)
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {client.job(job_id)}")


def tree_contains(root: Path, needle: bytes) -> list[Path]:
    """Every file under *root* whose bytes contain *needle*."""
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    hits.append(path)
            except OSError:
                pass
    return hits


# -- scaled mode: real redis-server and PostgreSQL ----------------------------------------


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("CI"):
            raise AssertionError(f"{tool} is required in CI (apt-get install it in .ci/run)")
        pytest.skip(f"{tool} is not installed")
    return found


@pytest.fixture
def redis_url(tmp_path):
    server = _require("redis-server")
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.time() + 20
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.time() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        if os.environ.get("CI"):
            raise AssertionError("PostgreSQL is required in CI (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed")
    return found[-1].parent


@pytest.fixture
def postgres():
    """A throw-away PostgreSQL cluster in a temporary folder; as root, run as the unprivileged
    ``postgres`` user of the Debian package (PostgreSQL refuses to run as root)."""
    bindir = _pg_bin()
    # Not under pytest's tmp_path: its parents are root-only, and postgres must reach it.
    root = Path(tempfile.mkdtemp(prefix="gitexport-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    port = free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:
        for path in (root, sock):
            shutil.chown(path, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "gitexport",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "pg.log"),
            "-w",
            "-o",
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "gitexport",
                "gitexport",
            ],
            check=True,
            capture_output=True,
        )
        yield {
            "url": f"postgresql://gitexport@127.0.0.1:{port}/gitexport",
            "bindir": bindir,
            "port": port,
        }
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
