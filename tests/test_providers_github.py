"""GitHubProvider + publish(): REST faked with ``responses`` (GitHub-shaped payloads), git and
LFS real (local git http-backend + giftless)."""

from __future__ import annotations

import pytest
import responses

from gitexport.errors import UserError
from gitexport.http_retry import RetryPolicy
from gitexport.providers.base import RepoSpec
from gitexport.providers.github import GitHubProvider
from gitexport.publish import publish
from servers.exportrepo import ExportRepo
from servers.github_api import FakeGitHub

SPEC = RepoSpec(name="churn", pipeline_id="churn-model", description="Churn model")
PULLS = r"/repos/octo/churn/pulls"


@pytest.fixture
def fake(git_server, server_token):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeGitHub(git_server, token=server_token).install(rsps)


def make_provider(token, sleeps=None, **kwargs):
    policy = RetryPolicy(
        attempts=4, sleep=(sleeps.append if sleeps is not None else (lambda s: None))
    )
    kwargs.setdefault("base_url", "https://api.github.com")
    return GitHubProvider(
        token=token,
        retry=policy,
        seconds_between_requests=None,
        seconds_between_writes=None,
        **kwargs,
    )


def test_full_flow(fake, git_server, server_token, export_repo: ExportRepo):
    provider = make_provider(server_token)
    first = export_repo.export()
    r1 = publish(
        provider, export_repo.path, SPEC, title="Export v1", body="b1", reviewers=["alice"]
    )
    assert r1.status == "created" and r1.repo_created and r1.branch == "main"
    assert r1.repo_url == "https://github.com/octo/churn"
    repo = fake.repos["octo/churn"]
    assert repo["auto_init"] is False and repo["private"] is True
    assert repo["default_branch"] == "main"  # set after the first push (PATCH)
    assert git_server.heads("octo/churn") == {"main": first}
    assert export_repo.model_oid() in git_server.lfs_objects()
    assert fake.count("POST", PULLS) == 0

    second = export_repo.export()
    r2 = publish(
        provider,
        export_repo.path,
        SPEC,
        title="Export v2",
        body="body **2**",
        reviewers=["alice"],
        draft=True,
    )
    assert r2.status == "pr_opened" and r2.pr_number == 1
    assert r2.pr_url == "https://github.com/octo/churn/pull/1"
    assert git_server.heads("octo/churn") == {"main": first, export_repo.branch: second}
    [pr] = fake.pulls["octo/churn"]
    assert pr["labels"] == ["gitexport"] and pr["reviewers"] == ["alice"] and pr["draft"]
    assert pr["head"] == export_repo.branch and pr["base"] == "main"

    third = export_repo.export()
    r3 = publish(provider, export_repo.path, SPEC, title="Export v3", body="body 3")
    assert r3.status == "pr_updated" and r3.pr_number == 1
    assert fake.pulls["octo/churn"][0]["body"] == "body 3"
    assert git_server.heads("octo/churn")[export_repo.branch] == third

    pushes = sum(1 for r in git_server.app.requests if r.path.endswith("git-receive-pack"))
    patches = fake.count("PATCH", PULLS + r"/\d+")
    r4 = publish(provider, export_repo.path, SPEC, title="Export v3", body="body 3")
    assert r4.status == "up_to_date" and r4.pr_number == 1
    assert sum(1 for r in git_server.app.requests if r.path.endswith("git-receive-pack")) == pushes
    assert fake.count("PATCH", PULLS + r"/\d+") == patches
    assert fake.count("POST", PULLS) == 1  # exactly one PR ever created
    # get_pulls was always asked with owner:branch
    lists = [q for m, p, q, _ in fake.calls if m == "GET" and p == PULLS]
    assert lists and all(
        "head=octo%3Agitexport%2Fchurn-model" in q or "head=octo:gitexport/churn-model" in q
        for q in lists
    )


def test_unrelated_open_prs_are_not_mistaken_for_ours(fake, git_server, server_token, export_repo):
    """GitHub returns every PR when head lacks 'owner:'; we filter by owner:branch."""
    provider = make_provider(server_token)
    export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    fake.pulls["octo/churn"] = [
        {
            "number": 1,
            "id": 9,
            "state": "open",
            "title": "human",
            "body": "x",
            "head": "feature",
            "base": "main",
            "draft": False,
            "labels": [],
            "reviewers": [],
            "sha": "1" * 40,
        }
    ]
    export_repo.export()
    result = publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert result.status == "pr_opened" and result.pr_number == 2
    assert fake.pulls["octo/churn"][0]["body"] == "x"  # the human's PR untouched


