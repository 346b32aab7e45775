"""The generated GitHub Actions, run by act for each bundled example, on a pull request and a push.

Each example is exported with its data in full (so CI has the verify job) and Docker and
Kubernetes on (so CD has the image and the deploy job). For the pull request, ``main`` holds an
earlier export (a test metric 0.1 lower) and ``gitexport/<example>`` the export; for the push,
``main`` holds the export. act runs, in host mode with the remote actions stubbed
(tests/act_workflows.py):

* pull request: every CI job but the image (Docker daemon) — lint and the project's tests,
  the model report twice (ONE comment on the fake GitHub, created then edited), the security
  scan (pip-audit against a fake OSV, bandit, detect-secrets) and the retraining check;
* push to main: the same jobs (the report writes the summary and posts nothing), then CD's
  deploy job after the stubbed image push, without a KUBECONFIG (skips with a notice) and with
  one (a recording kubectl gets the manifests and the pushed digest);
* every step of every job that ran passed, and every job of the workflows either ran or is in
  the documented list of jobs that need a Docker daemon.

For penguins, the security job also fails, readably, on a known vulnerability, on a bandit
finding and on a committed secret.
"""

from __future__ import annotations

import json
import os
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from act_workflows import (
    IMAGE_DIGEST,
    NOT_RUN_JOBS,
    STUBBED_ACTIONS,
    Act,
    JobRun,
    export_repository,
    remote_actions,
    workflow,
)
from gitexport.build import build_project
from gitexport.load import plan_bundle
from gitexport.packages import CI_SCANNERS
from gitexport.render import RenderOptions
from gitexport.tree import write_tree
from helpers import EXAMPLES, REPO_ROOT, tool
from servers.comments_api import FakeComments, ours, serve
from servers.exportrepo import git
from servers.osv_api import FakeOsv, serve_osv

pytestmark = pytest.mark.slow

TOKEN = "ghs_actSecretTokenValue456"
SHA = "89abcdef0123456789abcdef0123456789abcdef"
NUMBER = 7


@dataclass
class Project:
    example: str
    tree: Path
    slug: str  # owner/name on the fake GitHub
    branch: str  # the export branch

    def pull_request(self) -> dict:
        repo = {"full_name": self.slug}
        head = {"ref": self.branch, "sha": SHA, "repo": repo}
        base = {"ref": "main", "repo": repo}
        return {"pull_request": {"number": NUMBER, "head": head, "base": base}}


def exported(example: str, tmp_path_factory) -> Project:
    """``example`` built with its data in full (the verify job), Docker and Kubernetes on."""
    with build_project(plan_bundle(EXAMPLES / example), RenderOptions(data="full")) as built:
        root = tmp_path_factory.mktemp(example)
        write_tree(root, built.files)
    return Project(example, root, f"acme/{example.replace('_', '-')}", f"gitexport/{example}")


@pytest.fixture(scope="module", params=["penguins", "diamonds", "telco_churn"])
def project(request, tmp_path_factory) -> Project:
    return exported(request.param, tmp_path_factory)


@dataclass
class Fakes:
    comments: FakeComments
    osv: FakeOsv
    env: dict[str, str]  # what points the jobs at them


@contextmanager
def fake_servers(slug: str):
    """The fake GitHub comments API for ``slug`` and the fake OSV, both over real HTTP."""
    comments, osv = FakeComments(), FakeOsv()
    github, github_url = serve(comments, "github", repo=slug, number=NUMBER)
    osv_httpd, osv_url = serve_osv(osv)
    env = {"GITHUB_API_URL": f"{github_url}/api/v3", "PIP_AUDIT_OSV_URL": osv_url}
    try:
        yield Fakes(comments, osv, env)
    finally:
        for httpd in (github, osv_httpd):
            httpd.shutdown()
            httpd.server_close()


@pytest.fixture
def fakes(project):
    with fake_servers(project.slug) as running:
        yield running


def act_for(project: Project, repo: Path, tmp_path: Path, fakes: Fakes, **env: str) -> Act:
    return Act(
        tool("act"),
        repo,
        tmp_path,
        env={"GITHUB_REPOSITORY": project.slug, **fakes.env, **env},
        secrets={"GITHUB_TOKEN": TOKEN},
    )


