"""The push algorithm (gitexport.publish) apart from any one forge: the provider registry, the
one forge error mapping, git transport errors under the same codes, and cancellation between
the push steps (against a real bare repository)."""

from __future__ import annotations

import socket
import threading

import pytest

from gitexport.errors import (
    Cancelled,
    ForgeAuthError,
    ForgeError,
    ForgePermissionError,
    ForgeUnavailableError,
    UserError,
)
from gitexport.git_remote import GitRemote
from gitexport.http_retry import NO_WAIT
from gitexport.options import Target
from gitexport.progress import Reporter
from gitexport.providers import registry
from gitexport.providers.base import RepoSpec
from gitexport.providers.errors import Forge, forge_error
from gitexport.providers.local import LocalProvider
from gitexport.publish import make_provider, publish
from servers.exportrepo import ExportRepo, git

SPEC = RepoSpec(name="churn", pipeline_id="churn-model")


def heads(bare):
    out = git(bare, "for-each-ref", "--format=%(refname:lstrip=2) %(objectname)", "refs/heads")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


# -- registry ----------------------------------------------------------------------------


def test_providers_come_from_the_registry(tmp_path):
    assert set(registry.names()) >= {"github", "gitlab", "local"}
    provider = make_provider(Target(provider="local", repo=str(tmp_path / "r.git")), None)
    assert isinstance(provider, LocalProvider)
    with pytest.raises(UserError, match="unknown provider 'sourcehut'.*github, gitlab, local"):
        registry.get("sourcehut")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get("local"))


# -- one forge error mapping ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, ForgeAuthError, "Acme rejected the credentials (401 bad)"),
        (403, ForgePermissionError, "refused to push on o/r (403 bad); the token needs x"),
        (404, ForgePermissionError, "o/r was not found, or the token cannot see it (needs x)"),
        (429, ForgeUnavailableError, "kept failing (429 bad); try again later"),
        (503, ForgeUnavailableError, "kept failing (503 bad)"),
        (422, ForgeError, "Acme: push on o/r failed (422 bad)"),
    ],
)
def test_forge_error_mapping(status, kind, words):
    forge = Forge("Acme", "https://acme.example", lambda _e: None)
    err = forge_error(forge, "push", status, "bad", permission="x", target="o/r")
    assert type(err) is kind and words in str(err)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_unreachable_forge_api_is_forge_unavailable(forge):
    """A connection refused by the API (after urllib3's bounded connect retries) is a named
    forge_unavailable error naming the URL, not an internal error."""
    url = f"http://127.0.0.1:{_closed_port()}"
    if forge == "github":
        from gitexport.providers.github import GitHubProvider

        provider = GitHubProvider(token="t0ken-unreachable", base_url=url, retry=NO_WAIT)
    else:
        from gitexport.providers.gitlab import GitLabProvider

        provider = GitLabProvider(token="t0ken-unreachable", base_url=url, retry=NO_WAIT)
    with pytest.raises(ForgeUnavailableError, match=f"{url} is not reachable") as info:
        provider.ensure_repo(RepoSpec(name="churn", pipeline_id="p", owner="acme"))
    assert info.value.code == "forge_unavailable"
    assert "t0ken" not in str(info.value)


def test_git_transport_errors_carry_forge_codes(tmp_path, export_repo):
    export_repo.export()
    missing = GitRemote(export_repo.path, (tmp_path / "nowhere.git").as_uri())
    with pytest.raises(ForgePermissionError) as info:
        missing.ls_remote()
    assert info.value.code == "forge_permission"
    refused = GitRemote(export_repo.path, f"http://127.0.0.1:{_closed_port()}/r.git", timeout=20)
    with pytest.raises(ForgeUnavailableError) as info:
        refused.ls_remote()
    assert info.value.code == "forge_unavailable"


# -- cancellation between the steps ------------------------------------------------------


def _cancel_at(phase: str):
    """A reporter that asks to stop as soon as *phase* is entered."""
    stop = threading.Event()
    seen: list[str] = []

    def progress(name, _fraction, _message):
        seen.append(name)

    reporter = Reporter(progress, stop)
    original = reporter.enter

    def enter(name, message=""):
        if name == phase:
            stop.set()
        original(name, message)

    reporter.enter = enter  # type: ignore[method-assign]
    return reporter, seen


def test_cancel_before_push_moves_nothing_and_a_rerun_converges(export_repo: ExportRepo, tmp_path):
    bare = tmp_path / "remote" / "churn.git"
    provider = LocalProvider(bare)
    first = export_repo.export()
    reporter, _ = _cancel_at("push")
    with pytest.raises(Cancelled):
        publish(provider, export_repo.path, SPEC, title="t", body="b", reporter=reporter)
    assert heads(bare) == {}
    assert not (bare / "lfs" / "objects").exists()
    result = publish(provider, export_repo.path, SPEC, title="t", body="b")
    # The first run created the (empty) repository; this one pushes into it.
    assert result.status == "pushed" and heads(bare) == {"main": first}


def test_cancel_before_pull_request_leaves_branch_then_rerun_opens_it(
    export_repo: ExportRepo, tmp_path
):
    bare = tmp_path / "remote" / "churn.git"
    provider = LocalProvider(bare)
    export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    second = export_repo.export()
    reporter, seen = _cancel_at("pull_request")
    with pytest.raises(Cancelled):
        publish(provider, export_repo.path, SPEC, title="t", body="b2", reporter=reporter)
    assert seen == ["push"]  # the branch went up whole; the PR step never started
    assert heads(bare)[export_repo.branch] == second
    assert provider.find_open_pr(None, export_repo.branch, "main") is None  # type: ignore[arg-type]
    again = publish(provider, export_repo.path, SPEC, title="t", body="b2")
    assert again.status == "pr_opened" and again.pr_number == 1 and again.commit == second
    third = publish(provider, export_repo.path, SPEC, title="t", body="b2")
    assert third.status == "up_to_date" and third.pr_number == 1
