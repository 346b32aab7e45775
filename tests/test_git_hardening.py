"""What a careless environment or a killed run does to the local repository (issue 12):
inherited GIT_* variables, amended export commits, pipeline ids, leftover git locks, broken
gitexport locks, symlinked output folders. Real git throughout."""

from __future__ import annotations

from test_git_export import (  # noqa: F401 - isolated_git is an autouse fixture
    files_v1,
    git,
    is_clean,
    isolated_git,
    ref,
    request,
    worktree,
)

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
