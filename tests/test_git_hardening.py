"""What a careless environment or a killed run does to the local repository (issue 12):
inherited GIT_* variables, amended export commits, pipeline ids, leftover git locks, broken
gitexport locks, symlinked output folders. Real git throughout."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_git_export import (  # noqa: F401 - _no_git_config is an autouse fixture
    _no_git_config,
    export_crashing_at,
    files_v1,
    git,
    is_clean,
    ref,
    request,
    worktree,
)

from gitexport.errors import ConflictError, DocumentError, UserError
from gitexport.git import export_to_repo, read_history
from gitexport.providers.base import RepoSpec
from gitexport.providers.local import LocalProvider
from gitexport.publish import publish

# -- one runner, one environment -----------------------------------------------------------


def test_export_and_push_ignore_junk_git_environment(tmp_path, monkeypatch):
    """GIT_DIR & co. inherited from a hook, an IDE or a CI runner must not send gitexport's
    git to another repository, index or object store."""
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    git(decoy, "init", "-q")
    repo = tmp_path / "project"
    bare = tmp_path / "remote.git"
    junk = {
        "GIT_DIR": str(decoy / ".git"),
        "GIT_WORK_TREE": str(decoy),
        "GIT_INDEX_FILE": str(tmp_path / "junk-index"),
        "GIT_OBJECT_DIRECTORY": str(tmp_path / "junk-objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(tmp_path / "junk-alt"),
        "GIT_CONFIG_PARAMETERS": "'core.bare'='true'",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "core.worktree",
        "GIT_CONFIG_VALUE_0": str(decoy),
        "GIT_LITERAL_PATHSPECS": "1",
    }
    for key, value in junk.items():
        monkeypatch.setenv(key, value)

    assert export_to_repo(repo, request(files_v1())).status == "created"
    v2 = request(files_v1() | {"README.md": b"v2\n"}, version=2)
    assert export_to_repo(repo, v2).status == "merged"
    spec = RepoSpec(name="remote", pipeline_id="pl_x")
    result = publish(LocalProvider(bare), repo, spec, title="t", body="b")

    for key in junk:
        monkeypatch.delenv(key)
    assert worktree(repo) == dict(v2.files) and is_clean(repo)
    assert [r.pipeline_version for r in read_history(repo)] == ["2", "1"]
    assert result.status == "created" and git(bare, "rev-parse", "main") == ref(repo, "main")
    assert git(decoy, "for-each-ref") == ""  # the decoy got nothing
    assert not (tmp_path / "junk-index").exists() and not (tmp_path / "junk-objects").exists()


# -- lineage: one parser, our own commits by their tree, exact ids --------------------------


def _bare_with_commit(tmp_path, message: str) -> Path:
    """A bare repository whose main is one commit with *message* and its own tree."""
    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    (src / "README.md").write_text("hand made\n")
    git(src, "add", "-A")
    tree = git(src, "write-tree")
    git(src, "commit", "-q", "-m", message.format(tree=tree))
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(src), str(bare))
    return bare


def test_partly_trailer_block_is_not_an_export_for_the_push_nor_the_history(tmp_path):
    """git's own trailer parser accepts this block (a Signed-off-by makes 3 of 4 lines
    enough); gitexport's one parser does not, in the push and in the local history alike."""
    message = (
        "Looks generated\n\nSigned-off-by: A <a@x>\nPipeline-Id: pl_x\nExport-Tree: {tree}\n"
        "but this paragraph is prose\n"
    )
    bare = _bare_with_commit(tmp_path, message)
    assert "Pipeline-Id: pl_x" in git(bare, "log", "-1", "--format=%(trailers)")
    assert read_history(bare.parent / "src") == []
    repo = tmp_path / "project"
    export_to_repo(repo, request(files_v1()))
    spec = RepoSpec(name="remote", pipeline_id="pl_x")
    with pytest.raises(ConflictError, match="does not hold the exports of pipeline 'pl_x'"):
        publish(LocalProvider(bare), repo, spec, title="t", body="b")


def test_amended_export_on_main_keeps_the_edit_on_reexport(tmp_path):
    repo = tmp_path / "project"
    export_to_repo(repo, request(files_v1()))
    (repo / "README.md").write_bytes(b"# Churn\n\nEdited and amended in.\nline 3\n")
    git(repo, "commit", "-q", "-a", "--amend", "--no-edit")  # keeps every trailer
    v2 = request(files_v1() | {"src/train.py": b"def train():\n    return 2\n"}, version=2)
    outcome = export_to_repo(repo, v2)
    assert outcome.status == "merged"
    files = worktree(repo)
    assert files["README.md"] == b"# Churn\n\nEdited and amended in.\nline 3\n"
    assert files["src/train.py"] == b"def train():\n    return 2\n"
    assert is_clean(repo)
    # The amended commit is not an export: the history lists the two real ones.
    assert [r.pipeline_version for r in read_history(repo)] == ["2", "1"]


def test_amended_commit_pushed_to_the_export_branch_stops_the_push(tmp_path, export_repo):
    bare = tmp_path / "r.git"
    provider = LocalProvider(bare)
    spec = RepoSpec(name="r", pipeline_id=export_repo.pipeline_id)
    export_repo.export()
    publish(provider, export_repo.path, spec, title="t", body="b")
    export_repo.export()
    publish(provider, export_repo.path, spec, title="t", body="b")
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", export_repo.branch, str(bare), str(human))
    (human / "README.md").write_text("tuned by hand\n")
    git(
        human,
        "-c",
        "user.name=Alice",
        "-c",
        "user.email=a@x",
        "commit",
        "-q",
        "-a",
        "--amend",
        "--no-edit",
    )
    git(human, "push", "-q", "--force", "--no-verify", "origin", export_repo.branch)
    amended = git(human, "rev-parse", "HEAD")

    export_repo.export()
    with pytest.raises(ConflictError, match=r"1 commit\(s\) that gitexport did not make"):
        publish(provider, export_repo.path, spec, title="t", body="b")
    assert git(bare, "rev-parse", export_repo.branch) == amended  # not overwritten


def test_pipeline_ids_are_compared_exactly_and_unstorable_ones_refused(tmp_path):
    repo = tmp_path / "project"
    export_to_repo(repo, request(files_v1(), pipeline_id="pl penguins"))
    with pytest.raises(DocumentError, match="pipeline.id") as info:
        export_to_repo(repo, request(files_v1(), pipeline_id="pl\tpenguins"))
    assert info.value.code == "invalid_document"
    with pytest.raises(UserError, match="holds exports of pipeline 'pl penguins'"):
        export_to_repo(repo, request(files_v1(), pipeline_id="pl penguinz"))
    spec = RepoSpec(name="r", pipeline_id="pl\tpenguins")
    with pytest.raises(DocumentError):
        publish(LocalProvider(tmp_path / "r.git"), repo, spec, title="t", body="b")
    assert not (tmp_path / "r.git").exists()  # refused before anything was created


# -- killed runs: git's own locks, gitexport's lock ----------------------------------------

# step → the lock file the git command running at that step holds when killed.
LOCK_AT = {
    "after-main-ref": "index.lock",  # the reproduction of issue 12 item 5
    "in-worktree": "index.lock",
    "in-main-ref": "refs/heads/main.lock",
    "in-branch-ref": "refs/heads/gitexport/pl_x.lock",
    "in-lfs-install": "config.lock",
}


