"""A stateful fake of the GitLab REST API v4 on top of ``responses``.

Payloads follow GitLab's documented shapes (user, project, namespace, merge request,
release, release link, generic package upload), with ``RateLimit-*`` and ``X-Page``/``Link``
pagination headers. Projects it creates are real bare repos on the local git server, whose
URL it answers as ``http_url_to_repo``.

Faults: ``fail(method, path_regex, status, times=1, headers=None, after=False)`` (paths are
matched decoded, below ``/api/v4``).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import responses

USER = {
    "id": 1,
    "username": "tanuki",
    "name": "Tanuki",
    "state": "active",
    "avatar_url": None,
    "web_url": "https://gitlab.example.com/tanuki",
}


@dataclass
class FakeGitLab:
    git_server: object
    base: str = "https://gitlab.example.com"
    token: str | None = None
    projects: dict = field(default_factory=dict)  # id -> project json
    groups: dict = field(default_factory=lambda: {"acme": 9, "acme/ml": 10})
    mrs: dict = field(default_factory=dict)  # project id -> list
    packages: list = field(default_factory=list)  # package files, in upload order
    package_ids: dict = field(default_factory=dict)  # (pid, name, version) -> package id
    releases: dict = field(default_factory=dict)  # (pid, tag) -> release
    calls: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    users: dict = field(default_factory=lambda: {"alice": 5})
    _ids: int = 100

    def install(self, rsps: responses.RequestsMock) -> FakeGitLab:
        pattern = re.compile(re.escape(self.base) + r"(:\d+)?/api/v4/.*")
        for method in (responses.GET, responses.POST, responses.PUT, responses.DELETE):
            rsps.add_callback(method, pattern, self._dispatch)
        rsps.add_passthru("http://127.0.0.1")
        return self

    def fail(self, method, path_regex, status, *, times=1, headers=None, after=False):
        self.faults.append([method, re.compile(path_regex), status, times, headers or {}, after])

    def count(self, method, path_regex):
        pattern = re.compile(path_regex)
        return sum(1 for m, p, *_ in self.calls if m == method and pattern.fullmatch(p))

    def project_by_path(self, path):
        return next((p for p in self.projects.values() if p["path_with_namespace"] == path), None)

    # -- payloads ----------------------------------------------------------------------

    def _project_json(self, pid, namespace, name, kind, visibility, description):
        full = f"{namespace}/{name}"
        return {
            "id": pid,
            "description": description,
            "name": name,
            "name_with_namespace": f"{namespace} / {name}",
            "path": name,
            "path_with_namespace": full,
            "created_at": "2026-11-20T10:00:00.000Z",
            "default_branch": None,
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"git@gitlab.example.com:{full}.git",
            "http_url_to_repo": self.git_server.url(full),
            "web_url": f"{self.base}/{full}",
            "readme_url": None,
            "visibility": visibility,
            "empty_repo": True,
            "archived": False,
            "namespace": {
                "id": self.groups.get(namespace, 1),
                "name": namespace,
                "path": namespace.split("/")[-1],
                "kind": kind,
                "full_path": namespace,
            },
            "permissions": {"project_access": {"access_level": 40}, "group_access": None},
        }

    def _mr_json(self, pid, mr):
        full = self.projects[pid]["path_with_namespace"]
        return {
            "id": mr["id"],
            "iid": mr["iid"],
            "project_id": pid,
            "title": mr["title"],
            "description": mr["description"],
            "state": mr["state"],
            "created_at": "2026-11-20T10:00:00.000Z",
            "updated_at": "2026-11-20T10:00:00.000Z",
            "target_branch": mr["target_branch"],
            "source_branch": mr["source_branch"],
            "author": dict(USER),
            "labels": mr["labels"],
            "draft": mr["title"].startswith("Draft:"),
            "work_in_progress": mr["title"].startswith("Draft:"),
            "reviewers": [
                {"id": i, "username": n} for n, i in self.users.items() if i in mr["reviewer_ids"]
            ],
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable",
            "sha": mr["sha"],
            "web_url": f"{self.base}/{full}/-/merge_requests/{mr['iid']}",
            "references": {"short": f"!{mr['iid']}"},
        }

    # -- transport ---------------------------------------------------------------------

    def _headers(self, extra=None):
        headers = {
            "Content-Type": "application/json",
            "RateLimit-Limit": "2000",
            "RateLimit-Remaining": "1999",
            "RateLimit-Observed": "1",
            "RateLimit-Reset": str(int(time.time()) + 60),
            "X-Request-Id": "01JFAKE",
        }
        headers.update(extra or {})
        return headers

    def _json(self, status, payload, extra=None):
        return status, self._headers(extra), json.dumps(payload)

    def _list(self, request, items):
        query = parse_qs(urlsplit(request.url).query)
        per_page = int(query.get("per_page", ["20"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        pages = max((len(items) + per_page - 1) // per_page, 1)
        extra = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
        }
        base = request.url.split("?")[0]
        links = [
            f'<{base}?page=1&per_page={per_page}>; rel="first"',
            f'<{base}?page={pages}&per_page={per_page}>; rel="last"',
        ]
        if page < pages:
            links.insert(0, f'<{base}?page={page + 1}&per_page={per_page}>; rel="next"')
        extra["Link"] = ", ".join(links)
        return self._json(200, chunk, extra)

    def _dispatch(self, request):
        parts = urlsplit(request.url)
        raw = parts.path.split("/api/v4", 1)[1]
        segments = [unquote(s) for s in raw.split("/")[1:]]
        path = "/" + "/".join(segments)
        self.calls.append((request.method, path, parts.query))
        if self.token is not None and request.headers.get("PRIVATE-TOKEN") != self.token:
            return self._json(401, {"message": "401 Unauthorized"})
        for fault in self.faults:
            method, pattern, status, times, headers, after = fault
            if times > 0 and method == request.method and pattern.fullmatch(path):
                fault[3] -= 1
                if after:
                    self._route(request, segments)
                return self._json(status, {"message": f"{status} error"}, headers)
        return self._route(request, segments)

    def _data(self, request):
        body = request.body
        if isinstance(body, bytes):
            body = body.decode()
        if not body:
            return {}
        try:
            return json.loads(body)
        except ValueError:
            return {k: v[0] for k, v in parse_qs(body).items()}

    def _route(self, request, seg):
        m = request.method
        if seg == ["user"] and m == "GET":
            return self._json(200, dict(USER, email="tanuki@example.com"))
        if seg == ["users"] and m == "GET":
            name = parse_qs(urlsplit(request.url).query).get("username", [""])[0]
            found = (
                [{"id": self.users[name], "username": name, "state": "active"}]
                if name in self.users
                else []
            )
            return self._list(request, found)
        if seg[:1] == ["namespaces"] and m == "GET":
            path = "/".join(seg[1:])
            if path not in self.groups:
                return self._json(404, {"message": "404 Namespace Not Found"})
            return self._json(
                200,
                {
                    "id": self.groups[path],
                    "name": path.split("/")[-1],
                    "path": path.split("/")[-1],
                    "kind": "group",
                    "full_path": path,
                },
            )
        if seg == ["projects"] and m == "POST":
            data = self._data(request)
            ns_id = data.get("namespace_id")
            namespace = (
                next((g for g, i in self.groups.items() if i == int(ns_id)), None)
                if ns_id
                else USER["username"]
            )
            full = f"{namespace}/{data['path']}"
            if self.project_by_path(full):
                return self._json(
                    400,
                    {
                        "message": {
                            "name": ["has already been taken"],
                            "path": ["has already been taken"],
                        }
                    },
                )
            self._ids += 1
            self.git_server.create_repo(full)
            kind = "group" if ns_id else "user"
            self.projects[self._ids] = self._project_json(
                self._ids,
                namespace,
                data["path"],
                kind,
                data.get("visibility", "private"),
                data.get("description", ""),
            )
            return self._json(201, self.projects[self._ids])
        if seg[:1] != ["projects"] or len(seg) < 2:
            return self._json(404, {"message": "404 Not Found"})
        ident = seg[1]
        project = self.projects.get(int(ident)) if ident.isdigit() else self.project_by_path(ident)
        if project is None:
            return self._json(404, {"message": "404 Project Not Found"})
        pid, rest = project["id"], seg[2:]
        full = project["path_with_namespace"]
        if not rest and m == "GET":
            project["empty_repo"] = not self.git_server.heads(full)
            return self._json(200, project)
        if not rest and m == "PUT":
            project.update({k: v for k, v in self._data(request).items() if k in project})
            return self._json(200, project)
        if rest == ["merge_requests"] and m == "GET":
            q = parse_qs(urlsplit(request.url).query)
            items = [
                mr
                for mr in self.mrs.get(pid, [])
                if q.get("state", ["all"])[0] in ("all", mr["state"])
                and q.get("source_branch", [mr["source_branch"]])[0] == mr["source_branch"]
                and q.get("target_branch", [mr["target_branch"]])[0] == mr["target_branch"]
            ]
            return self._list(request, [self._mr_json(pid, mr) for mr in items])
        if rest == ["merge_requests"] and m == "POST":
            data = self._data(request)
            heads = self.git_server.heads(full)
            if data["source_branch"] not in heads:
                return self._json(400, {"message": ["Source branch does not exist"]})
            for mr in self.mrs.get(pid, []):
                if mr["state"] == "opened" and mr["source_branch"] == data["source_branch"]:
                    text = "Another open merge request already exists for this source branch: !1"
                    return self._json(409, {"message": [text]})
            mrs = self.mrs.setdefault(pid, [])
            labels = data.get("labels") or ""
            mr = {
                "id": 5000 + len(mrs),
                "iid": len(mrs) + 1,
                "title": data["title"],
                "description": data.get("description"),
                "state": "opened",
                "source_branch": data["source_branch"],
                "target_branch": data["target_branch"],
                "labels": labels.split(",") if isinstance(labels, str) and labels else list(labels),
                "reviewer_ids": data.get("reviewer_ids") or [],
                "sha": heads[data["source_branch"]],
            }
            mrs.append(mr)
            return self._json(201, self._mr_json(pid, mr))
        if len(rest) == 2 and rest[0] == "merge_requests" and m in ("PUT", "GET"):
            mr = next((x for x in self.mrs.get(pid, []) if x["iid"] == int(rest[1])), None)
            if mr is None:
                return self._json(404, {"message": "404 Not found"})
            if m == "PUT":
                data = self._data(request)
                for key in ("title", "description", "state_event"):
                    if key in data:
                        mr[key] = data[key]
                if "labels" in data:
                    labels = data["labels"]
                    mr["labels"] = labels.split(",") if isinstance(labels, str) else labels
            return self._json(200, self._mr_json(pid, mr))
        if rest[:2] == ["packages", "generic"] and m == "PUT" and len(rest) == 5:
            digest, size = hashlib.sha256(), 0
            body = request.body
            if hasattr(body, "read"):
                while block := body.read(1 << 20):
                    digest.update(block)
                    size += len(block)
            else:
                body = body or b""
                digest.update(body)
                size = len(body)
            # One package per (name, version); each upload adds a file to it (GitLab keeps
            # same-named files, and a download serves the newest).
            key = (pid, rest[2], rest[3])
            if key not in self.package_ids:
                self._ids += 1
                self.package_ids[key] = self._ids
            self._ids += 1
            record = {
                "id": self._ids,
                "package_id": self.package_ids[key],
                "file_name": rest[4],
                "size": size,
                "file_sha256": digest.hexdigest(),
                "file_md5": None,
                "created_at": "2026-11-20T10:00:00.000Z",
                "package": rest[2],
                "version": rest[3],
                "project_id": pid,
            }
            self.packages.append(record)
            return self._json(201, self._package_file_json(record))
        if rest == ["packages"] and m == "GET":
            # GET /projects/:id/packages: package_name is a fuzzy (substring) filter there.
            query = parse_qs(urlsplit(request.url).query)
            name = query.get("package_name", [""])[0]
            version = query.get("package_version", [None])[0]
            kind = query.get("package_type", [None])[0]
            found = [
                {
                    "id": package_id,
                    "name": package,
                    "version": v,
                    "package_type": "generic",
                    "status": "default",
                    "created_at": "2026-11-20T10:00:00.000Z",
                }
                for (p_id, package, v), package_id in sorted(self.package_ids.items())
                if p_id == pid
                and name in package
                and version in (None, v)
                and kind in (None, "generic")
            ]
            return self._list(request, found)
        if len(rest) == 3 and rest[0] == "packages" and rest[2] == "package_files" and m == "GET":
            files = [
                self._package_file_json(r)
                for r in self.packages
                if r["project_id"] == pid and r["package_id"] == int(rest[1])
            ]
            return self._list(request, files)
        if rest[:1] == ["releases"]:
            if m == "POST" and len(rest) == 1:
                data = self._data(request)
                if not self.git_server.heads(full):
                    return self._json(422, {"message": "Ref is not specified"})
                rel = {
                    "tag_name": data["tag_name"],
                    "name": data.get("name"),
                    "description": data.get("description"),
                    "ref": data.get("ref"),
                    "links": [],
                }
                self.releases[(pid, data["tag_name"])] = rel
                return self._json(201, self._release_json(full, rel))
            tag = rest[1] if len(rest) > 1 else None
            rel = self.releases.get((pid, tag))
            if rel is None:
                return self._json(404, {"message": "404 Not Found"})
            if len(rest) == 2 and m == "GET":
                return self._json(200, self._release_json(full, rel))
            if rest[2:] == ["assets", "links"] and m == "GET":
                return self._list(request, rel["links"])
            if rest[2:] == ["assets", "links"] and m == "POST":
                data = self._data(request)
                self._ids += 1
                link = {
                    "id": self._ids,
                    "name": data["name"],
                    "url": data["url"],
                    "direct_asset_url": data["url"],
                    "link_type": data.get("link_type", "other"),
                }
                rel["links"].append(link)
                return self._json(201, link)
            if len(rest) == 5 and rest[2:4] == ["assets", "links"] and m == "DELETE":
                rel["links"] = [lk for lk in rel["links"] if lk["id"] != int(rest[4])]
                return self._json(200, {})
        return self._json(404, {"message": "404 Not Found"})

    @staticmethod
    def _package_file_json(record):
        return {k: v for k, v in record.items() if k not in ("package", "version", "project_id")}

    def _release_json(self, full, rel):
        return {
            "tag_name": rel["tag_name"],
            "name": rel["name"],
            "description": rel["description"],
            "created_at": "2026-11-20T10:00:00.000Z",
            "released_at": "2026-11-20T10:00:00.000Z",
            "author": dict(USER),
            "commit": {"id": rel["ref"]},
            "upcoming_release": False,
            "assets": {"count": len(rel["links"]), "sources": [], "links": rel["links"]},
            "_links": {"self": f"{self.base}/{full}/-/releases/{rel['tag_name']}"},
        }
