"""A checked bundle as stored in the job store, and the bundle root inside an upload.

The API unpacks an upload once, through :func:`gitexport.service.uploads.extract_bundle` (the
hostile-archive checks), then stores the *checked* folder re-packed by :func:`pack`: a plain
tar.gz of regular files only, which any worker on any machine unpacks with :func:`unpack`
(tarfile's ``data`` filter as a second guard).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from gitexport.errors import DocumentError


def bundle_root(folder: Path) -> Path:
    """The folder holding ``pipeline.json``: the upload's top, or its one top-level folder."""
    folder = Path(folder)
    if (folder / "pipeline.json").is_file():
        return folder
    children = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(children) == 1 and (children[0] / "pipeline.json").is_file():
        return children[0]
    raise DocumentError("the bundle holds no pipeline.json (at its top or in one top-level folder)")


def pack(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and not path.is_symlink():
                info = tar.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
    return buf.getvalue()


def unpack(data: bytes, dest: Path) -> Path:
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest
