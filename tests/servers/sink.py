"""A real HTTP server that accepts PUT/POST bodies in 1 MiB blocks and records their size,
SHA-256 and the PRIVATE-TOKEN header (for streaming-upload tests)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_PUT(self):
        digest, size = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    self.rfile.readline()
                    break
                left = n
                while left:
                    block = self.rfile.read(min(left, 1 << 20))
                    digest.update(block)
                    left -= len(block)
                size += n
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                block = self.rfile.read(min(left, 1 << 20))
                if not block:
                    break
                digest.update(block)
                size += len(block)
                left -= len(block)
        self.server.received.append(
            (self.path.split("?")[0], size, digest.hexdigest(), self.headers.get("PRIVATE-TOKEN"))
        )
        body = json.dumps(
            {
                "id": 1,
                "file_name": self.path.rsplit("/", 1)[-1],
                "size": size,
                "file_sha256": digest.hexdigest(),
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT


class SinkServer:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.received = []
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def received(self):
        return self.httpd.received

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
