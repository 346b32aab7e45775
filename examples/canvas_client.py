"""A canvas-like client of the export service (``gitexport-service/1``).

What the canvas backend does when someone clicks "Push to GitHub": upload the bundle for a
preview, queue the export, follow its progress over Server-Sent Events (reconnecting with
``Last-Event-ID`` when the stream drops) and show the result::

    python examples/canvas_client.py BUNDLE_DIR --service http://127.0.0.1:8080 \\
        --key $SERVICE_KEY --user alice --provider local --repo /srv/git/churn.git

The forge token, when needed, is read from ``$FORGE_TOKEN`` (never from argv).
Only ``requests`` is needed; the tests import :class:`CanvasClient`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests


def pack_bundle(folder: Path) -> bytes:
    """The bundle folder as a .tar.gz (what the canvas uploads)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(str(folder), arcname=Path(folder).name)
    return buf.getvalue()


@dataclass
class Event:
    id: int
    type: str
    data: dict


class ServiceError(Exception):
    def __init__(self, status: int, body: dict | str):
        self.status, self.body = status, body
        super().__init__(f"HTTP {status}: {body}")


class CanvasClient:
    def __init__(self, base_url: str, key: str, user: str, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {key}", "X-Canvas-User": user})

    def _check(self, response: requests.Response) -> requests.Response:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise ServiceError(response.status_code, body)
        return response

    def _files(self, bundle: Path | bytes, request: dict) -> dict:
        data = bundle if isinstance(bundle, bytes) else pack_bundle(Path(bundle))
        return {
            "bundle": ("bundle.tar.gz", data, "application/gzip"),
            "request": (None, json.dumps(request), "application/json"),
        }

    def preview(self, bundle: Path | bytes, request: dict) -> dict:
        r = self.session.post(
            f"{self.base_url}/v1/previews", files=self._files(bundle, request), timeout=120
        )
        return self._check(r).json()

    def export(
        self,
        bundle: Path | bytes,
        request: dict,
        *,
        token: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict:
        headers = {}
        if token:
            headers["X-Forge-Token"] = token
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        r = self.session.post(
            f"{self.base_url}/v1/exports",
            files=self._files(bundle, request),
            headers=headers,
            timeout=120,
        )
        return self._check(r).json()

    def job(self, job_id: str) -> dict:
        return self._check(
            self.session.get(f"{self.base_url}/v1/exports/{job_id}", timeout=self.timeout)
        ).json()

    def jobs(self, **params) -> dict:
        return self._check(
            self.session.get(f"{self.base_url}/v1/exports", params=params, timeout=self.timeout)
        ).json()

    def cancel(self, job_id: str) -> dict:
        r = self.session.post(f"{self.base_url}/v1/exports/{job_id}/cancel", timeout=self.timeout)
        return self._check(r).json()

    def archive(self, job_id: str) -> bytes:
        r = self.session.get(f"{self.base_url}/v1/exports/{job_id}/archive", timeout=120)
        return self._check(r).content

    def events(
        self, job_id: str, after: int = 0, *, max_events: int | None = None
    ) -> Iterator[Event]:
        """The job's events after *after*, reconnecting with ``Last-Event-ID`` when the
        connection drops, until the closing ``result``/``error`` (or *max_events*)."""
        last, seen = after, 0
        while True:
            try:
                for event in self._stream(job_id, last):
                    last = event.id
                    seen += 1
                    yield event
                    if event.type in ("result", "error"):
                        return
                    if max_events is not None and seen >= max_events:
                        return
            except requests.ConnectionError:
                time.sleep(0.5)
                continue

    def _stream(self, job_id: str, last: int) -> Iterator[Event]:
        with self.session.get(
            f"{self.base_url}/v1/exports/{job_id}/events",
            headers={"Last-Event-ID": str(last), "Accept": "text/event-stream"},
            stream=True,
            timeout=(10, 120),
        ) as r:
            self._check(r)
            fields: dict[str, str] = {}
            for line in r.iter_lines(decode_unicode=True):
                if line is None:
                    continue
                if line == "":
                    if "data" in fields:
                        yield Event(
                            int(fields.get("id", 0)),
                            fields.get("event", "message"),
                            json.loads(fields["data"]),
                        )
                    fields = {}
                elif line.startswith(":"):
                    continue  # a keep-alive comment
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    fields[name] = fields[name] + "\n" + value if name in fields else value

    def run(
        self, bundle: Path | bytes, request: dict, *, token: str | None = None, show=print
    ) -> dict:
        """preview → export → events → the finished job."""
        preview = self.preview(bundle, request)
        changed = [f for f in preview["files"] if f["change"] != "unchanged"]
        show(f"preview: {len(changed)} file(s) would change; up to date: {preview['up_to_date']}")
        job = self.export(bundle, request, token=token)
        show(f"queued {job['id']}; follow it at {job['links']['page']}")
        for event in self.events(job["id"]):
            if event.type == "phase":
                show(f"  {event.data['phase']:<13} {event.data['progress']:.0%}")
            elif event.type == "state":
                show(f"  state: {event.data['state']}")
        return self.job(job["id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--service", default="http://127.0.0.1:8080")
    parser.add_argument("--key", default=os.environ.get("GITEXPORT_SERVICE_KEY"))
    parser.add_argument("--user", default="canvas-user")
    parser.add_argument("--provider", choices=("github", "gitlab", "local"))
    parser.add_argument("--repo")
    parser.add_argument("--base-url")
    args = parser.parse_args(argv)
    request: dict = {"options": {}}
    if args.provider:
        request["target"] = {
            "provider": args.provider,
            "repo": args.repo,
            "base_url": args.base_url,
        }
    client = CanvasClient(args.service, args.key, args.user)
    job = client.run(args.bundle, request, token=os.environ.get("FORGE_TOKEN"))
    if job["state"] == "succeeded":
        pr = (job["result"] or {}).get("pull_request") or {}
        print(
            f"done: {pr.get('url') or job['result'].get('repo_url') or 'built (download the ZIP)'}"
        )
        return 0
    print(f"{job['state']}: {json.dumps(job['error'], indent=2)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
