"""The public library API (`gitexport.api`): progress, cancellation, result objects, preview.

The fast tests cover the reporter, the error objects and a preview (no training); the slow
ones export and push the penguins example for real and cancel at every phase.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from gitexport import api
from gitexport.errors import (
    ERROR_CODES,
    Cancelled,
    ConflictError,
    DocumentError,
    ForgeAuthError,
    ParityError,
    Problem,
    error_dict,
)
from gitexport.progress import BUILD_PHASES, EXPORT_PHASES, PHASES, Reporter
from helpers import penguins_variant, training_processes


class Recorder:
    """A progress callback that keeps every call, and can cancel when a phase starts."""

    def __init__(self, cancel_at: str | None = None, delay: float = 0.0):
        self.calls: list[tuple[str, float, str]] = []
        self.cancel = threading.Event()
        self.cancel_at = cancel_at
        self.delay = delay

    def __call__(self, phase: str, fraction: float, message: str) -> None:
        self.calls.append((phase, fraction, message))
        if phase == self.cancel_at and not self.cancel.is_set():
            if self.delay:
                threading.Timer(self.delay, self.cancel.set).start()
            else:
                self.cancel.set()

    @property
    def phases(self) -> list[str]:
        seen: list[str] = []
        for phase, _, _ in self.calls:
            if not seen or seen[-1] != phase:
                seen.append(phase)
        return seen

    def assert_monotonic(self) -> None:
        fractions = [f for _, f, _ in self.calls]
        assert fractions == sorted(fractions), fractions
        assert all(0.0 <= f <= 1.0 for f in fractions)


# --- fast --------------------------------------------------------------------------------


def test_reporter_phases_fractions_and_cancel():
    rec = Recorder()
    rep = Reporter(rec, rec.cancel, EXPORT_PHASES)
    for phase in EXPORT_PHASES:
        rep.enter(phase)
        rep.advance(0.5, "half way")
        rep.advance(0.2, "a late, smaller report must not move the bar back")
    rep.finish()
    assert rec.phases == list(EXPORT_PHASES)
    rec.assert_monotonic()
    assert rec.calls[-1][1] == 1.0
    # The slices cover [0, 1]: the first phase starts at 0, each later one after the previous.
    starts = [f for phase, f, m in rec.calls if m == phase]
    assert starts[0] == 0.0 and starts == sorted(set(starts))

    rec.cancel.set()
    with pytest.raises(Cancelled) as info:
        rep.enter("commit")
    assert info.value.code == "cancelled" and info.value.exit_code == 130
    with pytest.raises(ValueError):
        Reporter(phases=BUILD_PHASES).enter("push")  # not a phase of a build


def test_cancel_accepts_a_callable():
    flag = {"stop": False}
    rep = Reporter(None, lambda: flag["stop"], PHASES)
    rep.enter("validate")
    flag["stop"] = True
    with pytest.raises(Cancelled):
        rep.enter("plan")


def test_every_error_carries_a_service_code():
    cases = {
        DocumentError([Problem("nodes[3] (n4).config.strategy", "unknown strategy")]): (
            "invalid_document"
        ),
        ParityError("parity check failed"): "parity",
        ConflictError("someone pushed"): "conflict",
        ForgeAuthError("bad credentials"): "forge_auth",
        Cancelled("cancelled"): "cancelled",
        RuntimeError("boom"): "internal",
    }
    for exc, code in cases.items():
        error = error_dict(exc)
        assert error["code"] == code and code in ERROR_CODES
        assert json.loads(json.dumps(error)) == error
    doc = error_dict(next(iter(cases)))
    assert doc["problems"] == [
        {"where": "nodes[3] (n4).config.strategy", "message": "unknown strategy"}
    ]
    # An unexpected exception's text may hold anything: only its type is reported.
    assert "boom" not in error_dict(RuntimeError("boom"))["message"]


def test_preview_of_a_new_repository_lists_every_file_as_added(tmp_path):
    preview = api.preview(api.example("penguins"), repo_dir=tmp_path / "nothing-yet")
    assert not preview.up_to_date
    changes = {f.change for f in preview.files}
    assert changes == {"added"}
    paths = {f.path for f in preview.files}
    assert {"src/models/train.py", "models/trained/model.joblib", ".gitexport/plan.json"} <= paths
    assert preview.plan["pipeline"]["id"] == "pl_penguins"
    assert "first export" in preview.summary_markdown
    again = api.Preview.model_validate_json(preview.model_dump_json())
    assert again == preview


def test_preview_refuses_a_broken_document(tmp_path):
    bundle = penguins_variant(tmp_path, 3, 0.5)
    doc = json.loads((bundle / "pipeline.json").read_text())
    doc["graph"]["nodes"][0]["type"] = "no_such_node"
    (bundle / "pipeline.json").write_text(json.dumps(doc))
    with pytest.raises(DocumentError) as info:
        api.preview(bundle)
    assert info.value.to_dict()["problems"]


def test_cli_json_prints_the_error_object(tmp_path, capsys):
    from gitexport.cli import main

    rc = main(["push", str(tmp_path / "missing"), "--provider", "local", "--repo", "x", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 2 and out["error"]["code"] == "invalid_document"


# --- slow: real exports, pushes and cancellations ------------------------------------


def _repo_state(repo: Path) -> dict:
    """Refs, index and working tree: what a cancelled export must leave as it was."""
    if not (repo / ".git").exists():
        return {"exists": repo.exists() and any(repo.iterdir())}
    refs = subprocess.run(
        ["git", "-C", str(repo), "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {"refs": refs, "status": status}


@pytest.mark.slow
def test_export_reports_every_phase_in_order_and_results_round_trip(tmp_path):
    rec = Recorder()
    result = api.export(api.example("penguins"), tmp_path / "repo", progress=rec)
    assert rec.phases == list(EXPORT_PHASES)
    rec.assert_monotonic()
    assert rec.calls[-1][1] == 1.0
    assert result.status == "created" and result.parity["ok"]
    assert result.parity["reproduced"] == result.parity["rows"] > 0
    assert api.ExportResult.model_validate(json.loads(json.dumps(result.to_dict()))) == result

    # Unchanged pipeline: the preview says so without training, and the export agrees.
    preview = api.preview(api.example("penguins"), repo_dir=tmp_path / "repo")
    assert preview.up_to_date and {f.change for f in preview.files} == {"unchanged"}
    # An unchanged re-export is decided by digests: no planning, no training, no ML import.
    probe = (
        "import sys; from gitexport import api; "
        f"r = api.export(api.example('penguins'), {str(tmp_path / 'repo')!r}); "
        "print(r.model_dump_json()); "
        "print(sorted(m for m in ('pandas', 'sklearn', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    again = api.ExportResult.model_validate_json(out[-2])
    assert again.status == "up_to_date" and out[-1] == "[]"
    # ... and still says how the shipped model compared with the canvas.
    assert again.parity == result.parity and again.metrics == result.metrics
    # Other options make another export (its id covers them).
    other = api.export(api.example("penguins"), tmp_path / "repo", api.ExportOptions(docker=False))
    assert other.status == "merged"

    # A changed hyperparameter: the config changes, the summary names it.
    changed = api.preview(penguins_variant(tmp_path, 4, 0.25), repo_dir=tmp_path / "repo")
    assert not changed.up_to_date
    modified = {f.path for f in changed.files if f.change == "modified"}
    assert "config/model_config.yaml" in modified
    assert "model parameter `C`" in changed.summary_markdown


@pytest.mark.slow
def test_cancelling_an_export_at_each_phase_leaves_the_repo_as_it_was(tmp_path):
    """A cancel asked for during a phase stops the export before its next step."""
    repo = tmp_path / "repo"
    api.export(penguins_variant(tmp_path, 3, 0.5), repo)
    v4 = penguins_variant(tmp_path, 4, 0.25)
    before = _repo_state(repo)
    for phase in EXPORT_PHASES[:-1]:
        rec = Recorder(cancel_at=phase)
        with pytest.raises(Cancelled):
            api.export(v4, repo, progress=rec, cancel=rec.cancel)
        assert rec.phases[-1] == phase
        assert _repo_state(repo) == before, f"cancelled during {phase}"
    # Asked during the last step, the cancel comes too late: the export completes, once.
    rec = Recorder(cancel_at="commit")
    assert api.export(v4, repo, progress=rec, cancel=rec.cancel).status == "merged"
    assert api.export(v4, repo).status == "up_to_date"


@pytest.mark.slow
def test_cancel_during_training_stops_the_training_process(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the staging folder goes here
    rec = Recorder(cancel_at="train", delay=1.0)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        api.build(api.example("telco_churn"), progress=rec, cancel=rec.cancel)
    assert rec.phases[-1] == "train"
    assert time.monotonic() - started < 60  # telco trains for far longer than this
    assert not training_processes(tmp_path)


@pytest.mark.slow
def test_cancelling_a_push_at_each_phase_leaves_the_remote_consistent(tmp_path):
    """Against a real bare repository: no ref moves before its objects, no PR before its
    branch, and a rerun converges on one pull request."""
    remote = tmp_path / "remote.git"
    work = tmp_path / "work"
    target = api.Target(provider="local", repo=str(remote))
    first = api.push(penguins_variant(tmp_path, 3, 0.5), target, token=None, workdir=work)
    assert first.status == "created"
    built = api.build(penguins_variant(tmp_path, 4, 0.25), target_provider="local")
    remote_before = _repo_refs(remote)

    rec = Recorder(cancel_at="commit")  # stops before anything reaches the remote
    with pytest.raises(Cancelled):
        api.publish(built, target, token=None, workdir=work, progress=rec, cancel=rec.cancel)
    assert _repo_refs(remote) == remote_before and _prs(remote) == []

    rec = Recorder(cancel_at="push")  # refs move whole or not at all; no PR is opened
    with pytest.raises(Cancelled):
        api.publish(built, target, token=None, workdir=work, progress=rec, cancel=rec.cancel)
    assert rec.phases[-1] in ("push", "pull_request")
    assert _prs(remote) == []
    fsck = subprocess.run(["git", "-C", str(remote), "fsck", "--connectivity-only"])
    assert fsck.returncode == 0  # no ref points at a commit whose objects are missing

    rec = Recorder(cancel_at="pull_request")  # too late to stop: the push completes
    result = api.publish(built, target, token=None, workdir=work, progress=rec, cancel=rec.cancel)
    assert result.status == "pr_opened" and len(_prs(remote)) == 1
    again = api.publish(built, target, token=None, workdir=work)
    assert again.status == "up_to_date" and again.pull_request.number == result.pull_request.number
    assert len(_prs(remote)) == 1


def _repo_refs(bare: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(bare), "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _prs(bare: Path) -> list[dict]:
    path = bare / "gitexport" / "pull-requests.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else list(data.values())


@pytest.mark.slow
def test_the_readme_python_example_pushes_and_prints_progress(
    tmp_path, git_server, server_token, monkeypatch, capsys
):
    """The README's example, run as written against the GitHub test server."""
    import re
    import shutil

    import responses

    from servers.github_api import FakeGitHub

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    [snippet] = re.findall(r"### From Python.*?```python\n(.*?)```", readme, re.S)
    shutil.copytree(api.example("penguins"), tmp_path / "my-bundle")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeGitHub(git_server, token=server_token).install(rsps)
        fake.orgs.add("my-org")
        exec(compile(snippet, "README.md", "exec"), {"my_token": server_token})
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:2]] == ["validate", "plan"]
    assert any(line.startswith("pull_request") for line in out)
    assert set(git_server.heads("my-org/churn-model")) == {"main"}
    # The first push goes to main (no pull request): the example prints None.
    assert out[-1] == "None"
    assert server_token not in "\n".join(out)


