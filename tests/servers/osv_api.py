"""A fake of OSV's query API (``POST /v1/query``), the database ``pip-audit`` asks, over real HTTP.

A query is ``{"package": {"name": ..., "ecosystem": "PyPI"}, "version": ...}``; the answer is
``{}`` when nothing is known and ``{"vulns": [...]}`` (OSV schema 1.x) otherwise. ``advisories``
maps ``(name, version)`` to the vulns to answer; every query is recorded.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeOsv:
    advisories: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    queries: list[tuple[str, str]] = field(default_factory=list)

    def advise(self, name: str, version: str, vuln_id: str, summary: str, fixed: str) -> None:
        """A vulnerability of ``name==version``, fixed in ``fixed``."""
        self.advisories.setdefault((name, version), []).append(
            {
                "schema_version": "1.6.0",
                "id": vuln_id,
                "summary": summary,
                "published": "2026-11-30T12:00:00Z",
                "affected": [
                    {
                        "package": {"name": name, "ecosystem": "PyPI"},
                        "ranges": [
                            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                        ],
                    }
                ],
            }
        )


def serve_osv(fake: FakeOsv):
    """Start the server; returns it and the query URL (for ``PIP_AUDIT_OSV_URL``)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            query = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            if self.path != "/v1/query" or query.get("package", {}).get("ecosystem") != "PyPI":
                return self.reply(400, {"code": 3, "message": "Invalid query."})
            key = (query["package"]["name"], query["version"])
            fake.queries.append(key)
            vulns = fake.advisories.get(key)
            self.reply(200, {"vulns": vulns} if vulns else {})

        def reply(self, status: int, payload: dict):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1/query"
