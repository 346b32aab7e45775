"""Scaled mode: the API, two ``gitexport worker`` processes (each with its own state folder, as
on other machines), a real redis-server queue and a real PostgreSQL job store.

12 concurrent exports (3 versions each) to 4 repositories → every job succeeds, one open pull
request per repository, exactly one commit per export, none interleaved; then a worker is
SIGKILLed in the middle of a push and the job finishes on the other one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from conftest import FAST_OPTIONS, start_service, wait_job

from helpers import penguins_variant

pytestmark = pytest.mark.slow

VERSIONS = ((3, 0.5), (4, 0.25), (5, 0.1))


def git(repo, *args) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def export_commits(remote) -> list[tuple[str, str]]:
    """(Export-Id, Pipeline-Version) of every export commit on any branch of *remote*."""
    out = git(
        remote,
        "log",
        "--all",
        "--format=%(trailers:key=Export-Id,valueonly,separator=)|"
        "%(trailers:key=Pipeline-Version,valueonly,separator=)",
    )
    return [tuple(line.split("|")) for line in out.splitlines() if line.strip("|")]


def open_prs(remote) -> list[dict]:
    file = remote / "gitexport" / "pull-requests.json"
    prs = json.loads(file.read_text()) if file.exists() else []
    return [p for p in prs if p["state"] == "open"]


def test_concurrent_exports_and_a_killed_worker(tmp_path, redis_url, postgres, server_token):
    svc = start_service(
        tmp_path,
        workers=0,
        extra_workers=2,
        GITEXPORT_QUEUE_URL=redis_url,
        GITEXPORT_DATABASE_URL=postgres["url"],
    )
    try:
        _run(svc, tmp_path, postgres, server_token)
    finally:
        svc.stop()


def _run(svc, tmp_path, postgres, token):
    client = svc.client("erin")
    remotes = [tmp_path / "remotes" / f"repo{i}.git" for i in range(4)]
    submissions = [
        (remote, penguins_variant(tmp_path, version, c))
        for version, c in VERSIONS
        for remote in remotes
    ]

    def submit(item):
        remote, bundle = item
        request = {"target": {"provider": "local", "repo": str(remote)}, "options": FAST_OPTIONS}
        return client.export(bundle, request, token=token)["id"]

    with ThreadPoolExecutor(6) as pool:
        ids = list(pool.map(submit, submissions))
    jobs = [wait_job(client, job_id, timeout=400) for job_id in ids]
    assert [j["state"] for j in jobs] == ["succeeded"] * 12, [j["error"] for j in jobs]
    # Both workers took part.
    engine = sa.create_engine(postgres["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        workers = set(conn.execute(sa.text("SELECT DISTINCT worker FROM jobs")).scalars())
    assert len(workers) == 2
    for remote in remotes:
        commits = export_commits(remote)
        assert sorted(v for _, v in commits) == ["3", "4", "5"], commits
        assert len({e for e, _ in commits}) == 3
        assert len(open_prs(remote)) == 1
        # The export branch holds the two re-exports on top of main, one after the other.
        assert git(remote, "rev-list", "--count", "main..gitexport/pl_penguins").strip() == "2"

    # A worker dies in the middle of a push: the job finishes on the other. The remote's
    # pre-receive hook holds the push until the test opens the gate, so the kill lands while
    # the push is in flight (its orphaned receive-pack may still land it: the re-run must
    # converge either way).
    remote = remotes[0]
    entered, gate = tmp_path / "push-entered", tmp_path / "push-gate"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "cat >/dev/null\n"
        f"touch '{entered}'\n"
        "i=0\n"
        f"while [ ! -e '{gate}' ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n"
    )
    hook.chmod(0o755)
    request = {"target": {"provider": "local", "repo": str(remote)}, "options": FAST_OPTIONS}
    job = client.export(penguins_variant(tmp_path, 6, 0.05), request, token=token)
    dump = None
    for event in client.events(job["id"]):
        if event.type == "phase" and event.data["phase"] == "train" and dump is None:
            dump = pg_dump(postgres)  # while the job holds its (encrypted) token
        if event.type == "phase" and event.data["phase"] == "push":
            break
    deadline = time.time() + 120
    while not entered.exists():
        assert time.time() < deadline, "the push never reached the remote"
        time.sleep(0.05)
    with engine.connect() as conn:
        worker = conn.execute(
            sa.text("SELECT worker FROM jobs WHERE id = :id"), {"id": job["id"]}
        ).scalar_one()
    pid = int(worker.split(":")[1])
    victim = next(w for w in svc.workers if w.proc.pid == pid)
    os.kill(pid, signal.SIGKILL)
    victim.proc.wait(10)
    gate.touch()
    done = wait_job(client, job["id"], timeout=300)
    assert done["state"] == "succeeded", done["error"]
    assert done["attempts"] == 2
    commits = export_commits(remote)
    assert sorted(v for _, v in commits) == ["3", "4", "5", "6"], commits
    assert len(open_prs(remote)) == 1

    # The token: encrypted while the job waited (the dump holds a token, not this one), then
    # erased; never in the logs or a state folder.
    assert dump is not None and token not in dump
    assert "674141414141" in dump  # hex of "gAAAAA": a Fernet ciphertext sat in the row
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM jobs WHERE token IS NOT NULL")).scalar() == 0
        )
    assert token not in pg_dump(postgres)
    assert token not in svc.logs()
    for state in tmp_path.glob("*state"):
        for path in state.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path
    engine.dispose()


def pg_dump(postgres) -> str:
    return subprocess.run(
        [
            str(postgres["bindir"] / "pg_dump"),
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres["port"]),
            "-U",
            "gitexport",
            "gitexport",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_migrations_on_postgresql(postgres, tmp_path):
    """The same migrations build the store's schema on PostgreSQL (no drift), and concurrent
    starters wait for each other (advisory lock)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gitexport.service.store import JobStore, metadata

    stores = [JobStore(postgres["url"], tmp_path) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda s: s.migrate(), stores))
    with stores[0].engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    for store in stores:
        store.dispose()
