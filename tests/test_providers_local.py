"""publish() against a local bare repository (LocalProvider): the whole flow, no network."""

from __future__ import annotations

import json
import subprocess

import pytest

from gitexport.errors import UserError
from gitexport.git import release_tag
from gitexport.providers.base import RepoSpec, export_branch
from gitexport.providers.local import LocalProvider
from gitexport.publish import publish
from servers.exportrepo import ExportRepo, git

SPEC = RepoSpec(name="churn", pipeline_id="churn-model", description="Churn model")


def heads(bare):
    out = git(bare, "for-each-ref", "--format=%(refname:lstrip=2) %(objectname)", "refs/heads")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def lfs_objects(bare):
    return {p.name for p in (bare / "lfs" / "objects").rglob("*") if p.is_file()}


def test_export_branch_names():
    """Providers push exactly the branch the local export commits to, and it is a valid ref."""
    import subprocess

    from gitexport.git import export_branch_name

    assert export_branch("churn-model") == "gitexport/churn-model"
    for pipeline_id in ("My Pipeline: v2/α..b.lock", "..weird..", "///", "a b", "a-b"):
        branch = export_branch(pipeline_id)
        assert branch == export_branch_name(pipeline_id)
        subprocess.run(["git", "check-ref-format", f"refs/heads/{branch}"], check=True)
    # Ids that sanitise alike stay apart.
    assert export_branch("a b") != export_branch("a-b")
    assert release_tag("3") == "v3" and release_tag("v1.2") == "v1.2"


def test_full_flow_local(export_repo: ExportRepo, tmp_path):
    bare = tmp_path / "remote" / "churn.git"
    provider = LocalProvider(bare)

    first = export_repo.export()
    r1 = publish(provider, export_repo.path, SPEC, title="t", body="b1")
    assert r1.status == "created" and r1.branch == "main" and r1.commit == first
    assert heads(bare) == {"main": first}
    assert export_repo.model_oid() in lfs_objects(bare)  # LFS objects went along
    assert git(bare, "symbolic-ref", "HEAD") == "refs/heads/main"

    # Nothing changed: no push, no PR.
    r2 = publish(provider, export_repo.path, SPEC, title="t", body="b1")
    assert r2.status == "up_to_date" and r2.pr_number is None

    second = export_repo.export()
    r3 = publish(provider, export_repo.path, SPEC, title="Export v2", body="body 2")
    assert r3.status == "pr_opened" and r3.branch == export_repo.branch
    assert heads(bare) == {"main": first, export_repo.branch: second}

    third = export_repo.export()
    r4 = publish(provider, export_repo.path, SPEC, title="Export v3", body="body 3")
    assert r4.status == "pr_updated" and r4.pr_number == r3.pr_number
    prs = json.loads((bare / "gitexport" / "pull-requests.json").read_text())
    assert len(prs) == 1 and prs[0]["body"] == "body 3" and prs[0]["labels"] == ["gitexport"]
    assert heads(bare)[export_repo.branch] == third

    r5 = publish(provider, export_repo.path, SPEC, title="Export v3", body="body 3")
    assert r5.status == "up_to_date" and r5.pr_number == r3.pr_number


def test_existing_repo_of_something_else_is_refused(export_repo, tmp_path):
    bare = tmp_path / "other.git"
    other = ExportRepo(tmp_path / "other", pipeline_id="someone-else")
    other.export()
    _init_bare(bare)
    git(other.path, "push", "-q", bare.as_uri(), "main")
    export_repo.export()
    with pytest.raises(UserError, match="does not hold the exports of pipeline 'churn-model'"):
        publish(LocalProvider(bare), export_repo.path, SPEC, title="t", body="b")
    # --adopt: pushed to the export branch with a PR into the existing main
    result = publish(LocalProvider(bare), export_repo.path, SPEC, title="t", body="b", adopt=True)
    assert result.status == "pr_opened"


def _init_bare(path):
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True, timeout=60)
    return str(path)


def test_empty_existing_repo_is_fine(export_repo, tmp_path):
    bare = tmp_path / "empty.git"
    _init_bare(bare)
    export_repo.export()
    result = publish(LocalProvider(bare), export_repo.path, SPEC, title="t", body="b")
    assert result.status == "pushed" and not result.repo_created


def test_human_commit_on_export_branch_stops(export_repo, tmp_path):
    bare = tmp_path / "r.git"
    provider = LocalProvider(bare)
    export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    # A reviewer pushes a fix onto the export branch.
    human = tmp_path / "human"
    subprocess.run(
        ["git", "clone", "-q", "-b", export_repo.branch, str(bare), str(human)],
        check=True,
        timeout=60,
        env={"GIT_LFS_SKIP_SMUDGE": "1", "PATH": _path()},
    )
    (human / "NOTES.md").write_text("tuned by hand\n")
    git(human, "add", "NOTES.md")
    git(
        human,
        "-c",
        "user.name=Alice",
        "-c",
        "user.email=a@x",
        "commit",
        "-q",
        "-m",
        "Tune it",
        env={"GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com"},
    )
    git(human, "push", "-q", "--no-verify", "origin", export_repo.branch)
    before = heads(bare)

    export_repo.export()
    with pytest.raises(UserError, match=r"1 commit\(s\) that gitexport did not make") as info:
        publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert "'Tune it' by Alice" in str(info.value)
    assert heads(bare) == before  # nothing overwritten


def test_our_own_rewritten_branch_is_replaced(export_repo, tmp_path):
    """Commits only we made (in local history) may be replaced with a lease."""
    bare = tmp_path / "r.git"
    provider = LocalProvider(bare)
    export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    old = export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    # gitexport re-creates the export branch from main (e.g. after a rebase).
    git(export_repo.path, "checkout", "-q", "main")
    git(export_repo.path, "branch", "-q", "-D", export_repo.branch)
    git(export_repo.path, "branch", "-q", "keep-old", old)  # still in local history
    new = export_repo.export()
    result = publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert result.status == "pr_updated" and heads(bare)[export_repo.branch] == new


def test_release_artifacts(export_repo, tmp_path):
    bare = tmp_path / "r.git"
    export_repo.export()
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(b"x" * 1000)
    result = publish(
        LocalProvider(bare),
        export_repo.path,
        SPEC,
        title="t",
        body="b",
        artifacts="release",
        release_files=[artifact],
    )
    [a] = result.artifacts
    import hashlib

    assert a.sha256 == hashlib.sha256(b"x" * 1000).hexdigest() and a.size == 1000
    assert a.url.startswith("file://") and a.url.endswith("/releases/v1/model.joblib")
    assert git(bare, "rev-parse", "v1^{commit}") == result.commit


def test_not_a_repo_and_no_export(tmp_path):
    with pytest.raises(UserError, match="not a git repository"):
        publish(LocalProvider(tmp_path / "r.git"), tmp_path, SPEC, title="t", body="b")
    (tmp_path / "w").mkdir()
    git(tmp_path / "w", "init", "-q", "-b", "main")
    with pytest.raises(UserError, match="nothing has been exported"):
        publish(LocalProvider(tmp_path / "r.git"), tmp_path / "w", SPEC, title="t", body="b")


def _path():
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")