@pytest.fixture
def exported(tmp_path) -> Path:
    repo = tmp_path / "project"
    assert export_to_repo(repo, request(files_v1())).status == "created"
    (repo / "notes.md").write_text("user file\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "user work")
    return repo


@pytest.mark.parametrize("step", sorted(LOCK_AT))
def test_git_lock_left_by_a_killed_export_is_removed_by_the_next(exported, tmp_path, step):
    v2 = request(files_v1() | {"src/train.py": b"v = 2\n"}, version=2)
    assert export_crashing_at(step, exported, v2, tmp_path) == 99
    lock = exported / ".git" / LOCK_AT[step]
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()  # what git holds when killed inside that command
    outcome = export_to_repo(exported, v2)
    assert outcome.status in ("merged", "up_to_date")
    assert not lock.exists()
    assert worktree(exported) == dict(v2.files) | {"notes.md": b"user file\n"}
    assert is_clean(exported)


def test_a_git_lock_gitexport_did_not_leave_is_not_touched(exported):
    lock = exported / ".git" / "index.lock"
    lock.touch()  # a user's git command running right now
    v2 = request(files_v1() | {"src/train.py": b"v = 2\n"}, version=2)
    with pytest.raises(UserError, match=r"index.lock exists: .*gitexport did not leave it"):
        export_to_repo(exported, v2)
    assert lock.exists()
    lock.unlink()
    assert export_to_repo(exported, v2).status == "merged"


@pytest.mark.parametrize("content", ["garbage\n", "12ab host\n", "\x00\x01\x02"])
def test_malformed_gitexport_lock_is_a_named_error(exported, content):
    lock = exported / ".git" / "gitexport.lock"
    lock.write_text(content)
    with pytest.raises(UserError, match=r"is not a gitexport lock.*delete .*gitexport.lock"):
        export_to_repo(exported, request(files_v1(), version=1))
    assert lock.read_text() == content


def test_lock_from_another_host_is_taken_over_only_when_its_heartbeat_stopped(exported):
    import os
    import time

    lock = exported / ".git" / "gitexport.lock"
    lock.write_text("4242 some-other-container boot=x\n")  # fresh: its owner may be running
    v2 = request(files_v1() | {"README.md": b"v2\n"}, version=2)
    with pytest.raises(UserError, match="process 4242 on host some-other-container"):
        export_to_repo(exported, v2)
    old = time.time() - 3600  # not refreshed for an hour: its owner is gone
    os.utime(lock, (old, old))
    assert export_to_repo(exported, v2).status == "merged"
    assert not lock.exists()


def test_out_as_a_symlink_to_an_empty_folder_is_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert export_to_repo(link, request(files_v1())).status == "created"
    assert link.is_symlink() and (real / ".git").is_dir()
    assert worktree(real) == files_v1()
    v2 = request(files_v1() | {"README.md": b"v2\n"}, version=2)
    assert export_to_repo(link, v2).status == "merged"


PUSH_SCRIPT = """
import sys
from gitexport.providers.base import RepoSpec
from gitexport.providers.local import LocalProvider
from gitexport.publish import publish
spec = RepoSpec(name="r", pipeline_id=sys.argv[3])
publish(LocalProvider(sys.argv[2]), sys.argv[1], spec, title="t", body="b")
"""


def test_fetch_lock_left_by_a_killed_push_is_removed_by_the_next(tmp_path, export_repo):
    import os
    import subprocess
    import sys

    from test_git_export import CRASH_ENV, REPO_ROOT

    bare = tmp_path / "r.git"
    spec = RepoSpec(name="r", pipeline_id=export_repo.pipeline_id)
    export_repo.export()
    publish(LocalProvider(bare), export_repo.path, spec, title="t", body="b")
    second = export_repo.export()
    env = os.environ | {CRASH_ENV: "in-fetch", "PYTHONPATH": str(REPO_ROOT)}
    args = [str(export_repo.path), str(bare), export_repo.pipeline_id]
    proc = subprocess.run([sys.executable, "-c", PUSH_SCRIPT, *args], env=env, check=False)
    assert proc.returncode == 99
    lock = export_repo.path / ".git" / "refs" / "gitexport-remote" / "main.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()  # what git holds when killed while fetching main
    result = publish(LocalProvider(bare), export_repo.path, spec, title="t", body="b")
    assert result.status == "pr_opened" and result.commit == second
    assert not lock.exists()


def test_a_held_lock_keeps_its_heartbeat(tmp_path, monkeypatch):
    """The holder refreshes the lock's mtime, which is what another host judges it by."""
    import os
    import time

    from gitexport.git import _ExportLock

    monkeypatch.setattr(_ExportLock, "HEARTBEAT_SECONDS", 0.05)
    git_dir = tmp_path / ".git"
    git_dir.mkdir()
    with _ExportLock(git_dir, tmp_path) as lock:
        old = time.time() - 3600
        os.utime(lock.path, (old, old))
        deadline = time.time() + 10
        while lock.path.stat().st_mtime < time.time() - 60 and time.time() < deadline:
            time.sleep(0.05)
        assert lock.path.stat().st_mtime > time.time() - 60
    assert not lock.path.exists()