@pytest.mark.parametrize("case", ["not_git", "other_pipeline", "dirty"])
def test_export_refusals_come_before_training(case, tmp_path, export_repo):
    """Issue 12: a refused --out was only refused after 25-30 s of training."""
    from gitexport.errors import UserError

    if case == "not_git":
        repo = tmp_path / "stuff"
        repo.mkdir()
        (repo / "notes.txt").write_text("mine")
    else:
        export_repo.pipeline_id = "someone-else" if case == "other_pipeline" else "pl_penguins"
        export_repo.export()
        repo = export_repo.path
        if case == "dirty":
            (repo / "README.md").write_text("edited, not committed")
    rec = Recorder()
    with pytest.raises(UserError) as info:
        api.export(api.example("penguins"), repo, progress=rec)
    assert "train" not in rec.phases and "render" not in rec.phases
    expected = {"not_git": "not a git repository", "other_pipeline": "holds exports of"}
    assert expected.get(case, "uncommitted changes") in str(info.value)


def test_push_refusals_come_before_training(tmp_path):
    from gitexport.errors import UserError

    rec = Recorder()
    target = api.Target(provider="github", repo="octo/penguins")
    with pytest.raises(UserError, match="token"):
        api.push(api.example("penguins"), target, token=None, workdir=tmp_path, progress=rec)
    assert "train" not in rec.phases
    bad_name = api.Target(provider="github", repo="/")
    with pytest.raises(UserError, match="OWNER/NAME"):
        api.push(api.example("penguins"), bad_name, token="t", workdir=tmp_path / "w")


