"""A large model is never read into memory (issue 13): hashed, committed through Git LFS,
diffed, zipped, copied and uploaded from its file in chunks.

The streaming paths run in a child process on a file of ``BIG`` bytes and the child reports
its own peak RSS (``ru_maxrss``) after each step: reading the file whole (``read_bytes``,
bytes piped to git-lfs, ``writestr``) would raise it by at least ``BIG``. Real git, git-lfs
and the local provider; no mocks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from gitexport import git
from gitexport.tree import FileRef, Tree, write_tree

MODEL = "models/trained/model.joblib"
GITATTRIBUTES = b"models/trained/*.joblib filter=lfs diff=lfs merge=lfs -text\n"
BIG = 128 * 2**20
CHUNK = 8 * 2**20

needs_lfs = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="needs git-lfs")


pytestmark = pytest.mark.usefixtures("isolated_git")  # tests/conftest.py


def random_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            n = min(CHUNK, left)
            out.write(os.urandom(n))
            left -= n
    return path


def small_tree(model) -> dict:
    return {
        ".gitattributes": GITATTRIBUTES,
        "README.md": b"# Project\n",
        "scripts/run.sh": b"#!/bin/sh\necho hi\n",
        MODEL: model,
    }


def request(files, version: int = 1) -> git.ExportRequest:
    return git.ExportRequest(
        files=files,
        executable=frozenset({"scripts/run.sh"}),
        lfs_paths=frozenset({MODEL}),
        pipeline_id="pl_big",
        subject=f"Export v{version}",
        body="Large model.",
        trailers=(("Pipeline-Id", "pl_big"), ("Pipeline-Version", str(version))),
    )


# --------------------------------------------------------------------------- the tree


def test_a_tree_gives_bytes_and_keeps_refs_as_refs(tmp_path):
    data = os.urandom(5000)
    ref = FileRef.of(_write(tmp_path, data))
    tree = Tree(small_tree(ref))
    assert tree.entry(MODEL) is ref
    assert tree[MODEL] == data  # a reader of the mapping gets the bytes
    assert tree.refs() == {MODEL: ref}
    # Equal by content: a ref equals the same bytes and another ref to a copy of them.
    assert tree == small_tree(data)
    assert tree == Tree(small_tree(FileRef.of(_write(tmp_path, data, "copy.bin"))))
    assert tree != small_tree(data + b"x")
    written = tmp_path / "out"
    write_tree(written, tree)
    assert (written / MODEL).read_bytes() == data
    with pytest.raises(TypeError):
        tree["x"] = "text, not bytes"


def _write(folder: Path, data: bytes, name: str = "model.bin") -> Path:
    (folder / name).write_bytes(data)
    return folder / name


def test_zip_of_a_ref_is_the_zip_of_its_bytes(tmp_path):
    data = os.urandom(300_000) + bytes(300_000)  # some of it compressible
    ref = FileRef.of(_write(tmp_path, data))
    git.write_zip(Tree(small_tree(ref)), tmp_path / "ref.zip", executable=frozenset({"x"}))
    git.write_zip(small_tree(data), tmp_path / "bytes.zip", executable=frozenset({"x"}))
    assert (tmp_path / "ref.zip").read_bytes() == (tmp_path / "bytes.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "ref.zip") as archive:
        assert archive.read(MODEL) == data


@needs_lfs
def test_export_of_a_ref_commits_the_same_tree_as_its_bytes(tmp_path):
    data = b"\x00model" + os.urandom(10_000)
    ref = FileRef.of(_write(tmp_path, data))
    by_ref = git.export_to_repo(tmp_path / "a", request(Tree(small_tree(ref))))
    by_bytes = git.export_to_repo(tmp_path / "b", request(small_tree(data)))

    def tree_of(repo, commit):
        return subprocess.run(
            ["git", "rev-parse", f"{commit}^{{tree}}"], cwd=repo, capture_output=True, text=True
        ).stdout

    assert tree_of(tmp_path / "a", by_ref.export_commit) == tree_of(
        tmp_path / "b", by_bytes.export_commit
    )
    assert (tmp_path / "a" / MODEL).read_bytes() == data  # smudged from the LFS object
    # An unchanged ref is unchanged (compared with the pointer by digest, not read).
    again = git.export_to_repo(tmp_path / "a", request(Tree(small_tree(ref)), version=2))
    assert not again.committed
    changes = git.preview_export(
        tmp_path / "a", Tree(small_tree(FileRef.of(_write(tmp_path, data + b"!"))))
    )
    assert [(c.path, c.status, c.binary) for c in changes] == [(MODEL, "modified", True)]


# --------------------------------------------------------------------------- memory

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path

    from gitexport import git
    from gitexport.tree import FileRef, Tree, write_file

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    big, tmp = Path(sys.argv[1]), Path(sys.argv[2])
    figures = {"start": peak()}
    ref = FileRef.of(big)
    figures["hash"] = peak()
    files = Tree({
        ".gitattributes": b"models/trained/*.joblib filter=lfs diff=lfs merge=lfs -text\\n",
        "README.md": b"# Project\\n",
        "models/trained/model.joblib": ref,
    })
    request = git.ExportRequest(
        files=files, executable=frozenset(), lfs_paths=frozenset({"models/trained/model.joblib"}),
        pipeline_id="pl_big", subject="Export v1", body="",
        trailers=(("Pipeline-Id", "pl_big"), ("Pipeline-Version", "1")),
    )
    git.export_to_repo(tmp / "repo", request)
    figures["commit"] = peak()
    git.preview_export(tmp / "repo", files)
    figures["diff"] = peak()
    git.write_zip(files, tmp / "tree.zip")
    git.write_zip(tmp / "repo", tmp / "repo.zip")
    figures["zip"] = peak()
    write_file(tmp / "copy" / "model.joblib", ref)
    figures["copy"] = peak()
    figures["sha256"] = ref.sha256
    print(json.dumps(figures))
    """
)