def test_org_repo_and_enterprise_base_url(git_server, server_token, export_repo):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeGitHub(
            git_server,
            token=server_token,
            api="https://ghe.example.com/api/v3",
            uploads="https://ghe.example.com/api/uploads",
            web="https://ghe.example.com",
        ).install(rsps)
        provider = make_provider(server_token, base_url="https://ghe.example.com/api/v3")
        export_repo.export()
        spec = RepoSpec(
            name="churn", pipeline_id="churn-model", owner="acme", visibility="internal"
        )
        result = publish(provider, export_repo.path, spec, title="t", body="b")
        assert result.status == "created"
        assert result.repo_url == "https://ghe.example.com/acme/churn"
        assert fake.repos["acme/churn"]["visibility"] == "internal"
        assert fake.count("POST", r"/orgs/acme/repos") == 1
        with pytest.raises(UserError, match="nope/churn was not found"):
            provider.ensure_repo(RepoSpec(name="churn", pipeline_id="x", owner="nope"))


def test_existing_repo_of_another_pipeline_is_refused(
    fake, git_server, server_token, tmp_path, export_repo
):
    fake.add_repo("octo", "churn")
    other = ExportRepo(tmp_path / "other", pipeline_id="another")
    other.export()
    from gitexport.git_remote import Credentials, GitRemote, RefUpdate

    remote = GitRemote(other.path, git_server.url("octo/churn"), Credentials("x", server_token))
    remote.lfs_push([other.head()])
    remote.push([RefUpdate(other.head(), "refs/heads/main", None)])
    export_repo.export()
    provider = make_provider(server_token)
    with pytest.raises(UserError, match="--adopt"):
        publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert git_server.heads("octo/churn") == {"main": other.head()}


def test_502_then_200_is_retried(fake, server_token, export_repo):
    sleeps = []
    provider = make_provider(server_token, sleeps)
    fake.fail("GET", r"/repos/octo/churn", 502)
    export_repo.export()
    result = publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert result.status == "created" and sleeps == [1.0]


def test_lost_pr_create_response_makes_no_duplicate(fake, server_token, export_repo):
    sleeps = []
    provider = make_provider(server_token, sleeps)
    export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    export_repo.export()
    fake.fail("POST", PULLS, 502, after=True)  # GitHub made the PR, the proxy lost the answer
    result = publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert len(fake.pulls["octo/churn"]) == 1 and fake.count("POST", PULLS) == 1
    assert result.pr_number == 1 and sleeps == [1.0]


def test_lost_repo_create_response_makes_no_duplicate(fake, server_token, export_repo):
    provider = make_provider(server_token)
    fake.fail("POST", r"/user/repos", 504, after=True)
    export_repo.export()
    result = publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert result.status == "created" and fake.count("POST", r"/user/repos") == 1


def test_secondary_rate_limit_honours_retry_after(fake, server_token, export_repo):
    sleeps = []
    provider = make_provider(server_token, sleeps)
    fake.fail(
        "POST",
        r"/user/repos",
        403,
        headers={"Retry-After": "7"},
        message="You have exceeded a secondary rate limit. Please wait a few minutes "
        "before you try again.",
    )
    export_repo.export()
    assert publish(provider, export_repo.path, SPEC, title="t", body="b").status == "created"
    assert sleeps == [7.0]


def test_429_is_retried_though_not_a_ratelimit_exception(fake, server_token, export_repo):
    sleeps = []
    provider = make_provider(server_token, sleeps)
    fake.fail("GET", r"/repos/octo/churn", 429, headers={"Retry-After": "3"})
    export_repo.export()
    assert publish(provider, export_repo.path, SPEC, title="t", body="b").status == "created"
    assert sleeps == [3.0]


def test_rate_limit_too_long_gives_up_at_once(fake, server_token):
    sleeps = []
    provider = make_provider(server_token, sleeps)
    fake.fail(
        "GET",
        r"/repos/octo/churn",
        403,
        times=9,
        headers={"X-RateLimit-Remaining": "0", "Retry-After": "3000"},
        message="API rate limit exceeded for user ID 1.",
    )
    with pytest.raises(UserError, match="rate limit.*3000s"):
        provider.ensure_repo(SPEC)
    assert sleeps == []


