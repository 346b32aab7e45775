"""The generated project's CI report (scripts/ci_report.py), run for real on a built tree.

* the job summary holds the metrics against the base branch's (fixed precision, an arrow
  that knows the metric's direction), the parity verdict and the figures' links by SHA;
* on a pull request the script keeps ONE comment, found by its hidden marker among pages of
  other comments, and edits it in place on the next push, against a fake GitHub REST API
  served over real HTTP on 127.0.0.1 (and the same for a GitLab merge request's note);
* the token is sent in a header only, never printed;
* scripts/verify_model.py passes a model retrained from the data and fails a changed one;
* the workflows for every switch that changes them (data shipped in full: the verify job;
  Kubernetes: the deploy job) pass actionlint and the workflow / GitLab CI JSON schemas.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from gitexport.build import build_project
from gitexport.load import plan_bundle
from gitexport.render import Assets, RenderOptions, render_project
from helpers import EXAMPLES

pytestmark = pytest.mark.slow

MARKER = "<!-- gitexport-ci-report -->"
TOKEN = "ghs_secretTokenValue123"
SHA = "0123456789abcdef0123456789abcdef01234567"


BIN = Path(sys.executable).parent
WORKFLOW_VARIANTS = {
    "all": RenderOptions(),
    "full": RenderOptions(data="full"),
    "full-release-no-docker": RenderOptions(
        data="full", artifacts="release", docker=False, kubernetes=False
    ),
    "no-kubernetes": RenderOptions(kubernetes=False),
    "gitlab": RenderOptions(provider="gitlab"),
    "gitlab-full": RenderOptions(provider="gitlab", data="full", kubernetes=False),
    "gitlab-full-no-docker": RenderOptions(
        provider="gitlab", data="full", docker=False, kubernetes=False
    ),
}


def tool(name: str) -> str:
    """The path of a command-line tool (the venv's first), or skip (fail under CI)."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    built = build_project(plan_bundle(EXAMPLES / "penguins"), RenderOptions())
    root = tmp_path_factory.mktemp("penguins")
    for rel, data in built.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def run_report(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_"))}
    base.pop("GITLAB_TOKEN", None)
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "ci_report.py"), *args],
        cwd=root,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def base_metrics(root: Path, tmp_path: Path, accuracy_change: float) -> Path:
    metrics = json.loads((root / "models" / "metrics.json").read_text())
    metrics["test"]["accuracy"] -= accuracy_change
    path = tmp_path / f"base-{accuracy_change}.json"
    path.write_text(json.dumps(metrics))
    return path


# --- the job summary ----------------------------------------------------------------------


