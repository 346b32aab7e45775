"""A bare git repository on this machine (or a mounted share) as the push target.

No API and no credentials. Pull requests and releases have no forge to live in, so they are
kept as plain files beside the refs, in ``<repo>.git/gitexport/``:
``pull-requests.json`` (one record per export branch: the open "PR" a reviewer merges by
hand) and ``releases/<tag>/<file>``. LFS objects go to the bare repo's own ``lfs/objects``
through git-lfs's file transfer.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gitexport import gitcmd
from gitexport.errors import UserError
from gitexport.git_remote import Credentials

from .base import LABEL, Artifact, PullRequest, RepoRef, RepoSpec, sha256_file


class LocalProvider:
    name = "local"

    def __init__(self, path: Path | str):
        self.path = Path(path).expanduser().absolute()

    # -- repository --------------------------------------------------------------------

    def ensure_repo(self, spec: RepoSpec) -> RepoRef:
        created = False
        if self.path.exists():
            if not self.path.is_dir():
                raise UserError(f"{self.path} exists and is not a directory")
            if not self._is_bare():
                if any(self.path.iterdir()):
                    raise UserError(f"{self.path} exists and is not a bare git repository")
                self._init()
                created = True
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._init()
            created = True
        if spec.description and created:
            (self.path / "description").write_text(spec.description.strip() + "\n")
        return self._ref(created)

    def find_repo(self, spec: RepoSpec) -> RepoRef | None:
        return self._ref(False) if self.path.is_dir() and self._is_bare() else None

    def _ref(self, created: bool) -> RepoRef:
        head = self._git("symbolic-ref", "--short", "HEAD", check=False)
        return RepoRef(
            owner=self.path.parent.name or "local",
            name=self.path.name.removesuffix(".git"),
            clone_url=self.path.as_uri(),
            web_url=self.path.as_uri(),
            default_branch=(head or "").strip() or None,
            created=created,
            id=str(self.path),
        )

    def _is_bare(self) -> bool:
        out = self._git("rev-parse", "--is-bare-repository", check=False)
        return (out or "").strip() == "true" and (self.path / "HEAD").exists()

    def _init(self) -> None:
        try:
            gitcmd.run(["init", "--bare", "-q", "-b", "main", str(self.path)], timeout=60)
        except gitcmd.GitCommandError as exc:
            raise UserError(f"could not create {self.path}: {exc.stderr.strip()}") from None

    def _git(self, *args: str, check: bool = True) -> str | None:
        try:
            out = gitcmd.run(["--git-dir", str(self.path), *args], timeout=60)[1]
        except gitcmd.GitCommandError as exc:
            if check:
                raise UserError(
                    f"git {' '.join(args)} failed in {self.path}: {exc.stderr.strip()}"
                ) from None
            return None
        return out.decode("utf-8", "replace")

    def git_credentials(self) -> Credentials | None:
        return None

    def set_default_branch(self, repo: RepoRef, branch: str) -> None:
        self._git("symbolic-ref", "HEAD", f"refs/heads/{branch}")

    # -- "pull requests" ---------------------------------------------------------------

    @property
    def _state_dir(self) -> Path:
        return self.path / "gitexport"

    def _load_prs(self) -> list[dict]:
        file = self._state_dir / "pull-requests.json"
        return json.loads(file.read_text()) if file.exists() else []

    def _save_prs(self, prs: list[dict]) -> None:
        self._state_dir.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._state_dir, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(prs, fh, indent=2)
        os.replace(tmp, self._state_dir / "pull-requests.json")

    def _pr(self, record: dict, *, created: bool, updated: bool = False) -> PullRequest:
        url = f"{self.path.as_uri()}#pr-{record['number']}"
        return PullRequest(record["number"], url, created=created, updated=updated)

    def find_open_pr(self, repo: RepoRef, head: str, base: str) -> PullRequest | None:
        for record in self._load_prs():
            if record["head"] == head and record["base"] == base and record["state"] == "open":
                return self._pr(record, created=False)
        return None

    def open_or_update_pr(
        self,
        repo: RepoRef,
        head: str,
        base: str,
        title: str,
        body: str,
        *,
        draft: bool = False,
        labels: Sequence[str] = (LABEL,),
        reviewers: Sequence[str] = (),
    ) -> PullRequest:
        prs = self._load_prs()
        for record in prs:
            if record["head"] == head and record["base"] == base and record["state"] == "open":
                changed = (record["title"], record["body"]) != (title, body)
                record.update(title=title, body=body)
                self._save_prs(prs)
                return self._pr(record, created=False, updated=changed)
        record = {
            "number": len(prs) + 1,
            "head": head,
            "base": base,
            "title": title,
            "body": body,
            "draft": draft,
            "labels": list(labels),
            "reviewers": list(reviewers),
            "state": "open",
        }
        prs.append(record)
        self._save_prs(prs)
        return self._pr(record, created=True)

    # -- releases ----------------------------------------------------------------------

    def release_asset_url(self, repo: RepoRef, tag: str, filename: str) -> str:
        return (self._state_dir / "releases" / tag / filename).as_uri()

    def release_assets(self, repo: RepoRef, tag: str) -> dict[str, str] | None:
        if not self._git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}", check=False):
            return None
        folder = self._state_dir / "releases" / tag
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        return {
            f.name: f"sha256:{sha256_file(f)[0]}"
            for f in files
            if f.is_file() and not f.name.endswith(".part")
        }

    def upload_release(
        self,
        repo: RepoRef,
        tag: str,
        name: str,
        files: Sequence[Path],
        *,
        target: str,
        body: str = "",
    ) -> list[Artifact]:
        self._git("tag", "-f", "-a", "-m", name, tag, target)
        out_dir = self._state_dir / "releases" / tag
        out_dir.mkdir(parents=True, exist_ok=True)
        artifacts = []
        for path in files:
            path = Path(path)
            dest = out_dir / path.name
            tmp = dest.with_name(dest.name + ".part")
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, dest)
            sha, size = sha256_file(dest)
            artifacts.append(Artifact(path.name, dest.as_uri(), sha, size))
        return artifacts
