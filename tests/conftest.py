"""Shared fixtures: real git smart-HTTP + LFS servers on 127.0.0.1, export repositories."""

from __future__ import annotations

import os

import pytest

from gitexport.http_retry import RetryPolicy
from servers.exportrepo import ExportRepo

SERVER_TOKEN = "gxtok-0123456789-DO-NOT-LEAK-abcdef"


@pytest.fixture
def server_token() -> str:
    return SERVER_TOKEN


@pytest.fixture
def git_server(tmp_path_factory):
    """A real git http-backend + giftless LFS server, checking Basic auth against the token."""
    if os.environ.get("CI"):
        import giftless  # noqa: F401 - in CI the LFS server must be there: fail, never skip
    else:
        pytest.importorskip("giftless")
    from servers.git_http import GitHttpServer

    server = GitHttpServer(tmp_path_factory.mktemp("gitsrv") / "repos", SERVER_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def export_repo(tmp_path):
    """A local repository shaped like gitexport's output (call ``.export()`` to add one)."""
    return ExportRepo(tmp_path / "work")


@pytest.fixture
def no_sleep():
    """A RetryPolicy that records its sleeps instead of waiting."""
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=4, base_delay=1.0, max_delay=60.0, sleep=sleeps.append)
    policy_sleeps = sleeps
    return policy, policy_sleeps


@pytest.fixture
def isolated_git(tmp_path_factory, monkeypatch):
    """No global/system git config and no identity from the environment."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        for what in ("NAME", "EMAIL", "DATE"):
            monkeypatch.delenv(f"GIT_{role}_{what}", raising=False)
    return home
