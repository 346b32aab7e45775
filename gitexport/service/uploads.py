"""Unpack an uploaded bundle (ZIP or .tar.gz) without trusting anything in it.

:func:`extract_bundle` copies the upload to a private temporary folder in chunks (stopping at
the compressed-size limit), recognises the format by its magic bytes (never by a file name),
reads the whole list of entries and refuses the archive before writing a single file when a
name or entry type is unsafe (absolute, ``..``, drive letter, backslash, control character,
link, device, FIFO, duplicate, a file that is also a folder) or when there are too many
entries or their declared sizes add up to too much. Only then does it extract, counting the
bytes actually produced (headers can lie: a zip bomb's do) and stopping at the
uncompressed-size limit, so memory stays at one chunk and disk at the limit. Everything
happens in a fresh temporary folder beside ``dest`` that is removed on any failure; ``dest``
appears only complete.

A .tar.gz is first decompressed to a temporary .tar, counted against the same limit (plus
room for tar's own headers): listing a tar's members means reading all of it, and a gzip bomb
must not get to expand fully first.

The errors are :class:`gitexport.errors.DocumentError`\\ s (an upload is part of the bundle the
user sends, like its ``pipeline.json``; code ``invalid_document``), one problem each, whose
``where`` is the entry's name, escaped so that no control character or terminal escape in a
hostile name reaches a log or a page: :class:`UploadTooLarge` (the service answers 413) and
:class:`BadArchive` (422).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gitexport.errors import DocumentError, Problem
from gitexport.service.config import UploadLimits

__all__ = ["BadArchive", "UploadLimits", "UploadRejected", "UploadTooLarge", "extract_bundle"]

CHUNK = 64 * 1024
#: Longest entry name (characters) and path component (bytes, the usual file system limit).
MAX_NAME_CHARS = 1024
MAX_COMPONENT_BYTES = 255
#: Tar's own bytes per entry (header, long-name or pax header, padding) allowed on top of the
#: uncompressed limit while decompressing a .tar.gz, and its end-of-archive padding.
_TAR_OVERHEAD_PER_ENTRY = 4 * 512
_TAR_OVERHEAD_FIXED = 2 * 10240
#: ZIP compression methods accepted: what every ZIP tool writes. bzip2 and LZMA are refused
#: (an LZMA header may ask for a dictionary of gigabytes before a byte is produced).
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
#: Finder's resource-fork folder and folder-view files: dropped, never extracted.
_IGNORED_TOP = "__MACOSX"
_IGNORED_NAMES = {".DS_Store"}
_DRIVE = re.compile(r"^[A-Za-z]:")


class UploadRejected(DocumentError):
    """An uploaded bundle archive was refused; ``where`` names the entry (or ``upload``)."""

    def __init__(self, message: str, entry: str | None = None):
        self.entry = entry
        super().__init__(
            Problem(f"entry {shown_name(entry)}" if entry is not None else "upload", message)
        )

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "message": str(self),
            "problems": [p.to_dict() for p in self.problems],
        }


class UploadTooLarge(UploadRejected):
    """Beyond a size or entry-count limit (HTTP 413)."""


class BadArchive(UploadRejected):
    """Not an archive, corrupt, or holding something unsafe (HTTP 422)."""


def shown_name(name: str) -> str:
    """A name quoted for messages: non-printable characters escaped, long ones cut."""
    if len(name) > 200:
        name = name[:200] + "…"
    out = []
    for ch in name:
        if ch in "'\\":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "'" + "".join(out) + "'"


@dataclass(frozen=True)
class _Entry:
    name: str  # as in the archive, for messages
    parts: tuple[str, ...]
    is_dir: bool
    size: int  # as declared by the archive: checked, never trusted
    ref: object  # the format's own handle (ZipInfo, TarInfo)


class _Budget:
    """Bytes actually produced so far, against a limit."""

    def __init__(self, limit: int, what: str):
        self.limit, self.used, self.what = limit, 0, what

    def take(self, n: int, entry: str | None) -> None:
        self.used += n
        if self.used > self.limit:
            raise UploadTooLarge(f"{self.what} more than {self.limit} bytes", entry)


def extract_bundle(upload: BinaryIO, dest: Path, limits: UploadLimits | None = None) -> Path:
    """Unpack ``upload`` (a ZIP or .tar.gz) into ``dest``; the folder holding pipeline.json.

    ``dest`` must not exist (or be an empty folder); its parent is created. The result is
    ``dest`` itself or ``dest/<top folder>`` when the archive wraps the bundle in one folder.
    Raises :class:`UploadTooLarge` or :class:`BadArchive`; then nothing is left behind.
    """
    limits = limits or UploadLimits()
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Beside dest, so that the final rename stays on one file system; mkdtemp makes it 0700.
    work = Path(tempfile.mkdtemp(prefix=".upload-", dir=dest.parent))
    try:
        spool = work / "upload"
        _spool(upload, spool, limits.max_compressed_bytes)
        tree = work / "tree"
        tree.mkdir()
        with spool.open("rb") as f:
            magic = f.read(4)
        if magic == b"PK\x03\x04":
            root = _extract_zip(spool, tree, limits)
        elif magic[:2] == b"\x1f\x8b":
            root = _extract_tar_gz(spool, work / "upload.tar", tree, limits)
        elif magic == b"PK\x05\x06":
            raise BadArchive("the ZIP archive is empty")
        else:
            raise BadArchive("the upload is neither a ZIP nor a .tar.gz archive")
        if dest.exists():
            dest.rmdir()
        tree.rename(dest)
        return dest.joinpath(*root)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _spool(upload: BinaryIO, target: Path, limit: int) -> None:
    budget = _Budget(limit, "the upload is")
    with target.open("xb") as out:
        while chunk := upload.read(CHUNK):
            budget.take(len(chunk), None)
            out.write(chunk)


# --- names and the list of entries -------------------------------------------------------


def _name_parts(name: str) -> tuple[str, ...]:
    """The path components of an entry name, or BadArchive saying what is unsafe about it."""

    def bad(why: str) -> BadArchive:
        return BadArchive(why, name)

    if not name:
        raise bad("has an empty name")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise bad("has a control character in its name")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise bad("has a name that is not valid UTF-8") from None
    if "\\" in name:
        raise bad("has a backslash in its name (a Windows path?)")
    if name.startswith("/"):
        raise bad("is an absolute path")
    if _DRIVE.match(name):
        raise bad("starts with a drive letter")
    if len(name) > MAX_NAME_CHARS:
        raise bad(f"has a name longer than {MAX_NAME_CHARS} characters")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise bad("points outside the archive ('..')")
    if any(len(p.encode("utf-8")) > MAX_COMPONENT_BYTES for p in parts):
        raise bad(f"has a path component longer than {MAX_COMPONENT_BYTES} bytes")
    return parts


def _check_entries(entries: list[_Entry], limits: UploadLimits) -> tuple[list[_Entry], tuple]:
    """Refuse duplicates, file/folder clashes and oversize declarations; find pipeline.json.

    Returns the entries to extract (the archive's own root entry and Finder's files dropped)
    and the path of the folder holding pipeline.json.
    """
    kinds: dict[tuple[str, ...], str] = {}
    explicit: set[tuple[str, ...]] = set()
    declared = 0
    kept = []
    for entry in entries:
        parts = entry.parts
        if not parts:  # "." or "./": the archive's root itself
            continue
        for i in range(1, len(parts)):
            if kinds.setdefault(parts[:i], "dir") == "file":
                raise BadArchive(f"is inside {shown_name('/'.join(parts[:i]))}, a file", entry.name)
        kind = "dir" if entry.is_dir else "file"
        if parts in explicit:
            raise BadArchive("is a duplicate entry", entry.name)
        if kinds.get(parts, kind) != kind:
            raise BadArchive("is both a file and a folder", entry.name)
        kinds[parts] = kind
        explicit.add(parts)
        if not entry.is_dir:
            declared += entry.size
            if declared > limits.max_uncompressed_bytes:
                raise UploadTooLarge(
                    f"takes the archive's declared size beyond {limits.max_uncompressed_bytes} bytes",
                    entry.name,
                )
        if parts[0] == _IGNORED_TOP or parts[-1] in _IGNORED_NAMES:
            continue
        kept.append(entry)
    files = {e.parts for e in kept if not e.is_dir}
    if ("pipeline.json",) in files:
        return kept, ()
    tops = {e.parts[0] for e in kept}
    if len(tops) == 1:
        (top,) = tops
        if (top, "pipeline.json") in files:
            return kept, (top,)
    raise BadArchive("the archive holds no pipeline.json, at its root or in its single top folder")


def _count(entries: Iterable, limits: UploadLimits) -> list:
    out = []
    for item in entries:
        out.append(item)
        if len(out) > limits.max_entries:
            raise UploadTooLarge(f"the archive has more than {limits.max_entries} entries")
    return out


def _write_file(tree: Path, entry: _Entry, read: Callable[[int], bytes], budget: _Budget) -> None:
    target = tree.joinpath(*entry.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL | O_NOFOLLOW: belt and braces, the tree is fresh and holds no links anyway.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        while chunk := read(CHUNK):
            budget.take(len(chunk), entry.name)
            out.write(chunk)


# --- ZIP ---------------------------------------------------------------------------------

_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError)


def _extract_zip(spool: Path, tree: Path, limits: UploadLimits) -> tuple:
    with spool.open("rb") as f:
        _check_zip_directory_size(f, limits)
        try:
            zf = zipfile.ZipFile(f)
        except _ZIP_ERRORS:
            raise BadArchive("the ZIP archive is corrupt or truncated") from None
        with zf:
            infos = _count(zf.infolist(), limits)
            entries = [_zip_entry(info) for info in infos]
            kept, root = _check_entries(entries, limits)
            budget = _Budget(limits.max_uncompressed_bytes, "the archive unpacks to")
            for entry in kept:
                if entry.is_dir:
                    tree.joinpath(*entry.parts).mkdir(parents=True, exist_ok=True)
                    continue
                try:
                    src = zf.open(entry.ref)
                except _ZIP_ERRORS:
                    raise BadArchive("cannot be read (corrupt entry header)", entry.name) from None
                with src:
                    _write_file(tree, entry, _guarded(src.read, entry.name, _ZIP_ERRORS), budget)
    return root


def _zip_entry(info: zipfile.ZipInfo) -> _Entry:
    # orig_filename: zipfile cuts `filename` at a NUL byte, hiding what the archive says.
    name = info.orig_filename
    parts = _name_parts(name)
    if info.flag_bits & 0x1:
        raise BadArchive("is encrypted", name)
    if info.compress_type not in _ZIP_METHODS:
        raise BadArchive(
            f"uses compression method {info.compress_type} (accepted: stored, deflated)", name
        )
    mode = info.external_attr >> 16  # the Unix mode, when the archiver recorded one
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise BadArchive("is a symbolic link", name)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise BadArchive("is a device, FIFO or socket", name)
    is_dir = name.endswith("/")
    if (kind == stat.S_IFDIR) != is_dir and kind != 0:
        raise BadArchive("is marked a folder but named like a file (or the reverse)", name)
    if is_dir and info.file_size:
        raise BadArchive("is a folder with content", name)
    return _Entry(name, parts, is_dir, info.file_size, info)


def _check_zip_directory_size(f: BinaryIO, limits: UploadLimits) -> None:
    """Refuse, from the end-of-central-directory record alone, a directory too big to parse.

    zipfile reads the whole central directory into memory before anyone can count entries;
    a directory claiming more entries than allowed, or bytes far beyond what that many honest
    entries take, is refused first. (zipfile itself reads the directory by its size, so both
    are checked.)
    """
    f.seek(0, os.SEEK_END)
    size = f.tell()
    tail_len = min(size, 22 + 0xFFFF)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or tail_len - at < 22:
        raise BadArchive("the ZIP archive is truncated (no end of central directory)")
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    dir_size = int.from_bytes(tail[at + 12 : at + 16], "little")
    if entries == 0xFFFF or dir_size == 0xFFFFFFFF:
        # ZIP64: the real numbers are in the ZIP64 end record the locator points to.
        loc = tail[at - 20 : at] if at >= 20 else b""
        if loc[:4] != b"PK\x06\x07":
            raise BadArchive("the ZIP archive is corrupt (ZIP64 locator missing)")
        f.seek(int.from_bytes(loc[8:16], "little"))
        record = f.read(56)
        if record[:4] != b"PK\x06\x06" or len(record) < 56:
            raise BadArchive("the ZIP archive is corrupt (ZIP64 end record missing)")
        entries = int.from_bytes(record[32:40], "little")
        dir_size = int.from_bytes(record[40:48], "little")
    # 46 bytes of fixed header + the longest name allowed + room for the usual extra fields.
    if entries > limits.max_entries or dir_size > (limits.max_entries + 1) * (
        46 + MAX_NAME_CHARS + 256
    ):
        raise UploadTooLarge(f"the archive has more than {limits.max_entries} entries")


# --- .tar.gz -----------------------------------------------------------------------------


def _extract_tar_gz(spool: Path, tar_path: Path, tree: Path, limits: UploadLimits) -> tuple:
    overhead = _TAR_OVERHEAD_FIXED + (limits.max_entries + 1) * _TAR_OVERHEAD_PER_ENTRY
    budget = _Budget(limits.max_uncompressed_bytes + overhead, "the archive unpacks to")
    gz_errors = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError
    with gzip.open(spool, "rb") as src, tar_path.open("xb") as out:
        read = _guarded(src.read, None, gz_errors, "the .tar.gz archive is corrupt or truncated")
        while chunk := read(CHUNK):
            budget.take(len(chunk), None)
            out.write(chunk)
    spool.unlink()  # the compressed copy is not needed any more: half the disk
    with tar_path.open("rb") as raw:
        bounded = _BoundedReads(raw)
        try:
            tf = tarfile.open(fileobj=bounded, mode="r:")
        except tarfile.TarError:
            raise BadArchive("the .tar.gz archive does not hold a tar archive") from None
        with tf:
            members = _count(_tar_members(tf), limits)
            _check_tar_end(raw, tf.offset)
            entries = [_tar_entry(m) for m in members]
            kept, root = _check_entries(entries, limits)
            budget = _Budget(limits.max_uncompressed_bytes, "the archive unpacks to")
            tar_errors = (tarfile.TarError, EOFError)
            for entry in kept:
                if entry.is_dir:
                    tree.joinpath(*entry.parts).mkdir(parents=True, exist_ok=True)
                    continue
                src = tf.extractfile(entry.ref)
                assert src is not None  # a regular file: checked by _tar_entry
                with src:
                    _write_file(tree, entry, _guarded(src.read, entry.name, tar_errors), budget)
    return root


def _tar_members(tf: tarfile.TarFile):
    # tf.next() one at a time: the count is checked as the list grows, not after.
    while True:
        try:
            member = tf.next()
        except tarfile.TarError:
            raise BadArchive("the tar archive is corrupt or truncated") from None
        if member is None:
            return
        yield member


def _check_tar_end(raw: BinaryIO, offset: int) -> None:
    """tarfile treats a corrupt header after the first as the end: refuse data after it."""
    raw.seek(offset)
    while chunk := raw.read(CHUNK):
        if chunk.strip(b"\0"):
            raise BadArchive("the tar archive is corrupt (data after its end)")


def _tar_entry(m: tarfile.TarInfo) -> _Entry:
    parts = _name_parts(m.name)
    if m.type == tarfile.SYMTYPE:
        raise BadArchive("is a symbolic link", m.name)
    if m.type == tarfile.LNKTYPE:
        raise BadArchive("is a hard link", m.name)
    if m.type in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
        raise BadArchive("is a device or FIFO", m.name)
    if m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
        raise BadArchive(f"has an unsupported tar entry type {m.type!r}", m.name)
    return _Entry(m.name, parts, m.type == tarfile.DIRTYPE, m.size, m)


class _BoundedReads:
    """The file tarfile reads, refusing any single read larger than :data:`CHUNK`.

    tarfile reads a long-name or pax header in one ``read`` of its whole size; without a
    bound a 1 GB header in a small gzip would land in memory at once. Headers are 512-byte
    reads and extraction reads are ours (``CHUNK``), so only oversized metadata hits this.
    """

    def __init__(self, raw: BinaryIO):
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > CHUNK:
            raise BadArchive(f"the tar archive has a header larger than {CHUNK} bytes")
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _guarded(
    read: Callable[[int], bytes],
    entry: str | None,
    errors: tuple[type[BaseException], ...],
    message: str = "is corrupt or truncated",
) -> Callable[[int], bytes]:
    """``read`` with the format's errors as BadArchive (their text may quote a raw name)."""

    def guarded(n: int) -> bytes:
        try:
            return read(n)
        except BadArchive:
            raise
        except errors:
            raise BadArchive(message, entry) from None

    return guarded