@needs_lfs
@pytest.mark.slow
def test_a_large_ref_is_hashed_committed_zipped_and_copied_in_constant_memory(tmp_path):
    big = random_file(tmp_path / "big.joblib", BIG)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(big), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    start = figures["start"]
    for step in ("hash", "commit", "diff", "zip", "copy"):
        # Reading the file whole would add BIG (128 MB); chunks and buffers stay far below.
        assert figures[step] - start < BIG / 4, (step, figures)
    # And the bytes arrived: the LFS object, the work tree, both ZIPs, the copy.
    sha = figures["sha256"]
    lfs_object = tmp_path / "repo/.git/lfs/objects" / sha[:2] / sha[2:4] / sha
    assert lfs_object.stat().st_size == BIG
    assert FileRef.of(tmp_path / "repo" / MODEL).sha256 == sha
    assert FileRef.of(tmp_path / "copy/model.joblib").sha256 == sha
    for name in ("tree.zip", "repo.zip"):
        with zipfile.ZipFile(tmp_path / name) as archive:
            assert archive.getinfo(MODEL).file_size == BIG
            assert archive.testzip() is None


def test_release_files_are_placed_from_the_ref(tmp_path):
    """--artifacts release: the model reaches the work tree from its ref (the forges'
    uploads then stream from that path: tests/test_providers_*.py)."""
    from gitexport.export_commit import place_release_files

    data = os.urandom(100_000)
    ref = FileRef.of(_write(tmp_path, data))

    class Built:  # place_release_files reads only release_files
        release_files = Tree({MODEL: ref})

    [path] = place_release_files(tmp_path / "work", Built())
    assert path == tmp_path / "work" / MODEL and path.read_bytes() == data


# --------------------------------------------------------------------------- the build


@pytest.mark.slow
def test_a_build_owns_its_model_folder_until_closed(tmp_path, monkeypatch):
    import gc
    import tempfile

    from gitexport import api, build

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    built = api.build(api.example("penguins"))
    model = built.files.entry(MODEL)
    assert isinstance(model, FileRef)
    # Moved out of the (removed) staging folder into the build's own, named for cleanup.
    [folder] = tmp_path.glob(f"{build.BUILD_DIR_PREFIX}{os.getpid()}-*")
    assert model.path == folder / MODEL
    manifest = json.loads(built.files["models/manifest.json"])
    [item] = [a for a in manifest["artifacts"] if a["path"] == MODEL]
    assert (item["sha256"], item["size"]) == (model.sha256, model.size)
    assert built.lineage["model_sha256"][MODEL] == FileRef.of(model.path).sha256
    with built:
        assert model.path.is_file()
    assert not folder.exists()

    # Without close(): the folder lives while a ref to it does, then goes.
    files = api.build(api.example("penguins")).files
    path = files.entry(MODEL).path
    gc.collect()
    assert path.is_file() and len(files[MODEL]) == files.entry(MODEL).size  # readable
    del files
    gc.collect()
    assert not path.exists()

    # A build that fails after training leaves no folder behind.
    def fail(*args, **kwargs):
        raise RuntimeError("after training")

    monkeypatch.setattr(build, "lineage_facts", fail)
    with pytest.raises(RuntimeError, match="after training"):
        api.build(api.example("penguins"))
    assert not list(tmp_path.glob(f"{build.BUILD_DIR_PREFIX}*"))
