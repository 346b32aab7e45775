"""The API of gitexport-service/1 in process (no worker: jobs stay queued), and the job store.

Fast tests: auth, user scoping, request checks, hostile uploads, idempotency, per-user limits,
cancel, listing, the signed page, the token at rest, leases and event numbering, key rotation.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest
from conftest import SECRET_KEY, SERVICE_KEY
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gitexport import api
from gitexport.service.app import create_app
from gitexport.service.config import Settings
from gitexport.service.queue import JobQueue, make_huey
from gitexport.service.store import JobStore
from gitexport.service.vault import TokenVault

TOKEN = "ghp_DO-NOT-LEAK-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {SERVICE_KEY}", "X-Canvas-User": "alice"}
REQUEST = {"target": {"provider": "local", "repo": "/tmp/nowhere.git"}, "options": {"data": "none"}}


def tar_of(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(str(folder), arcname="bundle")
    return buf.getvalue()


PENGUINS = tar_of(api.example("penguins"))


def make(tmp_path: Path, **overrides):
    settings = Settings(
        service_keys=(SecretStr(SERVICE_KEY),),
        secret_keys=(SecretStr(SECRET_KEY),),
        state_dir=tmp_path / "state",
        **overrides,
    )
    store = JobStore(None, settings.state_dir)
    store.migrate()
    queue = JobQueue(make_huey(None, settings.state_dir))
    return TestClient(create_app(settings, store, queue)), store


@pytest.fixture
def app(tmp_path):
    client, store = make(tmp_path, max_queued_per_user=3)
    with client:
        yield client, store


def post(client, bundle=PENGUINS, request=REQUEST, headers=None, path="/v1/exports"):
    files = {"bundle": ("b.tar.gz", bundle, "application/gzip")}
    data = {"request": json.dumps(request)}
    return client.post(path, files=files, data=data, headers={**AUTH, **(headers or {})})


def test_keys_and_user(app):
    client, _ = app
    no_key = client.get("/v1/exports")
    wrong = client.get("/v1/exports", headers={"Authorization": "Bearer nope-nope-nope-nope"})
    assert no_key.status_code == wrong.status_code == 401
    assert no_key.json() == wrong.json()  # nothing says which part was wrong
    assert (
        client.get("/v1/exports", headers={"Authorization": AUTH["Authorization"]}).status_code
        == 400
    )
    assert client.get("/v1/exports", headers=AUTH).json() == {"items": [], "next_cursor": None}
    assert client.get("/v1/health").json() == {"status": "ok"}
    assert client.get("/v1/ready").status_code == 200


def test_export_is_queued_scoped_and_its_token_encrypted(app, tmp_path):
    client, store = app
    r = post(client, headers={"X-Forge-Token": TOKEN})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/exports/{job['id']}"
    assert job["state"] == "queued" and job["progress"] == 0.0
    assert job["pipeline"]["id"] == "pl_penguins"
    assert job["links"]["page"].startswith("http://testserver/exports/")
    assert TOKEN not in r.text
    # Encrypted at rest: the vault opens it, the database file never holds it in clear.
    ciphertext, _ = store.secrets(job["id"])
    assert TokenVault([SECRET_KEY]).decrypt(ciphertext.decode()) == TOKEN
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    # Another user: as if it did not exist.
    bob = {**AUTH, "X-Canvas-User": "bob"}
    for method, path in (("get", ""), ("get", "/events"), ("get", "/archive"), ("post", "/cancel")):
        assert (
            getattr(client, method)(f"/v1/exports/{job['id']}{path}", headers=bob).status_code
            == 404
        )
    assert client.get("/v1/exports/nope", headers=AUTH).status_code == 404
    # Not finished: no archive yet.
    assert client.get(f"/v1/exports/{job['id']}/archive", headers=AUTH).status_code == 404


def test_idempotency_key(app):
    client, _ = app
    first = post(client, headers={"Idempotency-Key": "k1"}).json()
    # Another archive of the same folder (other timestamps) is the same body.
    again = post(client, bundle=tar_of(api.example("penguins")), headers={"Idempotency-Key": "k1"})
    assert again.status_code == 202 and again.json()["id"] == first["id"]
    other = {**REQUEST, "options": {"data": "sample"}}
    conflict = post(client, request=other, headers={"Idempotency-Key": "k1"})
    assert (
        conflict.status_code == 422 and conflict.json()["error"]["code"] == "idempotency_conflict"
    )
    assert len(client.get("/v1/exports", headers=AUTH).json()["items"]) == 1


def test_queued_limit_cancel_list_and_events(app):
    client, _ = app
    ids = [post(client).json()["id"] for _ in range(3)]
    limited = post(client)
    assert limited.status_code == 429
    assert post(client, headers={"X-Canvas-User": "bob"}).status_code == 202  # per user

    cancelled = client.post(f"/v1/exports/{ids[0]}/cancel", headers=AUTH)
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["error"]["code"] == "cancelled"
    assert post(client).status_code == 202  # a place in the queue again

    with client.stream("GET", f"/v1/exports/{ids[0]}/events", headers=AUTH) as r:
        text = "".join(r.iter_text())
    assert [line for line in text.splitlines() if line.startswith("event:")] == [
        "event: state",
        "event: state",
        "event: error",
    ]
    assert "id: 1" in text and "id: 3" in text
    with client.stream(
        "GET", f"/v1/exports/{ids[0]}/events", headers={**AUTH, "Last-Event-ID": "2"}
    ) as r:
        resumed = "".join(r.iter_text())
    assert "id: 1\r\n" not in resumed and "id: 2\r\n" not in resumed and "id: 3\r\n" in resumed

    page = client.get("/v1/exports", params={"limit": 2}, headers=AUTH).json()
    rest = client.get(
        "/v1/exports", params={"limit": 2, "cursor": page["next_cursor"]}, headers=AUTH
    ).json()
    listed = [j["id"] for j in page["items"] + rest["items"]]
    assert len(listed) == 4 and set(ids) <= set(listed) and rest["next_cursor"] is None
    assert [
        j["id"]
        for j in client.get("/v1/exports", params={"state": "cancelled"}, headers=AUTH).json()[
            "items"
        ]
    ] == [ids[0]]
    assert client.get("/v1/exports", params={"state": "bogus"}, headers=AUTH).status_code == 400
    assert client.get("/v1/exports", params={"cursor": "!!"}, headers=AUTH).status_code == 400


def test_bad_requests(app):
    client, _ = app
    r = post(client, request={"target": {"provider": "svn", "repo": "x"}})
    assert r.status_code == 422
    assert any(
        p["where"].startswith("request.target.provider") for p in r.json()["error"]["problems"]
    )
    app_key = {"target": {"provider": "github", "repo": "o/r", "private_key": "/etc/shadow"}}
    r = post(client, request=app_key)
    assert r.status_code == 422 and "X-Forge-Token" in r.text
    r = client.post("/v1/exports", files={"request": (None, "{}")}, headers=AUTH)
    assert r.status_code == 422
    assert post(client, bundle=b"not an archive").status_code == 422


def hostile_zip(name: str, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bundle/pipeline.json", "{}")
        zf.writestr(name, data)
    return buf.getvalue()


def test_hostile_archives_are_refused_naming_the_entry(tmp_path):
    client, store = make(tmp_path, max_uncompressed_bytes=1_000_000, max_upload_bytes=200_000)
    with client:
        slip = post(client, bundle=hostile_zip("../../evil.py"))
        assert slip.status_code == 422 and "evil.py" in json.dumps(slip.json())
        absolute = post(client, bundle=hostile_zip("/etc/evil"))
        assert absolute.status_code == 422
        bomb = post(client, bundle=hostile_zip("bundle/zeros.bin", b"\0" * 5_000_000))
        assert bomb.status_code == 413 and "zeros.bin" in json.dumps(bomb.json())
        big = post(client, bundle=b"\x1f\x8b" + bytes(300_000))
        assert big.status_code == 413
        for preview in (post(client, bundle=hostile_zip("../x"), path="/v1/previews"),):
            assert preview.status_code == 422
    assert store.list_jobs("alice", state=None, limit=10, cursor=None)[0] == []
    assert not any((tmp_path / "state" / "uploads").iterdir())  # nothing left unpacked
    assert not list(tmp_path.rglob("evil*"))


def test_preview_of_the_example(app):
    client, _ = app
    r = post(client, path="/v1/previews")
    assert r.status_code == 200, r.text
    preview = r.json()
    assert set(preview) == {"plan", "files", "summary_markdown", "up_to_date"}
    assert preview["up_to_date"] is False and preview["summary_markdown"]
    assert {f["change"] for f in preview["files"]} == {"added"}


def test_signed_page(app):
    client, _ = app
    job = post(client).json()
    link = job["links"]["page"].removeprefix("http://testserver")
    page = client.get(link)
    assert page.status_code == 200 and "Penguin species" in page.text
    assert "nonce-" in page.headers["content-security-policy"]
    assert client.get(link.replace("sig=", "sig=f")).status_code == 403
    assert client.get(f"/exports/{job['id']}").status_code == 403
    expired = link.split("expires=")[0] + "expires=1&sig=" + link.split("sig=")[1]
    assert client.get(expired).status_code == 403


# -- the store -----------------------------------------------------------------------------


def new_job(store: JobStore, job_id: str, repo: str = "r") -> None:
    store.create_job(
        job_id=job_id,
        user="u",
        request={},
        pipeline={},
        repo_key=repo,
        token=None,
        bundle=b"",
        idempotency_key=None,
        body_hash="h",
    )


def test_repo_lease_is_one_job_at_a_time(tmp_path):
    store = JobStore(None, tmp_path)
    store.migrate()
    assert store.acquire_lease("repo", "j1", "w1", 60)
    assert not store.acquire_lease("repo", "j2", "w2", 60)
    assert store.acquire_lease("repo", "j1", "w1", 60)  # its own: renewed
    assert store.acquire_lease("other", "j2", "w2", 60)  # another repository in parallel
    store.release_lease("repo", "j1", "abc")
    assert store.last_commit("repo") == "abc"
    assert store.acquire_lease("repo", "j2", "w2", 0.2)
    time.sleep(0.3)  # j2's worker stopped renewing: the lease expires
    assert store.acquire_lease("repo", "j3", "w3", 60)
    assert not store.renew_lease("repo", "j2", 60)


def test_event_numbers_strictly_increase_under_concurrent_writers(tmp_path):
    store = JobStore(None, tmp_path)
    store.migrate()
    new_job(store, "j")

    def write(n):
        for i in range(25):
            store.log("j", "info", f"{n}-{i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [e.seq for e in store.events_after("j", 0, limit=1000)]
    assert seqs == list(range(1, 102))
    assert [e.seq for e in store.events_after("j", 50)] == list(range(51, 102))


def test_claim_and_sweep(tmp_path):
    store = JobStore(None, tmp_path)
    store.migrate()
    new_job(store, "j")
    assert store.claim("j", "w1", lease_seconds=60)
    assert not store.claim("j", "w2", lease_seconds=60)  # running, alive
    assert store.stale_running(60) == []
    time.sleep(0.2)
    assert store.stale_running(0.1) == ["j"]
    assert store.requeue("j", "worker stopped")
    assert store.claim("j", "w2", lease_seconds=60)
    assert not store.finish("j", "succeeded", result={}, worker="w1")  # not w1's any more
    assert store.finish("j", "succeeded", result={"ok": 1}, worker="w2")
    assert store.get("j")["attempts"] == 2
    assert store.expire(ttl_seconds=3600) == []
    time.sleep(0.05)
    assert store.expire(ttl_seconds=0.01) == ["j"]  # finished past its TTL: gone, events too
    assert store.get("j") is None and store.events_after("j", 0) == []


def test_keys_rotate(tmp_path, monkeypatch, capsys):
    from gitexport.cli import main

    old, new = SECRET_KEY, Fernet.generate_key().decode()
    store = JobStore(None, tmp_path)
    store.migrate()
    ciphertext = TokenVault([old]).encrypt(TOKEN).encode()
    store.create_job(
        job_id="j",
        user="u",
        request={},
        pipeline={},
        repo_key=None,
        token=ciphertext,
        bundle=b"",
        idempotency_key=None,
        body_hash="h",
    )
    monkeypatch.setenv("GITEXPORT_SERVICE_KEYS", SERVICE_KEY)
    monkeypatch.setenv("GITEXPORT_SECRET_KEYS", f"{new},{old}")
    monkeypatch.setenv("GITEXPORT_STATE_DIR", str(tmp_path))
    assert main(["keys", "rotate"]) == 0
    assert "re-encrypted 1" in capsys.readouterr().out
    rotated, _ = store.secrets("j")
    assert rotated != ciphertext
    assert TokenVault([new]).decrypt(rotated.decode()) == TOKEN  # the old key can go


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "GITEXPORT_SERVICE_KEYS"),
        ({"GITEXPORT_SERVICE_KEYS": SERVICE_KEY}, "GITEXPORT_SECRET_KEYS"),
    ],
)
def test_serve_refuses_to_start_without_keys(tmp_path, env, named):
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("GITEXPORT_")}
    for command in (["serve", "--state-dir", str(tmp_path)], ["worker"]):
        proc = subprocess.run(
            [sys.executable, "-m", "gitexport", *command],
            env={**clean, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 1
        assert named in proc.stderr and "refuses to start" in proc.stderr
    assert not (tmp_path / "jobs.sqlite3").exists()


def test_migrations_build_the_schema_the_store_uses(tmp_path):
    """alembic's comparison of the migrated database with the store's tables finds no drift."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gitexport.service.store import metadata

    store = JobStore(None, tmp_path)
    store.migrate()
    store.migrate()  # a second start changes nothing
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_worker_waits_for_the_repository_lease_and_sweeps_dead_jobs(tmp_path):
    from gitexport.service.worker import Worker

    store = JobStore(None, tmp_path)
    store.migrate()
    queued: list[tuple[str, float]] = []
    worker = Worker(
        store,
        TokenVault([SECRET_KEY]),
        tmp_path,
        enqueue=lambda job_id, delay: queued.append((job_id, delay)),
        heartbeat_seconds=1,
        lease_seconds=2,
        name="w-test",
    )
    new_job(store, "busy", repo="repo")
    new_job(store, "waiting", repo="repo")
    assert store.acquire_lease("repo", "busy", "other-worker", 60)
    worker.run_job("waiting")
    # Another live job holds the repository: back to the queue, a moment later, untouched.
    assert [(j, d > 0) for j, d in queued] == [("waiting", True)]
    assert store.get("waiting")["state"] == "queued"

    # "busy" runs on a worker that then stops beating: the sweeper re-queues it.
    assert store.claim("busy", "other-worker", lease_seconds=2)
    assert worker.sweep() == []
    time.sleep(2.1)
    queued.clear()
    assert worker.sweep() == ["busy"]
    assert queued == [("busy", 0)] and store.get("busy")["state"] == "queued"
    events = [e.data for e in store.events_after("busy", 0)]
    assert events[-2:] == [
        {"state": "queued"},
        {"level": "warning", "message": "the worker running this job stopped; running it again"},
    ]


def test_expiry_drops_old_jobs_and_unused_working_copies(tmp_path):
    import os

    from gitexport.service.worker import Worker, workdir_path

    store = JobStore(None, tmp_path)
    store.migrate()
    worker = Worker(
        store, TokenVault([SECRET_KEY]), tmp_path, enqueue=lambda *_: None, job_ttl_seconds=3600
    )
    old, fresh = workdir_path(tmp_path, "old-repo"), workdir_path(tmp_path, "fresh-repo")
    for repo in (old, fresh):
        (repo / ".git").mkdir(parents=True)
        (repo / ".git" / "index").write_bytes(b"")
        (repo.parent / "last_commit").write_text("abc")
    long_ago = time.time() - 7200
    for path in (old / ".git" / "index", old.parent / "last_commit"):
        os.utime(path, (long_ago, long_ago))
    new_job(store, "done")
    store.finish("done", "failed", error={"code": "internal", "message": "", "problems": []})
    assert worker.expire() == []  # finished just now: kept
    assert not old.exists() and fresh.exists()
