"""The pull-request body over real exports: push v2 (main), then v3 and v4 on the export branch.

The PR's diff is main (v2) → v4, so its body must say 2 → 4 and list both versions' changes,
whether it is written before the v4 commit or after it (then the figures are linked at the
head's SHA). One module-scoped repository: three trainings in all (slow). The history rules themselves
are checked fast, on exports of small synthetic trees into real repositories.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from gitexport import api, git
from gitexport.changes import change_summary, summarize
from gitexport.export_commit import export_request
from gitexport.figures import FIGURES_DIR
from gitexport.options import ExportOptions
from gitexport.report_html import REPORT_PATH, report_files
from gitexport.summary import MAX_BODY_CHARS, github_figure_url, read_marker
from helpers import penguins_variant

WEB = "https://github.com/acme/penguins"
BRANCH = "gitexport/pl_penguins"
CM = f"{FIGURES_DIR}/confusion_matrix.svg"


def rev(repo, ref):
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", ref], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pr-body")
    repo = tmp / "repo"
    api.export(penguins_variant(tmp, 2, 0.25), repo)  # the first export: main
    api.export(penguins_variant(tmp, 3, 0.5), repo, ExportOptions(merge=False))
    built = api.build(penguins_variant(tmp, 4, 1.0))
    url = github_figure_url(WEB)
    before, newest_changes = change_summary(built, repo, figure_url=url)
    outcome = git.export_to_repo(repo, export_request(built), merge=False)
    after, _ = change_summary(built, repo, head_commit=outcome.export_commit, figure_url=url)
    return {
        "repo": repo,
        "built": built,
        "before": before,
        "after": after,
        "newest_changes": newest_changes,
        "head": outcome.export_commit,
        "v2": rev(repo, "main"),
        "v3": rev(repo, f"{BRANCH}~1"),
        "preview": api.preview(penguins_variant(tmp, 4, 1.0), repo_dir=repo),
    }


@pytest.mark.slow
@pytest.mark.parametrize("which", ["before", "after"])
def test_the_body_describes_main_to_the_head(scenario, which):
    body = scenario[which]
    assert "## Canvas pipeline Penguin species: version 2 → 4" in body
    summary, history = body.split("<details><summary>History", 1)
    assert "- model parameter `C`: 0.25 → 1.0" in summary  # the net change of the PR
    assert "2 export(s) since version 2 on main" in history
    assert "- model parameter `C`: 0.25 → 0.5" in history  # v3's own change
    assert "- model parameter `C`: 0.5 → 1.0" in history  # v4's own change
    assert f"**version 3** · `{scenario['v3'][:10]}`" in history
    assert "| split | metric | base (v2) | PR (v4) | Δ | canvas |" in summary
    assert "Parity with the canvas:" not in summary  # the variants carry no reference rows
    assert len(body) <= MAX_BODY_CHARS
    # The PR's files are main's export against v4: v3 committed nothing of them.
    assert "`config/model_config.yaml` | modified" in body


@pytest.mark.slow
def test_the_marker_names_base_head_and_every_version(scenario):
    before, after = read_marker(scenario["before"]), read_marker(scenario["after"])
    for facts in (before, after):
        assert facts["pipeline_id"] == "pl_penguins"
        assert facts["base"]["version"] == 2 and facts["base"]["commit"] == scenario["v2"]
        assert [v["version"] for v in facts["versions"]] == [3, 4]
        assert facts["versions"][0]["commit"] == scenario["v3"]
        assert facts["head"]["export_id"] == scenario["built"].lineage["export_id"]
    assert before["head"]["commit"] is None
    assert after["head"]["commit"] == scenario["head"]


@pytest.mark.slow
def test_figures_link_base_and_head_by_commit(scenario):
    base_link = f"{WEB}/blob/{scenario['v2']}/{CM}?raw=true"
    assert base_link in scenario["before"] and base_link in scenario["after"]
    assert f"{WEB}/blob/{BRANCH}/{CM}?raw=true" in scenario["before"]
    assert f"{WEB}/blob/{scenario['head']}/{CM}?raw=true" in scenario["after"]


@pytest.mark.slow
def test_the_export_commit_holds_the_figures_and_the_report(scenario):
    repo, head = scenario["repo"], scenario["head"]
    paths = git.tree_paths(repo, head)
    assert CM in paths and REPORT_PATH in paths
    svg = git.read_export_file(repo, head, CM)
    root = ET.fromstring(svg)
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"Adelie", "Chinstrap", "Gentoo"} <= set(labels)
    # What was committed is what the committed metrics give: nothing else goes in.
    metrics = json.loads(git.read_export_file(repo, head, "models/metrics.json"))
    again = report_files(scenario["built"].plan, metrics)
    assert again[CM] == svg
    html = git.read_export_file(repo, head, REPORT_PATH).decode()
    assert "<svg " in html and "<script" not in html


@pytest.mark.slow
def test_callers_still_get_the_changes_of_the_export_commit(scenario):
    # Against the newest export (v3): what `gitexport diff` and the preview list.
    paths = {c.path for c in scenario["newest_changes"]}
    assert "config/model_config.yaml" in paths
    preview = scenario["preview"]
    assert "version 2 → 4" in preview.summary_markdown
    # The preview of what is already the branch's tip is that version, not one more.
    assert read_marker(preview.summary_markdown)["head"]["commit"] == scenario["head"]
    assert [v["version"] for v in read_marker(preview.summary_markdown)["versions"]] == [3, 4]
    figures = {f.path: f.change for f in preview.files if f.path.startswith("reports/")}
    assert figures == {
        CM: "unchanged",
        f"{FIGURES_DIR}/feature_importances.svg": "unchanged",  # a logistic regression's coef_
        f"{FIGURES_DIR}/metrics.svg": "unchanged",
        REPORT_PATH: "unchanged",
    }


# --- fast: the history rules, on synthetic exports (real git, no training) ----------------


@pytest.fixture(scope="module")
def penguins_plan():
    return api.plan(api.example("penguins"))


def synthetic(repo, plan, version, *, merge=False):
    """Commit a small export tree of *plan* at *version* (C = version / 10)."""
    pipeline = plan.pipeline.model_copy(update={"version": version})
    model = plan.model.model_copy(
        update={
            "estimator": plan.model.estimator.model_copy(
                update={"kwargs": {**plan.model.estimator.kwargs, "C": version / 10}}
            )
        }
    )
    at = plan.model_copy(update={"pipeline": pipeline, "model": model})
    lineage = {
        "pipeline_id": plan.pipeline.id,
        "pipeline_version": version,
        "export_id": f"e{version}",
    }
    metrics = {"test": {"accuracy": 0.9 + version / 1000}}
    files = {
        ".gitexport/plan.json": at.to_json().encode(),
        ".gitexport/lineage.json": json.dumps(lineage).encode(),
        "models/metrics.json": json.dumps(metrics).encode(),
        "README.md": f"version {version}\n".encode(),
    }
    request = git.ExportRequest(
        files=files,
        executable=frozenset(),
        lfs_paths=frozenset(),
        pipeline_id=plan.pipeline.id,
        subject=f"Export v{version}",
        body="",
        trailers=(("Pipeline-Id", plan.pipeline.id), ("Pipeline-Version", str(version))),
    )
    outcome = git.export_to_repo(repo, request, merge=merge)
    return at, files, metrics, lineage, outcome


def test_a_first_export_written_after_its_commit_has_no_base(tmp_path, penguins_plan):
    plan, files, metrics, lineage, outcome = synthetic(tmp_path / "r", penguins_plan, 1)
    body, _ = summarize(
        tmp_path / "r",
        files,
        plan=plan,
        metrics=metrics,
        lineage=lineage,
        parity=None,
        head_commit=outcome.export_commit,
    )
    assert "version 1 (first export)" in body
    facts = read_marker(body)
    assert facts["base"] is None and facts["head"]["commit"] == outcome.export_commit


def test_old_versions_beyond_the_history_limit_are_counted(tmp_path, penguins_plan, monkeypatch):
    import gitexport.changes as changes

    monkeypatch.setattr(changes, "MAX_HISTORY", 3)
    repo = tmp_path / "r"
    synthetic(repo, penguins_plan, 1)
    for version in range(2, 7):
        synthetic(repo, penguins_plan, version)
    plan, files, metrics, lineage, _ = synthetic(repo, penguins_plan, 7)
    # Written before the commit of an export the branch already holds (a re-push): v7 is
    # the head, not one more version.
    body, _ = summarize(repo, files, plan=plan, metrics=metrics, lineage=lineage, parity=None)
    facts = read_marker(body)
    assert facts["versions_since_base"] == 6
    assert [v["version"] for v in facts["versions"]] == [5, 6, 7]
    assert facts["head"]["commit"] is not None
    assert "## Canvas pipeline Penguin species: version 1 → 7" in body
    assert "*3 older version(s) left out.*" in body
    assert "- model parameter `C`: 0.1 → 0.7" in body
