"""``gitexport serve`` end to end, embedded mode: one command, no other server.

A real uvicorn subprocess with two embedded workers, the canvas-like client of
examples/canvas_client.py, the local provider (a bare repository) and the fake GitHub API over
HTTP in front of the real git smart-HTTP + LFS server. Each export trains the penguins example.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest
import requests
from conftest import FAST_OPTIONS, SERVICE_KEY, free_port, tree_contains, wait_job

from helpers import penguins_variant

pytestmark = pytest.mark.slow


def local_request(remote) -> dict:
    return {"target": {"provider": "local", "repo": str(remote)}, "options": FAST_OPTIONS}


def test_local_flow_preview_export_events_result(service, tmp_path, server_token):
    client = service.client("alice")
    remote = tmp_path / "remote" / "penguins.git"
    request = local_request(remote)
    v3, v4 = penguins_variant(tmp_path, 3, 0.5), penguins_variant(tmp_path, 4, 0.25)

    preview = client.preview(v3, request)
    assert preview["up_to_date"] is False and preview["plan"]["pipeline"]["version"] == 3
    assert preview["files"] and all(f["change"] == "added" for f in preview["files"])

    # The first export creates main; the token travels only in X-Forge-Token.
    job = client.export(v3, request, token=server_token, idempotency_key="click-1")
    assert job["state"] == "queued" and job["links"]["self"] == f"/v1/exports/{job['id']}"
    events = list(client.events(job["id"]))
    assert [e.id for e in events] == list(range(1, len(events) + 1))  # no gap, no repeat
    assert events[-1].type == "result" and events[-2].data == {"state": "succeeded"}
    phases = [e.data["phase"] for e in events if e.type == "phase"]
    assert phases == [
        "validate",
        "plan",
        "render",
        "train",
        "parity",
        "commit",
        "push",
        "pull_request",
        "done",
    ]
    progress = [e.data["progress"] for e in events if e.type == "phase"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    first = client.job(job["id"])
    assert first["state"] == "succeeded" and first["result"]["branch"] == "main"
    assert first["result"] == events[-1].data
    assert first["pipeline"] == {"id": "pl_penguins", "name": "Penguin species", "version": 3}

    # Resuming: Last-Event-ID n gives every event after n, none twice.
    tail = list(client.events(job["id"], after=4))
    assert [e.id for e in tail] == [e.id for e in events[4:]]
    r = requests.get(
        service.url + first["links"]["events"] + "?after=2",
        headers={"Authorization": f"Bearer {SERVICE_KEY}", "X-Canvas-User": "alice"},
        timeout=30,
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "id: 1\r\n" not in r.text and "id: 3\r\n" in r.text

    # Same Idempotency-Key and body → the first job, no second one.
    again = client.export(v3, request, token=server_token, idempotency_key="click-1")
    assert again["id"] == job["id"]

    # A re-export opens one pull request; the same pipeline again is up to date.
    second = wait_job(client, client.export(v4, request, token=server_token)["id"])
    assert second["state"] == "succeeded", second["error"]
    assert second["result"]["pull_request"]["action"] == "opened"
    same = wait_job(client, client.export(v4, request, token=server_token)["id"])
    assert same["result"]["up_to_date"] is True and same["result"]["status"] == "up_to_date"
    assert same["result"]["pull_request"]["number"] == second["result"]["pull_request"]["number"]
    assert same["result"]["commit"] == second["result"]["commit"]
    # Answered from the trusted working copy by digests: no training, no push.
    phases = [e.data["phase"] for e in client.events(same["id"]) if e.type == "phase"]
    assert "train" not in phases and phases[-1] == "done"
    prs = json.loads((remote / "gitexport" / "pull-requests.json").read_text())
    assert len(prs) == 1

    # The preview now knows the repository: nothing to change.
    assert client.preview(v4, request)["up_to_date"] is True

    # The archive is the generated project.
    with zipfile.ZipFile(io.BytesIO(client.archive(second["id"]))) as zf:
        names = zf.namelist()
    assert {".gitexport/plan.json", ".gitexport/lineage.json", "MODEL_CARD.md"} <= set(names)
    assert any(n.startswith("src/") for n in names) and not any(".git/" in n for n in names)

    # Newest first, paginated; another user sees nothing of alice's.
    page1 = client.jobs(limit=2)
    assert [j["id"] for j in page1["items"]] == [same["id"], second["id"]]
    page2 = client.jobs(limit=2, cursor=page1["next_cursor"])
    assert [j["id"] for j in page2["items"]] == [job["id"]] and page2["next_cursor"] is None
    assert client.jobs(state="failed")["items"] == []
    bob = service.client("bob")
    assert bob.jobs()["items"] == []
    for path in ("", "/events", "/archive"):
        r = bob.session.get(f"{service.url}/v1/exports/{job['id']}{path}", timeout=10)
        assert r.status_code == 404

    # The human page: only through the signed link.
    page = requests.get(first["links"]["page"], timeout=10)
    assert page.status_code == 200 and "Penguin species" in page.text
    tampered = first["links"]["page"].replace("sig=", "sig=0")
    assert requests.get(tampered, timeout=10).status_code == 403
    assert requests.get(f"{service.url}/exports/{job['id']}", timeout=10).status_code == 403

    # A pull request closed by hand since: the stored answer is not trusted, the push opens one.
    prs[0]["state"] = "closed"
    (remote / "gitexport" / "pull-requests.json").write_text(json.dumps(prs))
    reopened = wait_job(client, client.export(v4, request, token=server_token)["id"])
    assert reopened["state"] == "succeeded", reopened["error"]
    assert reopened["result"]["status"] == "pr_opened"
    assert (
        reopened["result"]["pull_request"]["number"] != second["result"]["pull_request"]["number"]
    )

    # The token is nowhere: not in the store, the state folder, the logs or the events.
    service.stop()
    needle = server_token.encode()
    assert tree_contains(service.state_dir, needle) == []
    assert server_token not in service.logs()
    assert all(server_token not in json.dumps(e.data) for e in events)


def test_github_flow_followed_in_a_browser_and_wrong_token(
    service, github, git_server, tmp_path, server_token
):
    client = service.client("carol")
    request = {
        "target": {"provider": "github", "repo": "octo/penguins", "base_url": github.api_url},
        "options": FAST_OPTIONS,
    }
    first = wait_job(
        client, client.export(penguins_variant(tmp_path, 3, 0.5), request, token=server_token)["id"]
    )
    assert first["state"] == "succeeded", first["error"]
    assert first["result"]["status"] == "created"

    # The re-export, followed on the human page in a real browser: the pull request's creation
    # is held at the forge, so the page is certainly open while the job runs, and has to move
    # to the PR link by itself once the forge answers.
    hold = github.hold(
        lambda r: r.method == "POST" and r.url.endswith("/repos/octo/penguins/pulls")
    )
    job = client.export(penguins_variant(tmp_path, 4, 0.25), request, token=server_token)
    follow_in_browser(job["links"]["page"], hold)
    second = client.job(job["id"])
    assert second["state"] == "succeeded", second["error"]
    assert second["result"]["status"] == "pr_opened"
    assert second["result"]["pull_request"]["url"] == "https://github.com/octo/penguins/pull/1"
    assert len(github.fake.pulls["octo/penguins"]) == 1
    assert set(git_server.heads("octo/penguins")) == {"main", "gitexport/pl_penguins"}

    wrong = wait_job(
        client,
        client.export(penguins_variant(tmp_path, 5, 0.1), request, token="ghp_wrongtoken0000")[
            "id"
        ],
    )
    assert wrong["state"] == "failed" and wrong["error"]["code"] == "forge_auth"
    assert "ghp_wrongtoken0000" not in json.dumps(wrong)

    service.stop()
    store = service.state_dir / "jobs.sqlite3"
    assert store.exists()
    for secret in (server_token, "ghp_wrongtoken0000"):
        assert tree_contains(service.state_dir, secret.encode()) == []
        assert secret not in service.logs()
    with sqlite3.connect(store) as conn:
        dump = "\n".join(conn.iterdump())
    assert "INSERT INTO" in dump and "jobs" in dump
    for secret in (server_token, "ghp_wrongtoken0000"):
        assert secret not in dump


def test_gitlab_flow(service, gitlab, tmp_path, server_token):
    client = service.client("grace")
    request = {
        "target": {"provider": "gitlab", "repo": "acme/ml/penguins", "base_url": gitlab.base_url},
        "options": FAST_OPTIONS,
    }
    results = []
    for version, c in ((3, 0.5), (4, 0.25)):
        job = client.export(penguins_variant(tmp_path, version, c), request, token=server_token)
        done = wait_job(client, job["id"])
        assert done["state"] == "succeeded", done["error"]
        results.append(done["result"])
    assert [r["status"] for r in results] == ["created", "pr_opened"]
    [mrs] = gitlab.fake.mrs.values()
    assert len(mrs) == 1 and results[1]["pull_request"]["number"] == mrs[0]["iid"]
    assert results[1]["pull_request"]["url"].startswith(gitlab.base_url)

    # A forge nobody answers: retried with backoff, then forge_unavailable.
    closed = f"http://127.0.0.1:{free_port()}"
    unreachable = {**request, "target": {**request["target"], "base_url": closed}}
    job = client.export(penguins_variant(tmp_path, 5, 0.1), unreachable, token=server_token)
    failed = wait_job(client, job["id"], 240)
    assert failed["state"] == "failed" and failed["error"]["code"] == "forge_unavailable"
    service.stop()
    assert server_token not in service.logs()
    assert tree_contains(service.state_dir, server_token.encode()) == []


def test_broken_document_fails_with_its_problems(service, tmp_path):
    client = service.client("dave")
    bundle = penguins_variant(tmp_path, 3, 0.5)
    doc = json.loads((bundle / "pipeline.json").read_text())
    for node in doc["graph"]["nodes"]:
        if node["type"] == "train_model":
            node["data"]["config"]["model"] = "no_such_model"
    (bundle / "pipeline.json").write_text(json.dumps(doc))
    job = wait_job(client, client.export(bundle, local_request(tmp_path / "r.git"))["id"], 60)
    assert job["state"] == "failed" and job["error"]["code"] == "invalid_document"
    assert job["error"]["problems"] and all("where" in p for p in job["error"]["problems"])
    events = list(client.events(job["id"]))
    assert events[-1].type == "error" and events[-1].data == job["error"]
    # The preview refuses it at once, with the same problems.
    with pytest.raises(Exception) as info:
        client.preview(bundle, local_request(tmp_path / "r.git"))
    assert info.value.status == 422
    assert info.value.body["error"]["problems"] == job["error"]["problems"]


SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "screenshots" / "service-page.png"
CHROMIUM = "/usr/bin/chromium"


def follow_in_browser(page_url: str, hold) -> None:
    """Open the signed page in headless Chromium (Debian's, no download) while ``hold`` keeps
    the job running, see it running, release it and wait for the pull-request link; the
    finished page is written to out/screenshots/service-page.png."""
    if not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            raise AssertionError("chromium and playwright are required in CI")
        pytest.skip("chromium or playwright is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 900, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_url)
            assert page.locator("h1").inner_text() == "Penguin species"
            assert hold.reached.wait(240), "the job never reached the pull request"
            state = page.locator("#state")
            deadline = time.time() + 30
            while state.inner_text() != "running" and time.time() < deadline:
                page.wait_for_timeout(100)
            assert state.inner_text() == "running"
            assert page.locator("#pr-link").count() == 0
            hold.release()
            link = page.locator("#pr-link")
            link.wait_for(timeout=60000)  # no reload: the page follows the event stream
            assert link.get_attribute("href") == "https://github.com/octo/penguins/pull/1"
            assert page.locator("#state").inner_text() == "succeeded"
            assert page.locator("#percent").inner_text() == "100%"
            # Every phase is listed, done, with its time.
            phases = page.locator("#phases li")
            assert phases.count() == 8
            for i in range(8):
                assert phases.nth(i).get_attribute("class") == "done"
                assert " s" in phases.nth(i).inner_text() or "min" in phases.nth(i).inner_text()
            assert "parity" in page.locator("#result").inner_text()
            assert errors == []
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()


def test_cancel_a_running_job_leaves_nothing_pushed(service, tmp_path):
    client = service.client("frank")
    remote = tmp_path / "cancelled.git"
    job = client.export(penguins_variant(tmp_path, 3, 0.5), local_request(remote))
    for event in client.events(job["id"]):
        if event.type == "phase" and event.data["phase"] == "train":
            assert client.cancel(job["id"])["state"] == "running"  # stops at the next step
            break
    done = wait_job(client, job["id"], 120)
    assert done["state"] == "cancelled" and done["error"]["code"] == "cancelled"
    assert done["result"] is None
    assert not remote.exists()  # the repository was never touched
    events = list(client.events(job["id"]))
    assert [e.type for e in events[-2:]] == ["state", "error"]
    assert events[-2].data == {"state": "cancelled"}
