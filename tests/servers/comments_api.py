"""A fake of the two comment APIs the generated CI's report step calls, over real HTTP.

GitHub: ``GET/POST /api/v3/repos/<repo>/issues/<n>/comments`` and
``PATCH /api/v3/repos/<repo>/issues/comments/<id>`` (GitHub Enterprise paths, as
``GITHUB_API_URL`` gives them); GitLab: ``GET/POST /api/v4/projects/<repo>/merge_requests/<n>/notes``
and ``PUT .../notes/<id>``. Lists are paginated with ``Link: rel="next"`` and ignore
``per_page``, as a server capping it would. Every call and its auth header is recorded.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

MARKER = "<!-- gitexport-ci-report -->"


class FakeComments:
    """Issue comments (GitHub) or merge request notes (GitLab), paginated with ``Link``."""

    def __init__(self, page_size: int = 2):
        self.items: list[dict] = [
            {"id": 1, "body": "LGTM"},
            {"id": 2, "body": "please rerun"},
            {"id": 3, "body": "a bot's note"},
        ]
        self.page_size = page_size
        self.calls: list[tuple[str, str]] = []
        self.auth: list[str] = []
        self.next_id = 100


def serve(fake: FakeComments, forge: str, repo: str = "acme/penguins", number: int = 7):
    """A real HTTP server on 127.0.0.1 for ``fake``; GitHub Enterprise or GitLab paths."""
    if forge == "github":
        base = f"/api/v3/repos/{re.escape(repo)}/issues"
        list_path = re.compile(rf"^{base}/{number}/comments$")
        item_path = re.compile(rf"^{base}/comments/(\d+)$")
        edit = "PATCH"
    else:
        base = f"/api/v4/projects/{re.escape(quote(repo, safe=''))}/merge_requests/{number}"
        list_path = re.compile(rf"^{base}/notes$")
        item_path = re.compile(rf"^{base}/notes/(\d+)$")
        edit = "PUT"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status: int, payload, headers: dict | None = None):
            data = json.dumps(payload).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self):
            parts = urlsplit(self.path)
            fake.calls.append((self.command, parts.path))
            fake.auth.append(self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN"))
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            if self.command == "GET" and list_path.match(parts.path):
                page = int(parse_qs(parts.query).get("page", ["1"])[0])
                size = fake.page_size  # ignores per_page, as a server capping it would
                chunk = fake.items[(page - 1) * size : page * size]
                headers = {}
                if page * size < len(fake.items):
                    url = f"http://{self.headers['Host']}{parts.path}?per_page=100&page={page + 1}"
                    headers["Link"] = f'<{url}>; rel="next"'
                return self.reply(200, chunk, headers)
            if self.command == "POST" and list_path.match(parts.path):
                fake.next_id += 1
                item = {"id": fake.next_id, "body": body["body"]}
                fake.items.append(item)
                return self.reply(201, item)
            match = item_path.match(parts.path)
            if self.command == edit and match:
                item = next(i for i in fake.items if i["id"] == int(match.group(1)))
                item["body"] = body["body"]
                return self.reply(200, item)
            return self.reply(404, {"message": "Not Found"})

        do_GET = do_POST = do_PATCH = do_PUT = handle_any

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def ours(fake: FakeComments) -> list[dict]:
    return [item for item in fake.items if MARKER in item["body"]]