def assert_every_step_passed(
    run: JobRun, job: str, workflow_file: str, repo: Path, may_skip: tuple[str, ...] = ()
) -> None:
    """Each step of ``job`` ran and passed, except ``may_skip`` (an ``if:`` false for this
    event) and the steps that run only when an earlier one failed."""
    results = run.steps.get(job, {})
    for step in workflow(repo, workflow_file)["jobs"][job]["steps"]:
        name = step.get("name") or step.get("uses")
        result = results.get(name)
        if result == "success":
            assert name not in may_skip, f"{workflow_file} {job}: {name!r} ran"
            continue
        allowed = name in may_skip or step.get("if") == "failure()"
        assert allowed and result in (None, "skipped"), (
            f"{workflow_file} {job}: step {name!r} {result or 'did not run'}\n" + run.output[-6000:]
        )


def metric_row(repo: Path, branch_metrics: dict) -> str:
    """The start of the report's row for the metric the earlier export had 0.1 lower."""
    base = json.loads(git(repo, "show", "main:models/metrics.json"))["test"]
    name = next(iter(branch_metrics["test"]))
    return f"| test | {name} | {base[name]:.4f} | {branch_metrics['test'][name]:.4f} | +0.1000 "


def test_every_job_either_runs_or_needs_docker(project):
    """The workflows' jobs are the ones these tests run plus the documented Docker-only ones,
    and every remote action used has a stub with a reason."""
    tree = project.tree
    ci = set(workflow(tree, "ci.yml")["jobs"])
    cd = set(workflow(tree, "cd.yml")["jobs"])
    not_run = {job for (file, job) in NOT_RUN_JOBS if file == "ci.yml"}
    assert ci - not_run == set(ci_jobs(tree)), "a CI job is neither run nor listed as skipped"
    assert cd == {"publish", "deploy"}  # deploy runs after publish, whose actions are stubs
    for used in remote_actions(tree):
        assert used.split("@")[0] in STUBBED_ACTIONS, used


def ci_jobs(repo: Path) -> list[str]:
    """The CI jobs act runs, in the workflow's order (all but the Docker-only ones)."""
    jobs = workflow(repo, "ci.yml")["jobs"]
    return [job for job in jobs if ("ci.yml", job) not in NOT_RUN_JOBS]


def test_pull_request_runs_every_ci_job(project, tmp_path, fakes):
    repo = export_repository(project.tree, tmp_path, project.branch)
    branch_metrics = json.loads((repo / "models" / "metrics.json").read_text())
    act = act_for(project, repo, tmp_path, fakes)
    runs = {}
    for job in ci_jobs(repo):
        runs[job] = act.run("pull_request", "ci.yml", job, project.pull_request())
        assert_every_step_passed(runs[job], job, "ci.yml", repo)
        assert TOKEN not in runs[job].output
    # lint, then the generated project's own tests
    assert "All checks passed" in runs["test"].output
    assert " passed" in runs["test"].output and " failed" not in runs["test"].output
    # the report: metrics against main, as one comment, edited on the next push
    assert "pull request comment created" in runs["report"].output
    assert metric_row(repo, branch_metrics) in runs["report"].output
    again = act.run("pull_request", "ci.yml", "report", project.pull_request())
    assert "pull request comment updated" in again.output
    (comment,) = ours(fakes.comments)
    assert metric_row(repo, branch_metrics) in comment["body"]
    assert f"/{project.slug}/blob/{SHA}/reports/figures/" in comment["body"]
    methods = [call[0] for call in fakes.comments.calls]
    assert methods.count("POST") == 1 and methods.count("PATCH") == 1
    assert set(fakes.comments.auth) == {f"Bearer {TOKEN}"}  # the secret, via env only
    # pip-audit asked OSV about every pin and what they pull in; nothing known: it passed
    pins = [
        tuple(line.split("=="))
        for name in ("requirements.txt", "requirements-dev.txt")
        for line in (repo / name).read_text().splitlines()
        if "==" in line
    ]
    asked = set(fakes.osv.queries)
    assert set(pins) <= asked, f"not checked: {set(pins) - asked}"
    assert len(asked) > len(pins)  # the dependencies too
    assert "No known vulnerabilities found" in runs["security"].output
    # verify: retrained from data/raw, the model reproduces the committed one
    assert "reproduces the committed metrics and golden predictions" in runs["verify"].output