def test_persistent_5xx_is_bounded(fake, server_token):
    sleeps = []
    provider = make_provider(server_token, sleeps)
    fake.fail("GET", r"/repos/octo/churn", 503, times=99)
    with pytest.raises(UserError, match="kept failing"):
        provider.ensure_repo(SPEC)
    assert sleeps == [1.0, 2.0, 4.0] and fake.count("GET", r"/repos/octo/churn") == 4


def test_pygithub_retry_is_bounded_and_never_retries_post(server_token):
    provider = make_provider(server_token)
    retry = provider.gh.requester._Requester__retry
    assert retry.total == 2 and retry.status == 0 and not retry.status_forcelist
    assert "POST" not in retry.allowed_methods and "PATCH" not in retry.allowed_methods
    assert provider.gh.requester._Requester__timeout == 30


def test_401_is_a_clear_error(fake, export_repo):
    provider = make_provider("ghp_wrongwrongwrongwrongwrong")
    export_repo.export()
    with pytest.raises(UserError, match="GitHub rejected the credentials") as info:
        publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert "ghp_wrong" not in str(info.value)


def test_403_names_the_missing_permission(fake, server_token):
    provider = make_provider(server_token)
    fake.fail("POST", r"/orgs/acme/repos", 403, message="Resource not accessible by integration")
    with pytest.raises(UserError, match=r"acme/churn.*administration: write"):
        provider.ensure_repo(RepoSpec(name="churn", pipeline_id="p", owner="acme"))


def test_new_repo_not_yet_reachable_by_git(fake, git_server, server_token, export_repo):
    sleeps = []
    provider = make_provider(server_token, sleeps)
    export_repo.export()
    git_server.faults.not_found = 2  # GitHub's git side lags the API just after creation
    result = publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert result.status == "created" and sleeps == [1.0, 2.0]


def test_release_assets(fake, server_token, export_repo, tmp_path):
    import hashlib

    provider = make_provider(server_token)
    export_repo.export()
    model = tmp_path / "model.joblib"
    model.write_bytes(b"m" * 5000)
    result = publish(
        provider,
        export_repo.path,
        SPEC,
        title="t",
        body="b",
        artifacts="release",
        release_files=[model],
    )
    [a] = result.artifacts
    assert a.url == "https://github.com/octo/churn/releases/download/v1/model.joblib"
    assert a.sha256 == hashlib.sha256(b"m" * 5000).hexdigest() and a.size == 5000
    [rel] = fake.releases["octo/churn"]
    assert rel["tag_name"] == "v1" and rel["target_commitish"] == result.commit
    # Re-uploading the same file reuses the asset (its digest matches).
    ref = provider.ensure_repo(SPEC)
    again = provider.upload_release(ref, "v1", "x", [model], target=result.commit)
    assert again == [a] and fake.count("POST", r"/repos/octo/churn/releases/\d+/assets") == 1
    # Read back (an unchanged push decides by it): the asset and its digest; no release v2.
    assert provider.release_assets(ref, "v1") == {"model.joblib": f"sha256:{a.sha256}"}
    assert provider.release_assets(ref, "v2") is None


def test_github_app_installation(fake, git_server, tmp_path, export_repo):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "app.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    install_token = "ghs_INSTALLATIONTOKEN0000xyzxyzxyz"
    git_server.app.token = install_token
    provider = GitHubProvider(
        app_id=42,
        private_key_path=pem,
        installation_id=7,
        retry=RetryPolicy(sleep=lambda s: None),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    export_repo.export()
    spec = RepoSpec(name="churn", pipeline_id="churn-model", owner="acme")
    result = publish(provider, export_repo.path, spec, title="t", body="b")
    assert result.status == "created"
    assert fake.count("POST", r"/app/installations/7/access_tokens") >= 1
    with pytest.raises(UserError, match="which owner"):
        provider.ensure_repo(SPEC)


def test_missing_token_env(monkeypatch):
    monkeypatch.delenv("MY_GH", raising=False)
    with pytest.raises(UserError, match="MY_GH"):
        GitHubProvider(token_env="MY_GH")
