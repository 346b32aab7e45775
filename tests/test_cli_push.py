"""`gitexport push` end to end: a real bundle, real git, git-lfs, and the providers.

The local provider runs the whole flow against a bare repository; the GitHub flow uses the
`responses` fake of GitHub's REST API with a real git smart-HTTP + LFS server behind it.
Each push trains the penguins example, so the module is slow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from helpers import penguins_variant
from servers.exportrepo import git

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed"),
]

EXAMPLE = Path(str(resources.files("gitexport").joinpath("examples", "penguins")))


def bundle(tmp_path: Path, version: int, c: float) -> Path:
    return penguins_variant(tmp_path, version, c)


def push(*args: str, env: dict | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "gitexport", "push", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# The CLI in a process that reports, on stderr's last line, the modules it imported.
_RECORDING = (
    "import json, sys\n"
    "from gitexport.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def push_recording_imports(*args: str) -> tuple[dict, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _RECORDING, "push", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_local_provider_flow(tmp_path):
    remote = tmp_path / "remote" / "penguins.git"
    work = tmp_path / "work"
    common = ["--provider", "local", "--repo", str(remote), "--workdir", str(work)]

    first = push(str(bundle(tmp_path, 3, 0.5)), *common)
    assert first["status"] == "created" and first["branch"] == "main"
    heads = git(remote, "for-each-ref", "--format=%(refname)").split()
    assert heads == ["refs/heads/main"]

    second = push(str(bundle(tmp_path, 4, 0.25)), *common)
    assert second["status"] == "pr_opened" and second["branch"] == "gitexport/pl_penguins"
    third = push(str(bundle(tmp_path, 5, 0.1)), *common)
    assert third["status"] == "pr_updated" and third["pull_request"] == {
        **second["pull_request"],
        "action": "updated",
    }
    prs = json.loads((remote / "gitexport" / "pull-requests.json").read_text())
    assert len(prs) == 1
    body = prs[0]["body"] if isinstance(prs, list) else next(iter(prs.values()))["body"]
    # The PR's diff is main (v3) → v5: so is its body, with v4 and v5 in its history.
    assert "version 3 → 5" in body and "model parameter `C`: 0.5 → 0.1" in body
    assert "`C`: 0.5 → 0.25" in body and "`C`: 0.25 → 0.1" in body

    # Nothing changed and the remote has it all: digests and the remote's refs decide, with
    # no build (issue 13: a no-op push planned, rendered and trained for 41 s).
    again, imported = push_recording_imports(str(bundle(tmp_path, 5, 0.1)), *common)
    assert again["status"] == "up_to_date"
    assert again["pull_request"] == {**second["pull_request"], "action": "none"}
    assert again["commit"] == third["commit"] and again["pipeline"]["version"] == 5
    assert again["metrics"]["test"] == third["metrics"]["test"]
    assert not {"pandas", "numpy", "sklearn"} & imported, "the no-op push imported ML libraries"

    # A PR closed by hand since is not "up to date": the full push opens one again.
    prs = json.loads((remote / "gitexport" / "pull-requests.json").read_text())
    prs[0]["state"] = "closed"
    (remote / "gitexport" / "pull-requests.json").write_text(json.dumps(prs))
    reopened = push(str(bundle(tmp_path, 5, 0.1)), *common)
    assert reopened["status"] == "pr_opened"
    assert reopened["pull_request"]["number"] != second["pull_request"]["number"]

    # A branch deleted on the remote since is pushed again.
    git(remote, "branch", "-D", "gitexport/pl_penguins")
    restored = push(str(bundle(tmp_path, 5, 0.1)), *common)
    assert restored["status"] != "up_to_date"
    assert git(remote, "rev-parse", "gitexport/pl_penguins") == third["commit"]
    second = reopened  # the open PR from here on

    # A canvas on another machine has no working repository: it is seeded from the remote.
    shutil.rmtree(work)
    seeded = push(str(bundle(tmp_path, 5, 0.1)), *common)
    assert (
        seeded["status"] == "up_to_date"
        and seeded["pull_request"]["number"] == second["pull_request"]["number"]
    )


def test_release_artifacts_are_fetched_and_verified(tmp_path):
    remote = tmp_path / "remote" / "penguins.git"
    args = (
        str(bundle(tmp_path, 3, 0.5)),
        "--provider",
        "local",
        "--repo",
        str(remote),
        "--workdir",
        str(tmp_path / "work"),
        "--artifacts",
        "release",
    )
    result = push(*args)
    [artifact] = result["artifacts"]

    # Pushed again unchanged: the release holds the manifest's model with its digest, so
    # digests decide, with no build and no ML import.
    again, imported = push_recording_imports(*args)
    assert again["status"] == "up_to_date" and again["artifacts"] == result["artifacts"]
    assert again["commit"] == result["commit"]
    assert not {"pandas", "numpy", "sklearn"} & imported, "the no-op push imported ML libraries"
    # An asset that no longer matches (an upload cut short, a file replaced) is not "up to
    # date": the full push uploads the model again.
    asset = Path(artifact["url"].removeprefix("file://"))
    asset.write_bytes(b"half an upload")
    mended, imported = push_recording_imports(*args)
    assert "sklearn" in imported, "a damaged release was taken for up to date"
    assert mended["artifacts"] == result["artifacts"]
    import hashlib

    assert hashlib.sha256(asset.read_bytes()).hexdigest() == artifact["sha256"]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True)
    manifest = json.loads((clone / "models/manifest.json").read_text())
    assert manifest["artifacts"][0]["url"] == artifact["url"]
    assert manifest["artifacts"][0]["sha256"] == artifact["sha256"]
    assert not (clone / "models/trained/model.joblib").exists()
    subprocess.run([sys.executable, "scripts/fetch_artifacts.py"], cwd=clone, check=True)
    model = (clone / "models/trained/model.joblib").read_bytes()
    assert hashlib.sha256(model).hexdigest() == artifact["sha256"]

    # A tampered asset is refused and never written into place.
    (clone / "models/trained/model.joblib").unlink()
    Path(artifact["url"].removeprefix("file://")).write_bytes(b"not the model")
    proc = subprocess.run(
        [sys.executable, "scripts/fetch_artifacts.py"], cwd=clone, capture_output=True, text=True
    )
    assert proc.returncode != 0 and "does not match" in (proc.stderr + proc.stdout)
    assert not (clone / "models/trained/model.joblib").exists()


def test_github_flow_through_the_cli(tmp_path, git_server, server_token, monkeypatch, capsys):
    """create repo → push main → change → PR opened → change → the same PR updated."""
    import responses

    from gitexport.cli import main
    from servers.github_api import FakeGitHub

    monkeypatch.setenv("GITHUB_TOKEN", server_token)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    args = ["--provider", "github", "--repo", "octo/penguins", "--json"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeGitHub(git_server, token=server_token).install(rsps)
        outputs = []
        for version, c in ((3, 0.5), (4, 0.25), (5, 0.1)):
            assert main(["push", str(bundle(tmp_path, version, c)), *args]) == 0
            outputs.append(json.loads(capsys.readouterr().out))
    assert [o["status"] for o in outputs] == ["created", "pr_opened", "pr_updated"]
    assert [o["pull_request"]["action"] for o in outputs] == ["none", "opened", "updated"]
    urls = {o["pull_request"]["url"] for o in outputs[1:]}
    assert urls == {"https://github.com/octo/penguins/pull/1"}
    assert len(fake.pulls["octo/penguins"]) == 1
    assert fake.count("POST", r"/repos/octo/penguins/pulls") == 1
    assert set(git_server.heads("octo/penguins")) == {"main", "gitexport/pl_penguins"}
    for output in outputs:
        assert server_token not in json.dumps(output)


def test_a_pipeline_id_the_trailers_cannot_hold_is_refused(tmp_path):
    """Ids are compared exactly (issue 12 item 4): one that a trailer line would flatten
    (``pl\tpenguins`` would become ``pl penguins``) is refused as an invalid document,
    and nothing is created on the remote."""
    target = penguins_variant(tmp_path, 3, 0.5)
    doc = json.loads((target / "pipeline.json").read_text())
    doc["pipeline"]["id"] = "pl\tpenguins  v2\n"
    (target / "pipeline.json").write_text(json.dumps(doc))
    remote = tmp_path / "r.git"
    proc = subprocess.run(
        [sys.executable, "-m", "gitexport", "push", str(target), "--provider", "local"]
        + ["--repo", str(remote), "--workdir", str(tmp_path / "work"), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2, proc.stderr
    assert "pipeline.id" in proc.stdout + proc.stderr
    assert not remote.exists()  # refused before the repository was created
