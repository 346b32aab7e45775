"""A real git smart-HTTP server (``git http-backend``) with an optional real LFS server.

``GitHttpServer`` runs a threaded stdlib HTTP server on 127.0.0.1 that hands every request
to a WSGI application:

* ``/<owner>/<name>.git/info/refs``, ``git-upload-pack``, ``git-receive-pack`` go to the
  ``git http-backend`` CGI (repositories are bare repos under ``root/<owner>/<name>.git``);
* ``/<owner>/<name>.git/info/lfs/...`` goes to giftless (a real Git LFS server, JWT auth,
  local storage), git-lfs's default LFS URL for that remote.

Both check HTTP Basic auth: any username, password must equal ``token`` (401 otherwise).
For the LFS batch API the front door swaps the checked Basic header for a giftless JWT.

Request bodies are read by the server itself, whether ``Content-Length`` or chunked (git sends
chunked bodies above ``http.postBuffer``, 1 MiB).

Fault switches (attributes of :class:`Faults`, safe to flip from a test):
``drop_receive_pack`` (int): drop the connection in the middle of the next N push requests
(curl resends a request once, silently, when a reused connection dies: 2 = one failed push);
``not_found`` (int): answer 404 to the next N git requests (a repo the API just created);
``fail_lfs_upload`` (int): answer 500 to the next N LFS object uploads.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

GIT_TIMEOUT = 120


@dataclass
class Faults:
    drop_receive_pack: int = 0
    not_found: int = 0
    fail_lfs_upload: int = 0


@dataclass
class RequestLog:
    method: str
    path: str
    status: int
    user: str | None


@dataclass
class GitHttpApp:
    """The WSGI application: auth, faults, git http-backend, giftless."""

    root: Path
    token: str | None
    lfs_app: object | None = None
    lfs_key: str = "gitexport-test-lfs-signing-key-0123456789abcdef"
    faults: Faults = field(default_factory=Faults)
    requests: list[RequestLog] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- helpers -----------------------------------------------------------------------

    def _take(self, name: str) -> bool:
        with self.lock:
            left = getattr(self.faults, name)
            if left > 0:
                setattr(self.faults, name, left - 1)
                return True
            return False

    def _user(self, environ) -> tuple[bool, str | None]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if self.token is None:
            return True, "anonymous"
        if not header.lower().startswith("basic "):
            return False, None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:  # noqa: BLE001
            return False, None
        return password == self.token, user

    def _log(self, environ, status: int, user) -> None:
        with self.lock:
            self.requests.append(
                RequestLog(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), status, user)
            )

    @staticmethod
    def _respond(start_response, status: str, body: bytes = b"", headers=()):
        start_response(
            status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *headers]
        )
        return [body]

    # -- WSGI --------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if "/info/lfs/" in path:
            return self._lfs(environ, start_response)
        ok, user = self._user(environ)
        if not ok:
            self._log(environ, 401, user)
            return self._respond(
                start_response,
                "401 Unauthorized",
                b"Authentication required\n",
                [("WWW-Authenticate", 'Basic realm="gitexport-test"')],
            )
        repo_path = path.split(".git/", 1)[0] + ".git"
        if not (self.root / repo_path.lstrip("/")).is_dir() or self._take("not_found"):
            self._log(environ, 404, user)
            return self._respond(start_response, "404 Not Found", b"Repository not found.\n")
        if path.endswith("/git-receive-pack") and self._take("drop_receive_pack"):
            # Read part of the pack, then vanish without a response.
            body = environ["wsgi.input"]
            body.read(min(int(environ.get("CONTENT_LENGTH") or 0), 2048) or 1024)
            self._log(environ, 0, user)
            raise DropConnection()
        return self._git(environ, start_response, user)

    def _git(self, environ, start_response, user):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": user or "anonymous",
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ["PATH_INFO"],
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root),
        }
        body = environ["wsgi.input"].read()
        env["CONTENT_LENGTH"] = str(len(body))
        if environ.get("HTTP_GIT_PROTOCOL"):
            env["GIT_PROTOCOL"] = environ["HTTP_GIT_PROTOCOL"]
        proc = subprocess.run(
            ["git", "http-backend"],
            input=body,
            env=env,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status = "200 OK"
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name.strip(), value.strip()))
        headers.append(("Content-Length", str(len(payload))))
        self._log(environ, int(status.split()[0]), user)
        start_response(status, headers)
        return [payload]

    def _lfs(self, environ, start_response):
        if self.lfs_app is None:
            return self._respond(start_response, "404 Not Found", b"no LFS here\n")
        path = environ["PATH_INFO"]
        repo_path, _, rest = path.lstrip("/").partition(".git/info/lfs/")
        org, _, repo = repo_path.rpartition("/")
        if "/" in org:  # giftless takes one org level: a GitLab subgroup path becomes a~b
            path = f"/{org.replace('/', '~')}/{repo}.git/info/lfs/{rest}"
            environ = dict(environ, PATH_INFO=path)
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith("bearer "):
            # Batch API: our token, checked here, swapped for a giftless JWT.
            ok, user = self._user(environ)
            if not ok:
                self._log(environ, 401, user)
                return self._respond(
                    start_response,
                    "401 Unauthorized",
                    b'{"message": "Credentials needed"}',
                    [
                        ("LFS-Authenticate", 'Basic realm="gitexport-test"'),
                        ("WWW-Authenticate", 'Basic realm="gitexport-test"'),
                    ],
                )
            org, repo = path.lstrip("/").split(".git/info/lfs/", 1)[0].rsplit("/", 1)
            environ = dict(environ, HTTP_AUTHORIZATION="Bearer " + self._jwt(org, repo))
        elif environ["REQUEST_METHOD"] == "PUT" and self._take("fail_lfs_upload"):
            self._log(environ, 500, "lfs")
            environ["wsgi.input"].read()
            return self._respond(start_response, "500 Internal Server Error", b"disk full\n")
        status_holder = {}

        def sr(status, headers, exc_info=None):
            status_holder["status"] = status
            return start_response(status, headers, exc_info)

        result = list(self.lfs_app(environ, sr))
        self._log(environ, int(status_holder.get("status", "0 x").split()[0]), "lfs")
        return result

    def _jwt(self, org: str, repo: str) -> str:
        import jwt

        now = int(time.time())
        return jwt.encode(
            {
                "sub": "gitexport-test",
                "iat": now,
                "exp": now + 600,
                "scopes": ["obj"],
            },  # the front door checked the path; nested groups
            # do not fit giftless's org/repo scope syntax
            self.lfs_key,
            algorithm="HS256",
            headers={"kid": "giftless-internal-jwt-key"},
        )


class DropConnection(Exception):
    """Raised by the app to make the server close the socket without answering."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gitexport-test-git/1"

    def log_message(self, format, *args):
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = io.BytesIO()
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                out.write(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after each chunk
            return out.getvalue()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        path, _, query = self.path.partition("?")
        body = self._body()
        environ = {
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SCRIPT_NAME": "",
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = value
        started = {}

        def start_response(status, headers, exc_info=None):
            started["status"], started["headers"] = status, headers

        try:
            chunks = self.server.app(environ, start_response)
            payload = b"".join(chunks)
        except DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        code, _, reason = started["status"].partition(" ")
        self.send_response(int(code), reason)
        has_length = False
        for name, value in started["headers"]:
            if name.lower() == "content-length":
                has_length = True
                value = str(len(payload))
            self.send_header(name, value)
        if not has_length:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # a client hanging up is not news
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class GitHttpServer:
    """Start/stop the server; ``create_repo("owner/name")`` makes a bare repository."""

    def __init__(self, root: Path, token: str | None, *, lfs: bool = True):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        lfs_app = make_giftless_app(self.root.parent / (self.root.name + "-lfs")) if lfs else None
        self.app = GitHttpApp(self.root, token, lfs_app=lfs_app)
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.app = self.app
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def faults(self) -> Faults:
        return self.app.faults

    def start(self) -> GitHttpServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, full_name: str) -> str:
        return f"{self.base_url}/{full_name}.git"

    def repo_path(self, full_name: str) -> Path:
        return self.root / f"{full_name}.git"

    def create_repo(self, full_name: str) -> Path:
        path = self.repo_path(full_name)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["git", "init", "--bare", "-q", "-b", "main", str(path)],
                check=True,
                timeout=GIT_TIMEOUT,
            )
            subprocess.run(
                ["git", "-C", str(path), "config", "http.receivepack", "true"],
                check=True,
                timeout=GIT_TIMEOUT,
            )
        return path

    def delete_repo(self, full_name: str) -> None:
        shutil.rmtree(self.repo_path(full_name), ignore_errors=True)

    def heads(self, full_name: str) -> dict[str, str]:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(self.repo_path(full_name)),
                "for-each-ref",
                "--format=%(refname:lstrip=2) %(objectname)",
                "refs/heads",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=GIT_TIMEOUT,
        ).stdout
        return dict(line.split(" ", 1) for line in out.splitlines())

    def lfs_objects(self) -> set[str]:
        """Object ids the LFS server stores."""
        store = self.root.parent / (self.root.name + "-lfs")
        return {p.name for p in store.rglob("*") if p.is_file() and len(p.name) == 64}


def make_giftless_app(storage: Path, key: str = "gitexport-test-lfs-signing-key-0123456789abcdef"):
    """A giftless Flask app: JWT auth (HS256 *key*), basic streaming transfer, local storage."""
    import warnings

    from giftless.app import init_app

    storage.mkdir(parents=True, exist_ok=True)
    jwt_options = {
        "algorithm": "HS256",
        "private_key": key,
        "default_lifetime": 600,
        "key_id": "giftless-internal-jwt-key",
    }
    config = {
        "LEGACY_ENDPOINTS": False,
        "AUTH_PROVIDERS": [{"factory": "giftless.auth.jwt:factory", "options": jwt_options}],
        "PRE_AUTHORIZED_ACTION_PROVIDER": {
            "factory": "giftless.auth.jwt:factory",
            "options": jwt_options,
        },
        "TRANSFER_ADAPTERS": {
            "basic": {
                "factory": "giftless.transfer.basic_streaming:factory",
                "options": {
                    "storage_class": "giftless.storage.local_storage:LocalStorage",
                    "storage_options": {"path": str(storage)},
                    "action_lifetime": 600,
                },
            }
        },
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return init_app(additional_config=config)