def test_push_to_main_runs_ci_and_deploys(project, tmp_path, fakes):
    repo = export_repository(project.tree, tmp_path)
    # github.repository comes from the remote; mixed case, as GHCR needs lower case.
    owner, name = project.slug.split("/")
    git(repo, "remote", "set-url", "origin", f"https://github.com/{owner.title()}/{name}.git")
    kbin, log = tmp_path / "kbin", tmp_path / "kubectl.log"
    kbin.mkdir()
    (kbin / "kubectl").write_text(
        f'#!/usr/bin/env bash\necho "$* | $(cat "$KUBECONFIG")" >> {log}\n'
    )
    (kbin / "kubectl").chmod(0o755)
    act = act_for(project, repo, tmp_path, fakes, PATH=f"{kbin}{os.pathsep}{os.environ['PATH']}")
    push = {"ref": "refs/heads/main"}
    for job in ci_jobs(repo):
        run = act.run("push", "ci.yml", job, push)
        pr_only = ("Base branch's metrics",) if job == "report" else ()
        assert_every_step_passed(run, job, "ci.yml", repo, may_skip=pr_only)
    assert fakes.comments.calls == []  # a push reports in the job summary only

    act.secrets = {}
    skipped = act.run("push", "cd.yml", "deploy", push)
    assert_every_step_passed(skipped, "publish", "cd.yml", repo)
    configured_only = ("Check out", "Apply the manifests with the new image")
    assert_every_step_passed(skipped, "deploy", "cd.yml", repo, may_skip=configured_only)
    assert "::notice title=Deployment skipped::" in skipped.output
    assert not log.exists()  # no kubectl without credentials

    act.secrets = {"KUBECONFIG": "apiVersion: v1  # the cluster"}
    deployed = act.run("push", "cd.yml", "deploy", push)
    assert_every_step_passed(deployed, "deploy", "cd.yml", repo)
    assert "Deployment skipped" not in deployed.output
    assert workflow(repo, "cd.yml")["jobs"]["deploy"]["environment"] == "production"
    image = f"ghcr.io/{project.slug}@{IMAGE_DIGEST}"
    lines = log.read_text().splitlines()
    assert lines[0] == "apply --filename deployment/kubernetes/ | apiVersion: v1  # the cluster"
    assert lines[1].startswith("set image deployment/") and f"api={image} |" in lines[1]
    assert lines[2].startswith("rollout status deployment/") and len(lines) == 3


@pytest.fixture(scope="module")
def penguins(tmp_path_factory) -> Project:
    return exported("penguins", tmp_path_factory)


def test_security_job_fails_readably_on_a_vulnerability_a_finding_and_a_secret(penguins, tmp_path):
    repo = export_repository(penguins.tree, tmp_path, penguins.branch)
    with fake_servers(penguins.slug) as fakes:
        act = act_for(penguins, repo, tmp_path, fakes)

        def failed_scan() -> str:
            run = act.run(
                "pull_request", "ci.yml", "security", penguins.pull_request(), check=False
            )
            assert not run.ok, run.output[-4000:]
            return run.output

        pin = next(p for p in (repo / "requirements.txt").read_text().splitlines() if "pyyaml" in p)
        version = pin.split("==")[1]
        fakes.osv.advise("pyyaml", version, "GHSA-test-0001", "Arbitrary code on load", "99.0")
        output = failed_scan()
        assert "Found 1 known vulnerability in 1 package" in output
        assert "GHSA-test-0001" in output and "99.0" in output
        assert "Arbitrary code on load" in output  # --desc on

        fakes.osv.advisories.clear()
        shell = "import subprocess\n\n\ndef run(command):\n    return subprocess.call(command, shell=True)\n"
        (repo / "src" / "run_shell.py").write_text(shell)
        git(repo, "add", "src/run_shell.py")
        git(repo, "commit", "-qm", "a shell call")
        output = failed_scan()
        assert "B602" in output and "src/run_shell.py" in output

        git(repo, "rm", "-q", "src/run_shell.py")
        (repo / "config" / "deploy.env").write_text("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLF\n")
        git(repo, "add", "config/deploy.env")
        git(repo, "commit", "-qm", "a key")
        output = failed_scan()
        assert "AWS Access Key" in output and "config/deploy.env" in output


def test_the_scanners_gitexport_runs_are_the_ones_the_workflow_pins():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["test"]
    for name, version in CI_SCANNERS:
        assert f"{name}=={version}" in extra
