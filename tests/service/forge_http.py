"""The ``responses``-based fakes of GitHub and GitLab (tests/servers/) served over real HTTP on
127.0.0.1, so a ``gitexport serve`` subprocess can talk to them (GitHub Enterprise style
``http://127.0.0.1:<port>/api/v3``; GitLab ``http://127.0.0.1:<port>`` + ``/api/v4``)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from requests.structures import CaseInsensitiveDict


class _Request:
    def __init__(self, method: str, url: str, headers, body: bytes | None):
        self.method, self.url, self.body = method, url, body
        self.headers = CaseInsensitiveDict(headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        server = self.server
        request = _Request(self.command, server.base_url + self.path, dict(self.headers), body)
        hold = server.hold
        if hold is not None and hold.matches(request):
            hold.reached.set()
            hold.released.wait(120)
        with server.lock:  # the fake is not thread-safe
            status, headers, payload = server.fake._dispatch(request)
        data = payload.encode() if isinstance(payload, str) else (payload or b"")
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle


class Hold:
    """Requests matching ``matches`` wait until ``release()``: a test can look at a job while
    it is certainly running (``reached`` is set when the first such request arrives)."""

    def __init__(self, matches):
        self.matches = matches
        self.reached = threading.Event()
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()


class ForgeHttpServer:
    def __init__(self, make_fake):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.api_url = self.base_url + "/api/v3"  # GitHub Enterprise's REST root
        self.fake = make_fake(self.base_url)
        self.httpd.fake = self.fake
        self.httpd.base_url = self.base_url
        self.httpd.lock = threading.Lock()
        self.httpd.hold = None
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> ForgeHttpServer:
        self.thread.start()
        return self

    def hold(self, matches) -> Hold:
        """Hold the requests ``matches(request)`` accepts until the returned ``Hold`` is
        released; released by ``stop`` at the latest."""
        self.httpd.hold = Hold(matches)
        return self.httpd.hold

    def stop(self) -> None:
        if self.httpd.hold is not None:
            self.httpd.hold.release()
        self.httpd.shutdown()
        self.httpd.server_close()