def test_summary_has_metrics_against_base_parity_and_figure_links(tree, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    base = base_metrics(tree, tmp_path, 0.0125)
    env = {
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_REPOSITORY": "acme/penguins",
        "GITHUB_SERVER_URL": "https://ghe.example.com",
        "GITHUB_SHA": SHA,
    }
    proc = run_report(tree, "--base-metrics", str(base), env=env)
    assert proc.returncode == 0, proc.stderr
    text = summary.read_text()
    assert text.startswith("earlier step\n" + MARKER)  # appended, never overwritten
    shipped = json.loads((tree / "models" / "metrics.json").read_text())["test"]["accuracy"]
    row = f"| test | accuracy | {shipped - 0.0125:.4f} | {shipped:.4f} | +0.0125 ▲ better |"
    assert row in text
    assert "| test | f1 | " in text and "±0.0000" in text
    assert "confusion_matrix" not in text.split("### Parity")[0]  # matrices are no metric
    assert "reproduced 86 of the canvas's 86 reference predictions" in text
    for name in ("confusion_matrix.svg", "metrics.svg"):
        assert (tree / "reports" / "figures" / name).is_file()
        url = f"https://ghe.example.com/acme/penguins/blob/{SHA}/reports/figures/{name}?raw=true"
        assert url in text
    lineage = json.loads((tree / ".gitexport" / "lineage.json").read_text())
    assert f"(version {lineage['pipeline_version']})" in text
    assert lineage["data_sha256"] in text


def test_lower_is_better_metrics_get_the_right_arrow(tree, tmp_path):
    project = tmp_path / "regression"
    (project / "models").mkdir(parents=True)
    (project / "models" / "metrics.json").write_text(json.dumps({"test": {"rmse": 2.5}}))
    (tmp_path / "base.json").write_text(json.dumps({"test": {"rmse": 2.0}}))
    out = tmp_path / "report.md"
    proc = run_report(
        tree, "--root", str(project), "--base-metrics", str(tmp_path / "base.json"),
        "--output", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "| test | rmse | 2.0000 | 2.5000 | +0.5000 ▲ worse |" in text
    assert "No model card" in text  # no parity section to quote


def test_a_tree_without_metrics_fails_with_a_readable_error(tmp_path, tree):
    proc = run_report(tree, "--root", str(tmp_path), "--output", str(tmp_path / "x.md"))
    assert proc.returncode == 1
    assert "models/metrics.json is missing" in proc.stderr


# --- the one pull request comment -----------------------------------------------------------


class FakeComments:
    """Issue comments (GitHub) or merge request notes (GitLab), paginated with ``Link``."""

    def __init__(self, page_size: int = 2):
        self.items: list[dict] = [
            {"id": 1, "body": "LGTM"},
            {"id": 2, "body": "please rerun"},
            {"id": 3, "body": "a bot's note"},
        ]
        self.page_size = page_size
        self.calls: list[tuple[str, str]] = []
        self.auth: list[str] = []
        self.next_id = 100


def serve(fake: FakeComments, forge: str):
    """A real HTTP server on 127.0.0.1 for ``fake``; GitHub Enterprise or GitLab paths."""
    if forge == "github":
        list_path = re.compile(r"^/api/v3/repos/acme/penguins/issues/7/comments$")
        item_path = re.compile(r"^/api/v3/repos/acme/penguins/issues/comments/(\d+)$")
        edit = "PATCH"
    else:
        list_path = re.compile(r"^/api/v4/projects/acme%2Fpenguins/merge_requests/7/notes$")
        item_path = re.compile(r"^/api/v4/projects/acme%2Fpenguins/merge_requests/7/notes/(\d+)$")
        edit = "PUT"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status: int, payload, headers: dict | None = None):
            data = json.dumps(payload).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self):
            parts = urlsplit(self.path)
            fake.calls.append((self.command, parts.path))
            fake.auth.append(self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN"))
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            if self.command == "GET" and list_path.match(parts.path):
                page = int(parse_qs(parts.query).get("page", ["1"])[0])
                size = fake.page_size  # ignores per_page, as a server capping it would
                chunk = fake.items[(page - 1) * size : page * size]
                headers = {}
                if page * size < len(fake.items):
                    url = f"http://{self.headers['Host']}{parts.path}?per_page=100&page={page + 1}"
                    headers["Link"] = f'<{url}>; rel="next"'
                return self.reply(200, chunk, headers)
            if self.command == "POST" and list_path.match(parts.path):
                fake.next_id += 1
                item = {"id": fake.next_id, "body": body["body"]}
                fake.items.append(item)
                return self.reply(201, item)
            match = item_path.match(parts.path)
            if self.command == edit and match:
                item = next(i for i in fake.items if i["id"] == int(match.group(1)))
                item["body"] = body["body"]
                return self.reply(200, item)
            return self.reply(404, {"message": "Not Found"})

        do_GET = do_POST = do_PATCH = do_PUT = handle_any

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def ours(fake: FakeComments) -> list[dict]:
    return [item for item in fake.items if MARKER in item["body"]]


def test_github_pull_request_gets_one_comment_updated_in_place(tree, tmp_path):
    fake = FakeComments()
    httpd, url = serve(fake, "github")
    try:
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": 7}}))
        env = {
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_REPOSITORY": "acme/penguins",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_API_URL": f"{url}/api/v3",
            "GITHUB_SHA": SHA,
        }
        first = run_report(
            tree, "--github-comment", "--base-metrics", str(base_metrics(tree, tmp_path, 0.25)),
            "--summary", str(tmp_path / "s.md"), env=env,
        )  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert "comment created" in first.stdout
        assert [c[0] for c in fake.calls] == ["GET", "GET", "POST"]  # both pages read first
        (comment,) = ours(fake)
        assert "+0.2500 ▲ better" in comment["body"]

        fake.calls.clear()
        second = run_report(
            tree, "--github-comment", "--base-metrics", str(base_metrics(tree, tmp_path, -0.5)),
            "--summary", str(tmp_path / "s.md"), env=env,
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert "comment updated" in second.stdout
        assert ("PATCH", f"/api/v3/repos/acme/penguins/issues/comments/{comment['id']}") in (
            fake.calls
        )
        assert "POST" not in [c[0] for c in fake.calls]
        (updated,) = ours(fake)  # still one comment: the same, with the new numbers
        assert updated["id"] == comment["id"] and "−0.5000 ▼ worse" in updated["body"]
        assert [i["body"] for i in fake.items[:3]] == ["LGTM", "please rerun", "a bot's note"]
        assert set(fake.auth) == {f"Bearer {TOKEN}"}
        for proc in (first, second):
            assert TOKEN not in proc.stdout + proc.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_gitlab_merge_request_gets_one_note_updated_in_place(tree, tmp_path):
    fake = FakeComments(page_size=3)
    httpd, url = serve(fake, "gitlab")
    try:
        env = {
            "GITLAB_TOKEN": TOKEN,
            "CI_API_V4_URL": f"{url}/api/v4",
            "CI_PROJECT_ID": "acme/penguins",
            "CI_MERGE_REQUEST_IID": "7",
            "CI_PROJECT_URL": "https://gitlab.example.com/acme/penguins",
            "CI_COMMIT_SHA": SHA,
        }
        for _ in range(2):
            proc = run_report(tree, "--gitlab-note", "--output", str(tmp_path / "r.md"), env=env)
            assert proc.returncode == 0, proc.stderr
            assert TOKEN not in proc.stdout + proc.stderr
        (note,) = ours(fake)
        assert [c[0] for c in fake.calls].count("POST") == 1
        assert [c[0] for c in fake.calls].count("PUT") == 1
        link = f"https://gitlab.example.com/acme/penguins/-/raw/{SHA}/reports/figures/metrics.svg"
        assert link in note["body"]
        assert set(fake.auth) == {TOKEN}
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_refused_call_names_the_status_not_the_token(tree, tmp_path):
    fake = FakeComments()
    httpd, url = serve(fake, "github")
    try:
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": 8}}))  # an unknown PR: 404
        env = {
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_REPOSITORY": "acme/penguins",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_API_URL": f"{url}/api/v3",
        }
        proc = run_report(tree, "--github-comment", "--output", str(tmp_path / "r.md"), env=env)
        assert proc.returncode == 1
        assert "answered 404" in proc.stderr and TOKEN not in proc.stderr + proc.stdout
        event.write_text(json.dumps({"push": {}}))
        proc = run_report(tree, "--github-comment", "--output", str(tmp_path / "r.md"), env=env)
        assert proc.returncode == 1 and "not a pull request" in proc.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- the verify job's check ------------------------------------------------------------------


def test_verify_model_passes_a_retrained_model_and_fails_a_changed_one(tree, tmp_path):
    data = plan_bundle(EXAMPLES / "penguins").data_path.resolve()
    retrained = tmp_path / "retrained"
    train = subprocess.run(
        [sys.executable, "-m", "src.models.train", "--data", str(data), "--output-dir", str(retrained)],
        cwd=tree, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    verify = [sys.executable, str(tree / "scripts" / "verify_model.py"), str(retrained)]
    # As installed in CI (`pip install -e .`): the project's package is importable.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    ok = subprocess.run(verify, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "reproduces the committed metrics and golden predictions" in ok.stdout

    metrics = json.loads((retrained / "models" / "metrics.json").read_text())
    metrics["test"]["accuracy"] = 0.5
    (retrained / "models" / "metrics.json").write_text(json.dumps(metrics))
    bad = subprocess.run(verify, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 1
    assert "test.accuracy: 1.0 -> 0.5" in bad.stdout

    missing = subprocess.run(
        [*verify[:2], str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 1 and "retrain first" in missing.stderr


# --- the workflows ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_trees(tmp_path_factory) -> dict[str, Path]:
    """The CI files of penguins for each variant (rendering only: no training)."""
    plan = plan_bundle(EXAMPLES / "penguins").plan
    trees = {}
    for name, options in WORKFLOW_VARIANTS.items():
        root = tmp_path_factory.mktemp(f"workflows-{name}")
        for rel, data in render_project(plan, options, Assets()).items():
            if rel.startswith((".github/", ".gitlab-ci.yml")):
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
        trees[name] = root
    return trees


def check(args: list[str], cwd: Path) -> None:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize("variant", sorted(WORKFLOW_VARIANTS))
def test_ci_workflows_pass_actionlint_and_schema(workflow_trees, variant):
    root = workflow_trees[variant]
    if WORKFLOW_VARIANTS[variant].provider == "gitlab":
        schema = ["--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci"]
        check([tool("check-jsonschema"), *schema, ".gitlab-ci.yml"], root)
        return
    workflows = sorted(str(p) for p in (root / ".github" / "workflows").glob("*.yml"))
    check([tool("actionlint"), *workflows], root)
    check(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows], root
    )


def jobs(root: Path, name: str) -> dict:
    return yaml.safe_load((root / ".github" / "workflows" / name).read_text())["jobs"]


def test_ci_has_report_security_and_verify_when_data_is_shipped(workflow_trees):
    for variant in ("all", "full", "full-release-no-docker", "no-kubernetes"):
        ci = jobs(workflow_trees[variant], "ci.yml")
        assert {"test", "report", "security"} <= ci.keys()
        assert ("verify" in ci) == (WORKFLOW_VARIANTS[variant].data == "full")
        report = ci["report"]
        assert report["permissions"] == {"contents": "read", "pull-requests": "write"}
        step = next(s for s in report["steps"] if s.get("name") == "Report")
        assert "startsWith(github.head_ref, 'gitexport/')" in step["env"]["COMMENT"]
        assert "scripts/ci_report.py" in step["run"]
        scans = " ".join(s.get("run", "") for s in ci["security"]["steps"])
        for command in ("pip-audit --requirement requirements-dev.txt", "bandit --recursive src"):
            assert command in scans
        assert "detect-secrets-hook" in scans
        for pin in re.findall(r"(\S+)==(\S+)", scans):
            assert re.fullmatch(r"\d+(\.\d+)+", pin[1]), pin
    verify = jobs(workflow_trees["full"], "ci.yml")["verify"]
    runs = [s.get("run", "") for s in verify["steps"]]
    assert any("--data data/raw/penguins.csv" in r for r in runs)
    assert any("scripts/verify_model.py" in r for r in runs)


def test_cd_deploys_only_with_a_kubeconfig_in_a_protected_environment(workflow_trees):
    cd = jobs(workflow_trees["all"], "cd.yml")
    deploy = cd["deploy"]
    assert deploy["needs"] == "publish" and deploy["environment"] == "production"
    assert cd["publish"]["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    first, *rest = deploy["steps"]
    assert "secrets.KUBECONFIG" in first["env"]["KUBECONFIG_DATA"]
    assert "::notice title=Deployment skipped::" in first["run"]
    assert all(s["if"] == "steps.kube.outputs.configured == 'true'" for s in rest)
    assert "kubectl set image deployment/penguin-species api=" in rest[-1]["run"]
    assert "deploy" not in jobs(workflow_trees["no-kubernetes"], "cd.yml")


def test_gitlab_ci_has_the_report_note_security_and_verify(workflow_trees):
    for variant in ("gitlab", "gitlab-full", "gitlab-full-no-docker"):
        ci = yaml.safe_load((workflow_trees[variant] / ".gitlab-ci.yml").read_text())
        assert ("verify" in ci) == (WORKFLOW_VARIANTS[variant].data == "full")
        assert ci["model-report"]["artifacts"]["paths"] == ["model-report.md"]
        note = ci["merge-request-note"]
        (rule,) = note["rules"]
        assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in rule["if"]
        assert "/^gitexport\\//" in rule["if"] and "$GITLAB_TOKEN" in rule["if"]
        assert any("--gitlab-note" in line for line in note["script"])
        security = " ".join(ci["security"]["script"])
        assert "pip-audit" in security and "bandit --recursive src" in security
        assert "detect-secrets-hook" in security
        kubernetes = WORKFLOW_VARIANTS[variant].kubernetes
        assert ("deploy" in ci) == kubernetes and ("deploy" in ci["stages"]) == kubernetes
        if kubernetes:
            deploy = ci["deploy"]
            assert deploy["environment"] == {"name": "production"}
            assert deploy["script"][0].startswith('if [ -z "${KUBECONFIG:-}" ]; then')
            assert "exit 0" in deploy["script"][0]
            assert "sha256sum --check" in deploy["script"][1]
        if "verify" in ci:
            assert "python scripts/verify_model.py retrained" in ci["verify"]["script"]
            assert all("verify_model" not in line for line in ci["test"]["script"])


# --- the workflow, run by act ---------------------------------------------------------------

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
# (and must not be changed); everything else runs on that virtualenv's Python.
PYTHON_SHIM = """\
#!/usr/bin/env bash
if [[ "${{1:-}}" == "-m" && "${{2:-}}" == "pip" && "${{3:-}}" == "install" ]]; then
  echo "pip install skipped: the test's virtualenv has the packages"; exit 0
fi
exec {python} "$@"
"""
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(cwd: Path, *args: str) -> None:
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


def export_pull_request(tree: Path, tmp_path: Path) -> Path:
    """main holds the export; gitexport/penguins a re-export with a worse test accuracy."""
    repo, origin = tmp_path / "repo", tmp_path / "origin.git"
    shutil.copytree(tree, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "export v3")
    git(repo, "checkout", "-qb", "gitexport/penguins")
    metrics = json.loads((repo / "models" / "metrics.json").read_text())
    metrics["test"]["accuracy"] = 0.9
    (repo / "models" / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    git(repo, "commit", "-qam", "export v4")
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main", "gitexport/penguins")
    return repo


def test_act_runs_the_ci_workflow_of_an_export_pull_request(tree, tmp_path):
    """The generated CI, run by act on the host: the test job (lint, the project's tests) and
    the report job twice, against the fake GitHub. Not run: the image job (needs a Docker
    daemon) and the security job (pip-audit needs PyPI and the vulnerability database)."""
    act = tool("act")
    stubs = tmp_path / "stubs"
    for name, text in (("checkout", CHECKOUT_STUB), ("setup-python", SETUP_PYTHON_STUB)):
        (stubs / name).mkdir(parents=True)
        (stubs / name / "action.yml").write_text(text)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "python").write_text(PYTHON_SHIM.format(python=sys.executable))
    (shim / "python").chmod(0o755)
    repo = export_pull_request(tree, tmp_path)
    event = tmp_path / "event.json"
    pull = {
        "number": 7,
        "head": {"ref": "gitexport/penguins", "sha": SHA, "repo": {"full_name": "acme/penguins"}},
        "base": {"ref": "main", "repo": {"full_name": "acme/penguins"}},
    }
    event.write_text(json.dumps({"pull_request": pull}))
    fake = FakeComments()
    httpd, url = serve(fake, "github")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def act_job(job: str) -> str:
        args = [
            act, "pull_request", "--job", job, "--workflows", ".github/workflows/ci.yml",
            "--eventpath", str(event), "--platform", "ubuntu-24.04=-self-hosted",
            "--action-offline-mode",
            "--local-repository", f"actions/checkout@v4.2.2={stubs / 'checkout'}",
            "--local-repository", f"actions/setup-python@v5.3.0={stubs / 'setup-python'}",
            "--env", f"STUB_PYTHON_BIN={shim}{os.pathsep}{BIN}",
            "--env", f"GITHUB_API_URL={url}/api/v3",
            "--env", "GITHUB_REPOSITORY=acme/penguins",
            "--secret", "GITHUB_TOKEN",  # from the environment, so never in argv
        ]  # fmt: skip
        proc = subprocess.run(
            args, cwd=repo, env={**env, "GITHUB_TOKEN": TOKEN},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0 and "Job succeeded" in output, output[-6000:]
        assert TOKEN not in output
        return output

    try:
        tested = act_job("test")
        assert "All checks passed" in tested and " passed" in tested
        first = act_job("report")
        assert "pull request comment created" in first
        assert "| test | accuracy | 1.0000 | 0.9000 | −0.1000 ▼ worse |" in first
        second = act_job("report")
        assert "pull request comment updated" in second
    finally:
        httpd.shutdown()
        httpd.server_close()
    (comment,) = ours(fake)
    assert "−0.1000 ▼ worse" in comment["body"]
    assert f"/acme/penguins/blob/{SHA}/reports/figures/metrics.svg?raw=true" in comment["body"]
    assert [c[0] for c in fake.calls].count("POST") == 1
    assert [c[0] for c in fake.calls].count("PATCH") == 1
    assert set(fake.auth) == {f"Bearer {TOKEN}"}  # the secret reached the step, via env only


def stub(folder: Path, name: str, outputs: str = "", step: str = 'echo "stub"') -> Path:
    """A local composite action standing in for a remote one (no network, no Docker)."""
    (folder / name).mkdir(parents=True)
    (folder / name / "action.yml").write_text(
        f"name: {name} stub\ndescription: a stand-in\n{outputs}runs:\n  using: composite\n"
        f"  steps:\n    - id: stub\n      run: {step}\n      shell: bash\n"
    )
    return folder / name


def test_act_runs_cd_deploy_with_and_without_a_kubeconfig(tree, tmp_path):
    """The CD workflow on a push to main, by act: the image steps are stubs (no Docker daemon;
    the push answers a digest), the deploy job is the generated one with kubectl recorded by
    a stand-in on PATH."""
    act = tool("act")
    repo = export_pull_request(tree, tmp_path)
    git(repo, "checkout", "-q", "main")
    # github.repository comes from the remote; mixed case, as GHCR needs lower case.
    git(repo, "remote", "set-url", "origin", "https://github.com/Acme/Penguins.git")
    stubs = tmp_path / "stubs"
    digest = "sha256:" + "ab" * 32
    build = stub(
        stubs, "build",
        "outputs:\n  digest:\n    description: d\n    value: ${{ steps.stub.outputs.digest }}\n",
        f'echo "digest={digest}" >> "$GITHUB_OUTPUT"',
    )  # fmt: skip
    actions = {
        "actions/checkout@v4.2.2": stub(stubs, "checkout"),
        "docker/setup-buildx-action@v3.7.1": stub(stubs, "buildx"),
        "docker/login-action@v3.3.0": stub(stubs, "login"),
        "docker/metadata-action@v5.5.1": stub(stubs, "meta"),
        "docker/build-push-action@v6.9.0": build,
    }
    kbin, log = tmp_path / "kbin", tmp_path / "kubectl.log"
    kbin.mkdir()
    (kbin / "kubectl").write_text(
        f'#!/usr/bin/env bash\necho "$* | $(cat "$KUBECONFIG")" >> {log}\n'
    )
    (kbin / "kubectl").chmod(0o755)
    (tmp_path / "push.json").write_text(json.dumps({"ref": "refs/heads/main"}))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = [
        act, "push", "--job", "deploy", "--workflows", ".github/workflows/cd.yml",
        "--eventpath", str(tmp_path / "push.json"), "--platform", "ubuntu-24.04=-self-hosted",
        "--action-offline-mode", "--env", f"PATH={kbin}{os.pathsep}{os.environ['PATH']}",
    ]  # fmt: skip
    for action, folder in actions.items():
        args += ["--local-repository", f"{action}={folder}"]

    def deploy(*extra: str, kubeconfig: str | None = None) -> str:
        run_env = env if kubeconfig is None else {**env, "KUBECONFIG": kubeconfig}
        proc = subprocess.run(
            [*args, *extra], cwd=repo, env=run_env, capture_output=True, text=True, timeout=300
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0 and "Job succeeded" in output, output[-6000:]
        return output

    skipped = deploy()
    assert "::notice title=Deployment skipped::" in skipped
    assert not log.exists()  # no kubectl without credentials
    deployed = deploy("--secret", "KUBECONFIG", kubeconfig="apiVersion: v1  # the cluster")
    assert "Deployment skipped" not in deployed
    image = f"ghcr.io/acme/penguins@{digest}"
    assert log.read_text().splitlines() == [
        "apply --filename deployment/kubernetes/ | apiVersion: v1  # the cluster",
        f"set image deployment/penguin-species api={image} | apiVersion: v1  # the cluster",
        "rollout status deployment/penguin-species --timeout=5m | apiVersion: v1  # the cluster",
    ]
