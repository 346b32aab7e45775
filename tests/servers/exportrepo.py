"""Build local repositories shaped like gitexport's output, with plain git commands.

``main`` holds the first export; later exports are commits on ``gitexport/<id>``. Every
commit carries ``Pipeline-Id:``, ``Pipeline-Version:`` and ``Export-Tree:`` trailers, and the
model file ``models/trained/model.joblib`` is stored with Git LFS (``.gitattributes``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "gitexport",
    "GIT_AUTHOR_EMAIL": "gitexport@localhost",
    "GIT_COMMITTER_NAME": "gitexport",
    "GIT_COMMITTER_EMAIL": "gitexport@localhost",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str, env: dict | None = None) -> str:
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {args} failed: {proc.stderr}")
    return proc.stdout.strip()


class ExportRepo:
    def __init__(self, path: Path, pipeline_id: str = "churn-model", model_size: int = 4096):
        self.path = Path(path)
        self.pipeline_id = pipeline_id
        self.model_size = model_size
        self.version = 0
        self.path.mkdir(parents=True, exist_ok=True)
        git(self.path, "init", "-q", "-b", "main")
        git(self.path, "lfs", "install", "--local")
        (self.path / ".gitattributes").write_text(
            "models/trained/** filter=lfs diff=lfs merge=lfs -text\n"
        )

    @property
    def branch(self) -> str:
        from gitexport.providers.base import export_branch

        return export_branch(self.pipeline_id)

    def export(self, note: str = "") -> str:
        """Commit the next export: on main the first time, then on the export branch."""
        self.version += 1
        if self.version > 1:
            current = git(self.path, "branch", "--show-current")
            if current != self.branch:
                exists = git(self.path, "branch", "--list", self.branch)
                git(self.path, "checkout", "-q", *(() if exists else ("-b",)), self.branch)
        (self.path / "README.md").write_text(
            f"# {self.pipeline_id}\n\nversion {self.version}\n{note}\n"
        )
        model = self.path / "models" / "trained" / "model.joblib"
        model.parent.mkdir(parents=True, exist_ok=True)
        seed = f"{self.pipeline_id}:{self.version}".encode()
        blocks, out = (self.model_size // 32) + 1, bytearray()
        for i in range(blocks):
            out += hashlib.sha256(seed + i.to_bytes(8, "big")).digest()
        model.write_bytes(bytes(out[: self.model_size]))
        git(self.path, "add", "-A")
        # Export-Tree: the tree written, as gitexport records it (an amend does not keep it).
        tree = git(self.path, "write-tree")
        msg = (
            f"Export {self.pipeline_id} v{self.version}\n\n"
            f"Pipeline-Id: {self.pipeline_id}\nPipeline-Version: {self.version}\n"
            f"Export-Tree: {tree}\n"
        )
        git(self.path, "commit", "-q", "-m", msg)
        return self.head()

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def model_oid(self) -> str:
        data = (self.path / "models" / "trained" / "model.joblib").read_bytes()
        return hashlib.sha256(data).hexdigest()
