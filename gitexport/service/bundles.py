"""A checked bundle as stored in the job store, and the bundle root inside an upload.

The API unpacks an upload once, through :func:`gitexport.service.uploads.extract_bundle` (the
hostile-archive checks), then stores the *checked* folder re-packed by :func:`pack`: a plain
tar.gz of regular files only, which any worker on any machine unpacks with :func:`unpack`
(tarfile's ``data`` filter as a second guard).
"""

from __future__ import annotations

import gzip
import hashlib
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


def _files(folder: Path) -> list[Path]:
    return [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.is_symlink()]


def digest(folder: Path) -> str:
    """SHA-256 of the bundle's content (names and bytes), whatever archive carried it: two
    uploads of the same bundle are the same body for ``Idempotency-Key``."""
    h = hashlib.sha256()
    for path in _files(folder):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def pack(folder: Path) -> bytes:
    """The folder as a byte-deterministic tar.gz of its regular files."""
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in _files(folder):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    return buf.getvalue()


def unpack(data: bytes, dest: Path) -> Path:
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest
