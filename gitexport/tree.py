"""A project tree: POSIX path -> content, where a large file's content stays on disk.

Rendering makes small files as bytes. A trained model (or ``--data full``'s data file) may be
as large as memory, so the tree holds it as a :class:`FileRef` instead: a file on disk with
its size and SHA-256, which hashing, copying, committing, zipping and uploading read in
chunks (:func:`write_file`, :func:`open_content`).

:class:`Tree` is a ``MutableMapping[str, bytes]``: ``tree[path]`` gives bytes (read from disk
for a ref), so code that reads a small file or compares trees keeps working; the streaming
paths take the content itself with :meth:`Tree.entry` / :meth:`Tree.entries`, or
:func:`entries_of` for any mapping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import ItemsView, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from gitexport import identity

CHUNK = 1 << 20  # what streams read and write at a time


@dataclass(frozen=True)
class FileRef:
    """A file of the tree that stays on disk. Equal to another ref with the same content.

    *owner* is whatever keeps *path* alive (a build's artifact folder, whose finalizer
    removes it): held here so the folder outlives every ref to it.
    """

    path: Path
    size: int
    sha256: str
    owner: object = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, path: Path | str, owner: object = None) -> FileRef:
        """A ref to *path*, hashed in chunks."""
        path = Path(path)
        return cls(path, path.stat().st_size, identity.sha256_file(path), owner)

    def head(self, n: int) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read(n)


Content = bytes | FileRef


def size_of(content: Content) -> int:
    return content.size if isinstance(content, FileRef) else len(content)


def sha256_of(content: Content) -> str:
    return content.sha256 if isinstance(content, FileRef) else identity.sha256_bytes(content)


def head_of(content: Content, n: int) -> bytes:
    """The first *n* bytes (a sniff for ``#!`` or a NUL), without reading a ref whole."""
    return content.head(n) if isinstance(content, FileRef) else content[:n]


def read(content: Content) -> bytes:
    return content.path.read_bytes() if isinstance(content, FileRef) else content


def same_content(a: Content, b: Content) -> bool:
    if isinstance(a, FileRef) or isinstance(b, FileRef):
        return size_of(a) == size_of(b) and sha256_of(a) == sha256_of(b)
    return a == b


def open_content(content: Content) -> BinaryIO:
    """A binary file object over *content* (a ref's own file, opened for reading)."""
    if isinstance(content, FileRef):
        return open(content.path, "rb")
    return BytesIO(content)


def copy_file(source: Path, dest: Path) -> None:
    """*dest* holding *source*'s bytes: a hard link where the file system allows (nothing
    copied; neither side is written to afterwards), else a streamed copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)
        return
    except OSError:
        pass  # another file system, or links not supported
    with open(source, "rb") as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)


def write_file(dest: Path, content: Content) -> None:
    if isinstance(content, FileRef):
        copy_file(content.path, dest)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)


def entries_of(files: Mapping[str, bytes]) -> Iterable[tuple[str, Content]]:
    """``(path, content)`` of any tree: a :class:`Tree`'s refs stay refs."""
    return files.entries() if isinstance(files, Tree) else files.items()


def entry_of(files: Mapping[str, bytes], path: str) -> Content | None:
    if isinstance(files, Tree):
        return files.entry(path)
    return files.get(path)


def write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    """Write every file of *files* under *root* (refs linked or copied in streams)."""
    for rel, content in entries_of(files):
        write_file(Path(root) / rel, content)


class Tree(MutableMapping[str, bytes]):
    """``{path: bytes}`` whose large files are :class:`FileRef` (see the module doc)."""

    def __init__(self, entries: Mapping[str, Content] | Iterable[tuple[str, Content]] = ()):
        items = entries_of(entries) if isinstance(entries, Mapping) else entries
        self._entries: dict[str, Content] = dict(items)

    def __getitem__(self, path: str) -> bytes:
        return read(self._entries[path])

    def __setitem__(self, path: str, content: Content) -> None:
        if not isinstance(content, (bytes, FileRef)):
            raise TypeError(f"{path}: a tree holds bytes or a FileRef, not {type(content)}")
        self._entries[path] = content

    def __delitem__(self, path: str) -> None:
        del self._entries[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def __eq__(self, other: object) -> bool:
        # By content, without reading a ref: two builds' models are equal when their digests are.
        if not isinstance(other, Mapping):
            return NotImplemented
        if set(self) != set(other):
            return False
        return all(same_content(c, entry_of(other, p)) for p, c in self._entries.items())

    __hash__ = None  # type: ignore[assignment]  (mutable)

    def __repr__(self) -> str:
        refs = [p for p, c in self._entries.items() if isinstance(c, FileRef)]
        return f"Tree({len(self)} files, refs={refs})"

    def entry(self, path: str) -> Content | None:
        """The content at *path* as held (bytes or a ref), or None."""
        return self._entries.get(path)

    def entries(self) -> ItemsView[str, Content]:
        return self._entries.items()

    def pop_entry(self, path: str) -> Content:
        return self._entries.pop(path)

    def refs(self) -> dict[str, FileRef]:
        return {p: c for p, c in self._entries.items() if isinstance(c, FileRef)}
