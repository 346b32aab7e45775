"""GitLabProvider + publish(): REST faked with ``responses`` (GitLab-shaped payloads), git and
LFS real (local git http-backend + giftless)."""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest
import responses

from gitexport.errors import UserError
from gitexport.http_retry import RetryPolicy
from gitexport.providers.base import RepoSpec
from gitexport.providers.gitlab import GitLabProvider
from gitexport.publish import publish
from servers.gitlab_api import FakeGitLab

SPEC = RepoSpec(name="churn", pipeline_id="churn-model", description="Churn model")
MRS = r"/projects/\d+/merge_requests"


@pytest.fixture
def fake(git_server, server_token):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeGitLab(git_server, token=server_token).install(rsps)


def make_provider(token, sleeps=None):
    return GitLabProvider(
        token=token,
        base_url="https://gitlab.example.com",
        retry=RetryPolicy(
            attempts=4, sleep=(sleeps.append if sleeps is not None else (lambda s: None))
        ),
    )


def test_full_flow(fake, git_server, server_token, export_repo):
    provider = make_provider(server_token)
    first = export_repo.export()
    r1 = publish(provider, export_repo.path, SPEC, title="Export v1", body="b1")
    assert r1.status == "created" and r1.repo_url == "https://gitlab.example.com/tanuki/churn"
    project = fake.project_by_path("tanuki/churn")
    assert project["visibility"] == "private" and project["default_branch"] == "main"
    assert git_server.heads("tanuki/churn") == {"main": first}
    assert export_repo.model_oid() in git_server.lfs_objects()

    second = export_repo.export()
    r2 = publish(
        provider,
        export_repo.path,
        SPEC,
        title="Export v2",
        body="body 2",
        draft=True,
        reviewers=["alice"],
    )
    assert r2.status == "pr_opened" and r2.pr_number == 1
    assert r2.pr_url == "https://gitlab.example.com/tanuki/churn/-/merge_requests/1"
    [mr] = fake.mrs[project["id"]]
    assert mr["title"] == "Draft: Export v2" and mr["labels"] == ["gitexport"]
    assert mr["reviewer_ids"] == [5] and mr["state"] == "opened"
    assert git_server.heads("tanuki/churn")[export_repo.branch] == second

    export_repo.export()
    r3 = publish(provider, export_repo.path, SPEC, title="Export v3", body="body 3")
    assert r3.status == "pr_updated" and r3.pr_number == 1
    assert mr["description"] == "body 3" and mr["title"] == "Draft: Export v3"

    r4 = publish(provider, export_repo.path, SPEC, title="Export v3", body="body 3")
    assert r4.status == "up_to_date"
    assert fake.count("POST", MRS) == 1 and fake.count("PUT", MRS + r"/\d+") == 1
    listed = [q for m, p, q in fake.calls if m == "GET" and p.endswith("/merge_requests")]
    assert listed and all("state=opened" in q for q in listed)


def test_group_project(fake, server_token, export_repo):
    provider = make_provider(server_token)
    export_repo.export()
    spec = RepoSpec(name="churn", pipeline_id="churn-model", owner="acme/ml", visibility="internal")
    result = publish(provider, export_repo.path, spec, title="t", body="b")
    assert result.status == "created"
    project = fake.project_by_path("acme/ml/churn")
    assert project["namespace"]["id"] == 10 and project["visibility"] == "internal"
    with pytest.raises(UserError, match="nope/churn was not found"):
        provider.ensure_repo(RepoSpec(name="churn", pipeline_id="x", owner="nope"))


def test_429_and_502_are_retried(fake, server_token, export_repo):
    sleeps = []
    provider = make_provider(server_token, sleeps)
    fake.fail("GET", r"/projects/tanuki/churn", 429, headers={"Retry-After": "5"})
    fake.fail("POST", r"/projects", 502, after=True)  # created, answer lost
    export_repo.export()
    result = publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert result.status == "created" and sleeps == [5.0, 2.0]
    assert fake.count("POST", r"/projects") == 1 and len(fake.projects) == 1


def test_lost_mr_create_answer_makes_no_duplicate(fake, server_token, export_repo):
    provider = make_provider(server_token)
    export_repo.export()
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    export_repo.export()
    fake.fail("POST", MRS, 500, after=True)
    result = publish(provider, export_repo.path, SPEC, title="t", body="b")
    assert result.pr_number == 1 and fake.count("POST", MRS) == 1
    assert sum(len(v) for v in fake.mrs.values()) == 1


def test_401_and_403(fake, server_token):
    with pytest.raises(UserError, match="GitLab rejected the token"):
        make_provider("glpat-wrongwrongwrongwrong").ensure_repo(SPEC)
    fake.fail("POST", r"/projects", 403)
    with pytest.raises(
        UserError,
        match=r"refused to find or create the project on "
        r"tanuki/churn \(403",
    ):
        make_provider(server_token).ensure_repo(SPEC)


