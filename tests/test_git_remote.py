"""gitexport.git_remote against a real git smart-HTTP server + real LFS server (giftless),
and the git-side faults of publish(): dropped pushes, failing LFS uploads, a remote that
moves, and the token never leaking anywhere."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest
import responses

from gitexport.errors import UserError
from gitexport.git_remote import (
    Credentials,
    GitAuthError,
    GitRemote,
    GitRemoteError,
    GitTransientError,
    PushRejectedError,
    RefUpdate,
    _parse_porcelain,
    basic_auth_forms,
    redact,
)
from gitexport.http_retry import RetryPolicy
from gitexport.providers.base import RepoSpec
from gitexport.publish import publish
from servers.exportrepo import ExportRepo, git
from servers.github_api import FakeGitHub

SPEC = RepoSpec(name="churn", pipeline_id="churn-model")


def remote_for(server, repo: ExportRepo, token, name="octo/churn"):
    server.create_repo(name)
    return GitRemote(repo.path, server.url(name), Credentials("x-access-token", token), timeout=60)


def test_push_fetch_ls_remote_with_helper(git_server, server_token, export_repo):
    sha = export_repo.export()
    remote = remote_for(git_server, export_repo, server_token)
    assert remote.ls_remote() == {}
    remote.lfs_push([sha])
    assert export_repo.model_oid() in git_server.lfs_objects()
    [status] = remote.push([RefUpdate(sha, "refs/heads/main", None)])
    assert status.flag == "*" and status.ok
    assert remote.ls_remote() == {"main": sha} == git_server.heads("octo/churn")
    assert remote.fetch(["main"]) == {"main": sha}
    config = (export_repo.path / ".git" / "config").read_text()
    assert "127.0.0.1" not in config.split('[lfs "')[0]  # no remote was added
    assert server_token not in config


def test_wrong_token_fails_fast_and_clean(git_server, export_repo):
    sha = export_repo.export()
    remote = remote_for(git_server, export_repo, "wrong-token-0123456789")
    with pytest.raises(GitAuthError, match="credentials were not accepted") as info:
        remote.ls_remote()
    assert "wrong-token" not in str(info.value)
    with pytest.raises(GitAuthError):
        remote.lfs_push([sha])
    no_creds = GitRemote(export_repo.path, git_server.url("octo/churn"), None, timeout=30)
    with pytest.raises(GitAuthError):
        no_creds.ls_remote()


def test_url_with_credentials_is_refused(tmp_path):
    with pytest.raises(GitRemoteError, match="refusing a remote URL with credentials") as info:
        GitRemote(tmp_path, "https://user:s3cr3t-value@example.com/a/b.git")
    assert "s3cr3t" not in str(info.value)


def test_large_pack_is_sent_chunked(git_server, server_token, export_repo):
    """> 1 MiB of non-LFS data: git sends a chunked body, the server must decode it."""
    export_repo.export()
    (export_repo.path / "data.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    git(export_repo.path, "add", "data.bin")
    git(export_repo.path, "commit", "-q", "-m", "big\n\nPipeline-Id: churn-model")
    sha = export_repo.head()
    remote = remote_for(git_server, export_repo, server_token)
    remote.lfs_push([sha])
    remote.push([RefUpdate(sha, "refs/heads/main", None)])
    assert git_server.heads("octo/churn") == {"main": sha}


def test_dropped_push_leaves_remote_untouched(git_server, server_token, export_repo):
    first = export_repo.export()
    remote = remote_for(git_server, export_repo, server_token)
    remote.lfs_push([first])
    remote.push([RefUpdate(first, "refs/heads/main", None)])
    second = export_repo.export()
    # curl silently resends a request once when a reused connection dies: 2 drops = 1 failure
    git_server.faults.drop_receive_pack = 2
    with pytest.raises(GitTransientError):
        remote.push(
            [
                RefUpdate(second, "refs/heads/gitexport/churn-model", None),
                RefUpdate(second, "refs/heads/main", first),
            ]
        )
    assert git_server.heads("octo/churn") == {"main": first}  # not half-updated
    remote.push([RefUpdate(second, "refs/heads/gitexport/churn-model", None)])
    assert git_server.heads("octo/churn")["gitexport/churn-model"] == second


def test_stale_lease_is_rejected_and_parsed(git_server, server_token, export_repo):
    first = export_repo.export()
    remote = remote_for(git_server, export_repo, server_token)
    remote.lfs_push([first])
    remote.push([RefUpdate(first, "refs/heads/main", None)])
    second = export_repo.export()
    with pytest.raises(PushRejectedError, match="stale info") as info:
        remote.push([RefUpdate(second, "refs/heads/main", "1" * 40)])
    assert info.value.statuses[0].flag == "!"
    assert git_server.heads("octo/churn") == {"main": first}


def test_porcelain_and_redact():
    out = (
        "To http://h/x.git\n*\trefs/heads/a:refs/heads/a\t[new branch]\n"
        "!\tabc:refs/heads/main\t[rejected] (stale info)\nDone\n"
    )
    a, b = _parse_porcelain(out)
    assert (a.flag, a.remote_ref, a.ok) == ("*", "refs/heads/a", True)
    assert (b.remote_ref, b.summary, b.reason, b.ok) == (
        "refs/heads/main",
        "[rejected]",
        "stale info",
        False,
    )
    Credentials("u", "tok/with+odd=chars")
    text = "x tok/with+odd=chars tok%2Fwith%2Bodd%3Dchars https://u:p@h/r Authorization: Basic QQ=="
    clean = redact(text)
    assert "odd" not in clean and "u:p@" not in clean and "QQ==" not in clean
    assert redact('{"token": "ghs_abcdefghijklmnopqrstuvwxyz"}') == '{"token": "***"}'
    assert "secret" not in repr(Credentials("u", "secret-secret"))


# -- publish() git-side faults ----------------------------------------------------------


@pytest.fixture
def fake(git_server, server_token):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeGitHub(git_server, token=server_token).install(rsps)


def github(token, sleeps=None):
    from gitexport.providers.github import GitHubProvider

    return GitHubProvider(
        token=token,
        retry=RetryPolicy(
            attempts=3, sleep=sleeps.append if sleeps is not None else (lambda s: None)
        ),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_publish_survives_one_dropped_push(fake, git_server, server_token, export_repo):
    sleeps = []
    export_repo.export()
    git_server.faults.drop_receive_pack = 2  # one failed attempt (curl resends once itself)
    result = publish(github(server_token, sleeps), export_repo.path, SPEC, title="t", body="b")
    assert result.status == "created" and sleeps == [1.0]
    assert git_server.heads("octo/churn") == {"main": result.commit}


def test_publish_gives_up_on_a_server_that_keeps_dropping(
    fake, git_server, server_token, export_repo
):
    export_repo.export()
    publish(github(server_token), export_repo.path, SPEC, title="t", body="b")
    before = git_server.heads("octo/churn")
    export_repo.export()
    git_server.faults.drop_receive_pack = 10
    with pytest.raises(UserError, match="git push"):
        publish(github(server_token), export_repo.path, SPEC, title="t", body="b")
    assert git_server.heads("octo/churn") == before
    assert fake.count("POST", r"/repos/octo/churn/pulls") == 0


@pytest.mark.slow
def test_failed_lfs_upload_moves_no_branch(fake, git_server, server_token, export_repo):
    export_repo.export()
    publish(github(server_token), export_repo.path, SPEC, title="t", body="b")
    before = git_server.heads("octo/churn")
    export_repo.export()
    git_server.faults.fail_lfs_upload = 100
    with pytest.raises(UserError):
        publish(github(server_token), export_repo.path, SPEC, title="t", body="b")
    assert git_server.heads("octo/churn") == before  # the export branch was never pushed
    assert export_repo.model_oid() not in git_server.lfs_objects()
    assert fake.count("POST", r"/repos/octo/churn/pulls") == 0
    git_server.faults.fail_lfs_upload = 0
    result = publish(github(server_token), export_repo.path, SPEC, title="t", body="b")
    assert result.status == "pr_opened" and export_repo.model_oid() in git_server.lfs_objects()


def _concurrent_push(git_server, tmp_path, branch, *, human: bool):
    """Someone else pushes onto *branch* of octo/churn (a gitexport run elsewhere, or a human)."""
    clone = tmp_path / ("human" if human else "other-run")
    url = git_server.url("octo/churn")
    env = dict(os.environ, GIT_LFS_SKIP_SMUDGE="1", GIT_TERMINAL_PROMPT="0")
    helper = "!f() { echo username=x; echo password=" + git_server.app.token + "; }; f"
    subprocess.run(
        ["git", "-c", f"credential.helper={helper}", "clone", "-q", "-b", branch, url, str(clone)],
        check=True,
        timeout=60,
        env=env,
    )
    (clone / "EXTRA.md").write_text("x\n")
    git(clone, "add", "EXTRA.md")
    tree = git(clone, "write-tree")
    msg = (
        "Hand edit" if human else f"Export from CI\n\nPipeline-Id: churn-model\nExport-Tree: {tree}"
    )
    git(clone, "commit", "-q", "-m", msg)
    git(clone, "-c", f"credential.helper={helper}", "push", "-q", "--no-verify", "origin", branch)


@pytest.mark.slow
def test_remote_moving_during_push_is_retried_once(
    fake, git_server, server_token, export_repo, tmp_path, monkeypatch
):
    export_repo.export()
    provider = github(server_token)
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    newest = export_repo.export()
    original = GitRemote.push
    calls = []

    def racing_push(self, updates, **kw):
        calls.append(updates)
        if len(calls) == 1:  # another gitexport run lands first
            _concurrent_push(git_server, tmp_path, export_repo.branch, human=False)
        return original(self, updates, **kw)

    monkeypatch.setattr(GitRemote, "push", racing_push)
    result = publish(provider, export_repo.path, SPEC, title="t", body="b2")
    assert len(calls) == 2 and result.status == "pr_updated"
    assert git_server.heads("octo/churn")[export_repo.branch] == newest


@pytest.mark.slow
def test_human_commit_racing_the_push_stops_it(
    fake, git_server, server_token, export_repo, tmp_path, monkeypatch
):
    export_repo.export()
    provider = github(server_token)
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    export_repo.export()
    original = GitRemote.push

    def racing_push(self, updates, **kw):
        _concurrent_push(git_server, tmp_path, export_repo.branch, human=True)
        return original(self, updates, **kw)

    monkeypatch.setattr(GitRemote, "push", racing_push)
    with pytest.raises(UserError, match="'Hand edit'"):
        publish(provider, export_repo.path, SPEC, title="t", body="b")
    log = git(tmp_path / "human", "log", "-1", "--format=%s")
    assert log == "Hand edit"
    assert git_server.heads("octo/churn")[export_repo.branch] == git(
        tmp_path / "human", "rev-parse", "HEAD"
    )


# -- the token appears nowhere -----------------------------------------------------------


@pytest.mark.slow
def test_token_never_leaks(
    fake, git_server, server_token, export_repo, tmp_path, caplog, monkeypatch
):
    argvs: list[list[str]] = []
    real_popen = subprocess.Popen

    class RecordingPopen(real_popen):
        def __init__(self, args, *a, **kw):
            argvs.append([str(x) for x in (args if isinstance(args, (list, tuple)) else [args])])
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    trace = tmp_path / "git-trace.log"
    monkeypatch.setenv("GIT_TRACE", str(trace))  # argv of every process git itself starts
    caplog.set_level(logging.DEBUG)

    outputs, errors = [], []
    provider = github(server_token)
    export_repo.export()
    outputs.append(publish(provider, export_repo.path, SPEC, title="t", body="b").to_dict())
    export_repo.export()
    artifact = tmp_path / "m.bin"
    artifact.write_bytes(b"z" * 100)
    outputs.append(
        publish(
            provider,
            export_repo.path,
            SPEC,
            title="t",
            body="b",
            artifacts="release",
            release_files=[artifact],
        ).to_dict()
    )
    for faulty in ("drop", "lfs", "auth"):
        export_repo.export(note=faulty)
        git_server.faults.drop_receive_pack = 10 if faulty == "drop" else 0
        git_server.faults.fail_lfs_upload = 10 if faulty == "lfs" else 0
        saved = git_server.app.token
        if faulty == "auth":
            git_server.app.token = "something-else-entirely"
        try:
            publish(provider, export_repo.path, SPEC, title="t", body="b")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{exc!s}\n{exc!r}\n{getattr(exc, 'stderr', '')}")
        finally:
            git_server.app.token = saved
    assert len(errors) == 3

    forms = [server_token, *basic_auth_forms("x-access-token", server_token)]
    haystacks = {
        "logs": "\n".join(r.getMessage() for r in caplog.records),
        "errors": "\n".join(errors),
        "json": json.dumps(outputs),
        "argv": json.dumps(argvs),
        "git trace": trace.read_text(errors="replace") if trace.exists() else "",
    }
    assert "credential" in haystacks["git trace"]  # the trace did see the helper run
    for path in Path(export_repo.path).rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes().decode("latin-1")
    log_of_commits = git(export_repo.path, "log", "--all", "--format=%B%n%an%n%ae")
    haystacks["commits"] = log_of_commits
    for name, text in haystacks.items():
        for form in forms:
            assert form not in text, f"token found in {name}"