@pytest.mark.slow
def test_a_pull_request_merged_on_the_forge_is_the_next_bodys_base(tmp_path):
    """After v4's PR is merged on the forge, v5's PR body describes v4 → v5, not v3 → v5."""
    remote = tmp_path / "remote.git"
    work = tmp_path / "work"
    target = api.Target(provider="local", repo=str(remote))
    api.push(penguins_variant(tmp_path, 3, 0.5), target, token=None, workdir=work)
    second = api.push(penguins_variant(tmp_path, 4, 0.25), target, token=None, workdir=work)
    assert second.status == "pr_opened"
    # Merge the PR on the "forge": a merge commit on the remote's main.
    clone = tmp_path / "clone"
    env = {"GIT_LFS_SKIP_SMUDGE": "1"}
    run = lambda *a: subprocess.run(  # noqa: E731
        ["git", "-C", str(clone), *a], check=True, capture_output=True, env={**os.environ, **env}
    )
    subprocess.run(
        ["git", "clone", "-q", str(remote), str(clone)], check=True, env={**os.environ, **env}
    )
    run(
        "-c",
        "user.name=reviewer",
        "-c",
        "user.email=r@example.com",
        "merge",
        "--no-ff",
        "-q",
        "-m",
        "Merge the canvas export",
        "origin/gitexport/pl_penguins",
    )
    run("push", "-q", "origin", "main")
    merged_main = run("rev-parse", "HEAD").stdout.decode().strip()

    third = api.push(penguins_variant(tmp_path, 5, 0.1), target, token=None, workdir=work)
    assert third.status in ("pr_opened", "pr_updated")
    body = _prs(remote)[-1]["body"]
    assert "version 4 → 5" in body, body[:400]
    local_main = subprocess.run(
        ["git", "-C", str(work), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert local_main == merged_main