def test_release_package_and_link(fake, server_token, export_repo, tmp_path):
    provider = make_provider(server_token)
    export_repo.export()
    big = tmp_path / "model.joblib"
    size = 48 * 1024 * 1024
    with open(big, "wb") as fh:  # sparse: no RAM or disk cost to make
        fh.truncate(size)
    ref = provider.ensure_repo(SPEC)
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    [artifact] = provider.upload_release(
        ref, "v1", "churn-model 1", [big], target=export_repo.head()
    )
    assert artifact.size == size
    zeros = hashlib.sha256()
    for _ in range(48):
        zeros.update(b"\0" * (1024 * 1024))
    assert artifact.sha256 == zeros.hexdigest() == fake.packages[0]["file_sha256"]
    pid = fake.project_by_path("tanuki/churn")["id"]
    assert artifact.url == (
        f"https://gitlab.example.com/api/v4/projects/{pid}/packages/generic/churn/1/model.joblib"
    )
    rel = fake.releases[(pid, "v1")]
    assert rel["ref"] == export_repo.head()
    assert [lk["url"] for lk in rel["links"]] == [artifact.url]
    # again: the link is kept, not duplicated
    provider.upload_release(ref, "v1", "churn-model 1", [big], target=export_repo.head())
    assert len(rel["links"]) == 1
    # Read back: the linked file and the digest of its newest upload; no release v2.
    assert provider.release_assets(ref, "v1") == {"model.joblib": f"sha256:{artifact.sha256}"}
    assert provider.release_assets(ref, "v2") is None


def test_release_assets_read_the_newest_upload_of_a_linked_file(
    fake, server_token, export_repo, tmp_path
):
    provider = make_provider(server_token)
    export_repo.export()
    ref = provider.ensure_repo(SPEC)
    publish(provider, export_repo.path, SPEC, title="t", body="b")
    model = tmp_path / "model.joblib"
    model.write_bytes(b"first")
    provider.upload_release(ref, "v1", "churn 1", [model], target=export_repo.head())
    # A later run uploads other bytes under the same name (a download serves the newest)...
    model.write_bytes(b"second")
    provider.upload_package_file(ref.id, "churn", "1", model)
    second = f"sha256:{hashlib.sha256(b'second').hexdigest()}"
    assert provider.release_assets(ref, "v1") == {"model.joblib": second}
    # ... a package whose name merely contains ours is not ours (the API's filter is fuzzy) ...
    model.write_bytes(b"other")
    provider.upload_package_file(ref.id, "churn-old", "1", model)
    assert provider.release_assets(ref, "v1") == {"model.joblib": second}
    # ... and a file uploaded but never linked (a run cut short) is not in the release.
    extra = tmp_path / "extra.bin"
    extra.write_bytes(b"x")
    provider.upload_package_file(ref.id, "churn", "1", extra)
    assert provider.release_assets(ref, "v1") == {"model.joblib": second}


def test_release_through_publish(fake, server_token, export_repo, tmp_path):
    provider = make_provider(server_token)
    export_repo.export()
    f = tmp_path / "metrics.json"
    f.write_text("{}")
    result = publish(
        provider,
        export_repo.path,
        SPEC,
        title="t",
        body="b",
        artifacts="release",
        release_files=[f],
    )
    assert [a.name for a in result.artifacts] == ["metrics.json"]
    assert result.artifacts[0].sha256 == hashlib.sha256(b"{}").hexdigest()


@pytest.mark.slow
def test_package_upload_streams_from_disk(tmp_path):
    """Against a real HTTP server (responses reads bodies whole): 96 MiB, bounded memory."""
    from servers.sink import SinkServer

    big = tmp_path / "model.joblib"
    size = 96 * 1024 * 1024
    with open(big, "wb") as fh:  # sparse
        fh.truncate(size)
    sink = SinkServer().start()
    try:
        provider = GitLabProvider(
            token="glpat-sinksinksinksinksink",
            base_url=sink.base_url,
            retry=RetryPolicy(sleep=lambda s: None),
        )
        tracemalloc.start()
        try:
            url = provider.upload_package_file(7, "churn", "1", big)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        sink.stop()
    assert peak < 16 * 1024 * 1024, f"upload held {peak / 2**20:.0f} MiB in memory"
    [(path, received, _digest, token)] = sink.received
    assert path == "/api/v4/projects/7/packages/generic/churn/1/model.joblib"
    assert received == size and token == "glpat-sinksinksinksinksink"
    assert url == sink.base_url + "/api/v4/projects/7/packages/generic/churn/1/model.joblib"
