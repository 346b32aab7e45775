"""A stateful fake of the GitHub REST API on top of ``responses``.

Payloads follow GitHub's documented shapes (repository, pull request, label, release,
release asset, installation token), with the rate-limit headers and ``Link`` pagination
GitHub sends. Repositories it "creates" are real bare repos on the local git server, and it
answers with that server's clone URL, so git traffic is real.

Faults: ``fail(method, path_regex, status, times=1, headers=None, message=..., after=False)``
answers *status* to the next matching calls; with ``after=True`` the call takes effect
first and only the answer is lost (a 502 from a proxy after GitHub did the work).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import responses

USER = {"login": "octo", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": False}


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int
    times: int
    headers: dict
    message: str
    after: bool


@dataclass
class FakeGitHub:
    git_server: object  # servers.git_http.GitHttpServer
    api: str = "https://api.github.com"
    uploads: str = "https://uploads.github.com"
    web: str = "https://github.com"
    token: str | None = None  # expected "token <x>" / "Bearer <x>"
    page_size: int = 30
    repos: dict = field(default_factory=dict)
    orgs: set = field(default_factory=lambda: {"acme"})
    pulls: dict = field(default_factory=dict)  # full_name -> list
    releases: dict = field(default_factory=dict)  # full_name -> list
    assets: dict = field(default_factory=dict)  # release id -> list
    calls: list = field(default_factory=list)  # (method, path, query, body)
    faults: list = field(default_factory=list)
    installation_tokens: list = field(default_factory=list)
    _ids: int = 1000

    # -- setup -------------------------------------------------------------------------

    def install(self, rsps: responses.RequestsMock) -> FakeGitHub:
        for base in (self.api, self.uploads):
            parts = urlsplit(base)
            pattern = re.compile(
                re.escape(f"{parts.scheme}://{parts.hostname}")
                + r"(:\d+)?"
                + re.escape(parts.path)
                + r"/.*"
            )
            for method in (responses.GET, responses.POST, responses.PATCH, responses.DELETE):
                rsps.add_callback(method, pattern, self._dispatch)
        rsps.add_passthru("http://127.0.0.1")
        return self

    def fail(self, method, path_regex, status, *, times=1, headers=None, message=None, after=False):
        self.faults.append(
            Fault(
                method,
                re.compile(path_regex),
                status,
                times,
                headers or {},
                message
                or {
                    502: "Bad Gateway",
                    401: "Bad credentials",
                    403: "Forbidden",
                    404: "Not Found",
                    429: "Too Many Requests",
                }.get(status, "error"),
                after,
            )
        )

    def count(self, method, path_regex):
        pattern = re.compile(path_regex)
        return sum(1 for m, p, *_ in self.calls if m == method and pattern.fullmatch(p))

    def add_repo(self, owner, name, **extra):
        full = f"{owner}/{name}"
        self.git_server.create_repo(full)
        self.repos[full] = self._repo_json(owner, name, **extra)
        return self.repos[full]

    # -- payloads ----------------------------------------------------------------------

    def _next_id(self):
        self._ids += 1
        return self._ids

    def _owner_json(self, login):
        if login == USER["login"]:
            return dict(USER)
        return {
            "login": login,
            "id": 77,
            "node_id": "MDEyOk9yZ2FuaXphdGlvbjc3",
            "type": "Organization",
            "site_admin": False,
        }

    def _repo_json(self, owner, name, *, private=True, description="", visibility=None):
        full = f"{owner}/{name}"
        return {
            "id": self._next_id(),
            "node_id": "R_kgDOA",
            "name": name,
            "full_name": full,
            "private": private,
            "owner": self._owner_json(owner),
            "html_url": f"{self.web}/{full}",
            "description": description,
            "fork": False,
            "url": f"{self.api}/repos/{full}",
            "git_url": f"git://github.com/{full}.git",
            "ssh_url": f"git@github.com:{full}.git",
            "clone_url": self.git_server.url(full),
            "svn_url": f"{self.web}/{full}",
            "default_branch": "master",  # the account's setting; GitHub ignores ours at create
            "visibility": visibility or ("private" if private else "public"),
            "size": 0,
            "archived": False,
            "disabled": False,
            "created_at": "2026-11-20T10:00:00Z",
            "updated_at": "2026-11-20T10:00:00Z",
            "pushed_at": None,
            "permissions": {
                "admin": True,
                "maintain": True,
                "push": True,
                "triage": True,
                "pull": True,
            },
        }

    def _pr_json(self, full, pr):
        repo = self.repos[full]
        base_url = f"{self.api}/repos/{full}"
        return {
            "url": f"{base_url}/pulls/{pr['number']}",
            "id": pr["id"],
            "node_id": "PR_kwDO",
            "html_url": f"{self.web}/{full}/pull/{pr['number']}",
            "issue_url": f"{base_url}/issues/{pr['number']}",
            "number": pr["number"],
            "state": pr["state"],
            "locked": False,
            "title": pr["title"],
            "user": dict(USER),
            "body": pr["body"],
            "labels": [self._label_json(n) for n in pr["labels"]],
            "created_at": "2026-11-20T10:00:00Z",
            "updated_at": "2026-11-20T10:00:00Z",
            "closed_at": None,
            "merged_at": None,
            "draft": pr["draft"],
            "head": {
                "label": f"{repo['owner']['login']}:{pr['head']}",
                "ref": pr["head"],
                "sha": pr["sha"],
                "user": repo["owner"],
                "repo": repo,
            },
            "base": {
                "label": f"{repo['owner']['login']}:{pr['base']}",
                "ref": pr["base"],
                "sha": "0" * 40,
                "user": repo["owner"],
                "repo": repo,
            },
            "requested_reviewers": [{"login": r, "id": 5, "type": "User"} for r in pr["reviewers"]],
            "merged": False,
            "mergeable": None,
        }

    @staticmethod
    def _label_json(name):
        return {
            "id": 208045946,
            "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
            "name": name,
            "description": "",
            "color": "ededed",
            "default": False,
            "url": f"https://api.github.com/labels/{name}",
        }

    def _release_json(self, full, rel):
        return {
            "url": f"{self.api}/repos/{full}/releases/{rel['id']}",
            "id": rel["id"],
            "html_url": f"{self.web}/{full}/releases/tag/{rel['tag_name']}",
            "assets_url": f"{self.api}/repos/{full}/releases/{rel['id']}/assets",
            "upload_url": f"{self.uploads}/repos/{full}/releases/{rel['id']}/assets{{?name,label}}",
            "tag_name": rel["tag_name"],
            "target_commitish": rel["target_commitish"],
            "name": rel["name"],
            "body": rel["body"],
            "draft": False,
            "prerelease": False,
            "created_at": "2026-11-20T10:00:00Z",
            "published_at": "2026-11-20T10:00:00Z",
            "author": dict(USER),
            "assets": [self._asset_json(full, a) for a in self.assets.get(rel["id"], [])],
        }

    def _asset_json(self, full, asset):
        rel_tag = asset["tag"]
        return {
            "url": f"{self.api}/repos/{full}/releases/assets/{asset['id']}",
            "browser_download_url": f"{self.web}/{full}/releases/download/{rel_tag}/"
            f"{asset['name']}",
            "id": asset["id"],
            "node_id": "RA_kwDO",
            "name": asset["name"],
            "label": "",
            "state": "uploaded",
            "content_type": "application/octet-stream",
            "size": asset["size"],
            "digest": f"sha256:{asset['sha256']}",
            "download_count": 0,
            "created_at": "2026-11-20T10:00:00Z",
            "updated_at": "2026-11-20T10:00:00Z",
            "uploader": dict(USER),
        }

    # -- transport ---------------------------------------------------------------------

    def _headers(self, extra=None):
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": "CAFE:0001",
        }
        headers.update(extra or {})
        return headers

    def _json(self, status, payload, extra=None):
        return status, self._headers(extra), json.dumps(payload)

    def _error(self, status, message, extra=None):
        doc = "https://docs.github.com/rest"
        return self._json(
            status, {"message": message, "documentation_url": doc, "status": str(status)}, extra
        )

    def _paged(self, request, items):
        query = parse_qs(urlsplit(request.url).query)
        per_page = min(int(query.get("per_page", [self.page_size])[0]), self.page_size)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []
        base = request.url.split("?")[0]
        rest = {k: v[0] for k, v in query.items() if k != "page"}
        rest["per_page"] = str(per_page)

        def url(p):
            return base + "?" + "&".join(f"{k}={v}" for k, v in {**rest, "page": p}.items())

        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            links += [f'<{url(1)}>; rel="first"', f'<{url(page - 1)}>; rel="prev"']
        return self._json(200, chunk, {"Link": ", ".join(links)} if links else None)

    def _dispatch(self, request):
        parts = urlsplit(request.url)
        path = parts.path
        path = path.removeprefix("/api/v3")
        body = request.body
        if isinstance(body, bytes) and request.headers.get("Content-Type", "").startswith(
            "application/json"
        ):
            body = body.decode()
        self.calls.append(
            (request.method, path, parts.query, body if isinstance(body, str) else None)
        )
        auth = request.headers.get("Authorization", "")
        if (
            not path.startswith("/app/")
            and self.token is not None
            and auth.split(" ", 1)[-1] not in [self.token, *self.installation_tokens]
        ):
            return self._error(401, "Bad credentials")
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and fault.pattern.fullmatch(path):
                fault.times -= 1
                if fault.after:
                    self._route(request, path)
                return self._error(fault.status, fault.message, fault.headers)
        return self._route(request, path)

    def _body(self, request):
        raw = request.body
        if raw is None:
            return {}
        if isinstance(raw, bytes):
            raw = raw.decode()
        if isinstance(raw, str):
            return json.loads(raw) if raw else {}
        return {}

    def _route(self, request, path):
        m, data = request.method, None
        if m == "GET" and path == "/user":
            return self._json(200, dict(USER, name="Octo Cat"))
        if m == "POST" and (match := re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)):
            token = f"ghs_INSTALLATIONTOKEN{len(self.installation_tokens):04d}xyzxyzxyz"
            self.installation_tokens.append(token)
            return self._json(
                201,
                {
                    "token": token,
                    "expires_at": "2099-01-01T00:00:00Z",
                    "permissions": {"contents": "write", "pull_requests": "write"},
                    "repository_selection": "all",
                },
            )
        if m == "GET" and (match := re.fullmatch(r"/orgs/([^/]+)", path)):
            if match[1] not in self.orgs:
                return self._error(404, "Not Found")
            return self._json(
                200,
                {
                    "login": match[1],
                    "id": 77,
                    "type": "Organization",
                    "url": f"{self.api}/orgs/{match[1]}",
                },
            )
        if m == "POST" and (match := re.fullmatch(r"/user/repos|/orgs/([^/]+)/repos", path)):
            data = self._body(request)
            owner = match[1] or USER["login"]
            full = f"{owner}/{data['name']}"
            if full in self.repos:
                return self._json(
                    422,
                    {
                        "message": "Repository creation failed.",
                        "errors": [
                            {
                                "resource": "Repository",
                                "code": "custom",
                                "field": "name",
                                "message": "name already exists on this account",
                            }
                        ],
                        "documentation_url": "https://docs.github.com",
                    },
                )
            self.git_server.create_repo(full)
            self.repos[full] = self._repo_json(
                owner,
                data["name"],
                private=data.get("private", False),
                description=data.get("description", ""),
                visibility=data.get("visibility"),
            )
            self.repos[full]["auto_init"] = data.get("auto_init")
            return self._json(201, self.repos[full])
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if not match:
            return self._error(404, "Not Found")
        full, rest = f"{match[1]}/{match[2]}", match[3] or ""
        if full not in self.repos:
            return self._error(404, "Not Found")
        repo = self.repos[full]
        if rest == "" and m == "GET":
            return self._json(200, repo)
        if rest == "" and m == "PATCH":
            repo.update({k: v for k, v in self._body(request).items() if k in repo})
            return self._json(200, repo)
        if rest == "/pulls" and m == "GET":
            query = parse_qs(urlsplit(request.url).query)
            state = query.get("state", ["open"])[0]
            items = [p for p in self.pulls.get(full, []) if state in ("all", p["state"])]
            head = query.get("head", [None])[0]
            if head and ":" in head:  # GitHub ignores a head without "owner:"
                owner, branch = head.split(":", 1)
                items = [p for p in items if branch == p["head"] and owner == match[1]]
            if "base" in query:
                items = [p for p in items if p["base"] == query["base"][0]]
            return self._paged(request, [self._pr_json(full, p) for p in items])
        if rest == "/pulls" and m == "POST":
            data = self._body(request)
            heads = self.git_server.heads(full)
            if data["head"] not in heads:
                return self._json(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                    },
                )
            for p in self.pulls.get(full, []):
                if p["state"] == "open" and p["head"] == data["head"]:
                    return self._json(
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [
                                {
                                    "resource": "PullRequest",
                                    "code": "custom",
                                    "message": f"A pull request already exists for {match[1]}:{data['head']}.",
                                }
                            ],
                        },
                    )
            prs = self.pulls.setdefault(full, [])
            pr = {
                "number": len(prs) + 1,
                "id": self._next_id(),
                "state": "open",
                "title": data["title"],
                "body": data.get("body"),
                "head": data["head"],
                "base": data["base"],
                "draft": bool(data.get("draft")),
                "labels": [],
                "reviewers": [],
                "sha": heads[data["head"]],
            }
            prs.append(pr)
            return self._json(201, self._pr_json(full, pr))
        if match2 := re.fullmatch(r"/(pulls|issues)/(\d+)(/.*)?", rest):
            prs = {p["number"]: p for p in self.pulls.get(full, [])}
            pr = prs.get(int(match2[2]))
            if pr is None:
                return self._error(404, "Not Found")
            sub = match2[3] or ""
            if m == "PATCH" and sub == "":
                data = self._body(request)
                pr.update({k: v for k, v in data.items() if k in ("title", "body", "state")})
                return self._json(200, self._pr_json(full, pr))
            if m == "GET" and sub == "":
                return self._json(200, self._pr_json(full, pr))
            if m == "POST" and sub == "/labels":
                data = self._body(request)
                names = data.get("labels", data) if isinstance(data, dict) else data
                for n in names:
                    if n not in pr["labels"]:
                        pr["labels"].append(n)
                return self._json(200, [self._label_json(n) for n in pr["labels"]])
            if m == "POST" and sub == "/requested_reviewers":
                pr["reviewers"] += self._body(request).get("reviewers", [])
                return self._json(201, self._pr_json(full, pr))
        if m == "GET" and (mt := re.fullmatch(r"/releases/tags/(.+)", rest)):
            for rel in self.releases.get(full, []):
                if rel["tag_name"] == mt[1]:
                    return self._json(200, self._release_json(full, rel))
            return self._error(404, "Not Found")
        if m == "POST" and rest == "/releases":
            data = self._body(request)
            if not self.git_server.heads(full):
                return self._json(
                    422,
                    {
                        "message": "Repository is empty.",
                        "documentation_url": "https://docs.github.com",
                    },
                )
            rel = {
                "id": self._next_id(),
                "tag_name": data["tag_name"],
                "name": data.get("name"),
                "body": data.get("body"),
                "target_commitish": data.get("target_commitish"),
            }
            self.releases.setdefault(full, []).append(rel)
            return self._json(201, self._release_json(full, rel))
        if mt := re.fullmatch(r"/releases/(\d+)/assets", rest):
            rid = int(mt[1])
            rel = next((r for r in self.releases.get(full, []) if r["id"] == rid), None)
            if rel is None:
                return self._error(404, "Not Found")
            if m == "GET":
                return self._paged(
                    request, [self._asset_json(full, a) for a in self.assets.get(rid, [])]
                )
            if m == "POST":
                import hashlib

                name = parse_qs(urlsplit(request.url).query)["name"][0]
                if any(a["name"] == name for a in self.assets.get(rid, [])):
                    return self._json(
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [
                                {
                                    "resource": "ReleaseAsset",
                                    "code": "already_exists",
                                    "field": "name",
                                }
                            ],
                        },
                    )
                digest, size = hashlib.sha256(), 0
                stream = request.body
                if hasattr(stream, "read"):
                    while block := stream.read(1 << 20):
                        digest.update(block)
                        size += len(block)
                else:
                    digest.update(stream or b"")
                    size = len(stream or b"")
                asset = {
                    "id": self._next_id(),
                    "name": name,
                    "size": size,
                    "sha256": digest.hexdigest(),
                    "tag": rel["tag_name"],
                }
                self.assets.setdefault(rid, []).append(asset)
                return self._json(201, self._asset_json(full, asset))
        if m == "DELETE" and (mt := re.fullmatch(r"/releases/assets/(\d+)", rest)):
            for items in self.assets.values():
                items[:] = [a for a in items if a["id"] != int(mt[1])]
            return 204, self._headers(), ""
        return self._error(404, "Not Found")
