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
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitexport.build import build_project
from gitexport.load import plan_bundle
from gitexport.render import Assets, RenderOptions, render_project
from helpers import EXAMPLES, tool
from servers.comments_api import MARKER, FakeComments, ours, serve

pytestmark = pytest.mark.slow

TOKEN = "ghs_secretTokenValue123"
SHA = "0123456789abcdef0123456789abcdef01234567"


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
