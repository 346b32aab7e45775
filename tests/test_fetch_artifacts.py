"""The generated scripts/fetch_artifacts.py against a GitHub-shaped release server on 127.0.0.1.

A private release asset: its browser URL answers 404, the API lists the asset, the asset URL
redirects to a storage host that rejects any Authorization header (as GitHub's storage does).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gitexport.build import build_project
from gitexport.load import plan_bundle
from gitexport.render import RenderOptions
from helpers import EXAMPLES

TOKEN = "ghs_fetchtoken0123456789abcdef"


class ReleaseServer(BaseHTTPRequestHandler):
    model = b""
    seen: list[tuple[str, str | None]] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        auth = self.headers.get("Authorization")
        self.seen.append((self.path, auth))
        port = self.server.server_address[1]
        authorised = auth == f"Bearer {TOKEN}"
        if self.path == "/o/r/releases/download/v3/model.joblib":
            self._send(404)  # private repository: the browser URL needs a session
        elif self.path == "/api/v3/repos/o/r/releases/tags/v3" and authorised:
            asset = {"name": "model.joblib", "url": f"http://127.0.0.1:{port}/api/v3/assets/1"}
            self._send(200, json.dumps({"tag_name": "v3", "assets": [asset]}).encode())
        elif self.path == "/api/v3/assets/1" and authorised:
            assert self.headers.get("Accept") == "application/octet-stream"
            # Storage lives on another host name.
            self._send(302, headers={"Location": f"http://localhost:{port}/storage/blob"})
        elif self.path == "/storage/blob":
            self._send(400 if auth else 200, b"" if auth else self.model)
        else:
            self._send(404)


@pytest.fixture(scope="module")
def release_project(tmp_path_factory):
    built = build_project(plan_bundle(EXAMPLES / "penguins"), RenderOptions(artifacts="release"))
    root = tmp_path_factory.mktemp("project")
    for path, data in built.files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    [model] = built.release_files.values()
    return root, model


@pytest.fixture
def server(release_project):
    ReleaseServer.model = release_project[1]
    ReleaseServer.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ReleaseServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


def point_manifest_at(root, port):
    manifest_path = root / "models/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    url = f"http://127.0.0.1:{port}/o/r/releases/download/v3/model.joblib"
    manifest["artifacts"][0]["url"] = url
    manifest_path.write_text(json.dumps(manifest))
    (root / "models/trained/model.joblib").unlink(missing_ok=True)


def fetch(root, token=None):
    env = {k: v for k, v in os.environ.items() if k not in ("ARTIFACT_TOKEN", "CI_JOB_TOKEN")}
    if token:
        env["ARTIFACT_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "scripts/fetch_artifacts.py"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_private_github_asset_is_fetched_through_the_api(release_project, server):
    root, model = release_project
    point_manifest_at(root, server)
    proc = fetch(root, TOKEN)
    assert proc.returncode == 0, proc.stderr
    fetched = (root / "models/trained/model.joblib").read_bytes()
    assert hashlib.sha256(fetched).hexdigest() == hashlib.sha256(model).hexdigest()
    # The token went to the API, never to the storage host it redirected to.
    assert ("/storage/blob", None) in ReleaseServer.seen
    assert all(auth is None for path, auth in ReleaseServer.seen if path == "/storage/blob")
    assert TOKEN not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_without_a_token_the_private_asset_is_not_found(release_project, server):
    root, _ = release_project
    point_manifest_at(root, server)
    proc = fetch(root)
    assert proc.returncode != 0
    assert not (root / "models/trained/model.joblib").exists()
