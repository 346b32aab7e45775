"""The pipeline-level summary of a re-export (the pull-request body), from plan data."""

from __future__ import annotations

import json

from gitexport.catalog import load_catalog
from gitexport.git import FileChange
from gitexport.summary import (
    MAX_BODY_CHARS,
    ExportSide,
    Version,
    delta_cell,
    figure_url_for,
    github_figure_url,
    metric_direction,
    pipeline_changes,
    read_marker,
    render_pr_body,
    render_summary,
)


def step(node_id, node_type, label, **kwargs):
    return {
        "node_id": node_id,
        "node_type": node_type,
        "label": label,
        "training": f"does {node_type}",
        "call": {"module": "m", "name": "C", "kwargs": kwargs},
    }


def plan(version, steps, model_kwargs, skipped=()):
    return {
        "pipeline": {"name": "Churn", "version": version},
        "steps": steps,
        "model": {
            "estimator": {"module": "sklearn.ensemble", "name": "RF", "kwargs": model_kwargs}
        },
        "split": {"test_size": 0.2},
        "evaluation": {"metrics": ["accuracy"]},
        "skipped": list(skipped),
    }


OLD = plan(
    6,
    [step("n3", "drop_columns", "Drop", columns=["id"]), step("n4", "imputation", "Impute")],
    {"n_estimators": 100},
)
NEW = plan(
    7,
    [
        step("n3", "drop_columns", "Drop", columns=["id", "email"]),
        step("n9", "standard_scaler", "Scale | *all*"),
    ],
    {"n_estimators": 200},
    skipped=[{"node_id": "n4", "label": "Impute", "reason": "disabled"}],
)


def test_nodes_added_removed_changed_and_model_parameters():
    lines = pipeline_changes(OLD, NEW)
    # Labels and values are Markdown-escaped: a label cannot break the table or the list.
    assert (
        "- added node `n9` Scale \\| \\*all\\* (standard_scaler): does standard\\_scaler" in lines
    )
    assert "- removed node `n4` Impute (imputation)" in lines
    assert "- node `n3` Drop: `columns`: \\['id'\\] → \\['id', 'email'\\]" in lines
    assert "- model parameter `n_estimators`: 100 → 200" in lines
    assert "- node `n4` Impute now skipped: disabled" in lines


def test_an_unchanged_pipeline_says_so_and_lists_files():
    body = render_summary(
        ExportSide(OLD, {"test": {"accuracy": 0.8}}, None),
        ExportSide(OLD, {"test": {"accuracy": 0.8}}, None),
        [
            FileChange("README.md", "modified", 2, 1, False),
            FileChange("m.joblib", "added", 0, 0, True),
        ],
        canvas_metrics={"test": {"accuracy": 0.8}},
    )
    assert "No change to the pipeline's nodes or model." in body
    assert "| test | accuracy | 0.8000 | 0.8000 | ±0.0000 | 0.8000 |" in body
    assert "| `README.md` | modified | +2 −1 |" in body
    assert "| `m.joblib` | added | binary |" in body


def test_first_export_has_no_before():
    body = render_summary(ExportSide(None, None, None), ExportSide(NEW, None, None), [])
    assert "version 7 (first export)" in body
    assert "No file changes." in body


# --- the pull-request body over several versions ------------------------------------------


def side(version, c, accuracy, rmse=None, **plan_extra):
    p = plan(version, [step("n3", "drop_columns", "Drop", columns=["id"])], {"C": c})
    p["pipeline"]["id"] = "pl_churn"
    p.update(plan_extra)
    test = {"accuracy": accuracy} if rmse is None else {"accuracy": accuracy, "rmse": rmse}
    return ExportSide(p, {"test": test}, {"pipeline_id": "pl_churn", "export_id": f"id{version}"})


BASE = Version(side(2, 0.25, 0.90, 3.0), commit="a" * 40, figures=("reports/figures/m.svg",))
V3 = Version(side(3, 0.5, 0.92, 2.5), commit="b" * 40, date="2026-12-01T10:00:00+00:00")
V4 = Version(side(4, 1.0, 0.95, 2.0), figures=("reports/figures/m.svg",))


def test_the_body_spans_the_whole_pull_request_from_the_base():
    body = render_pr_body(BASE, [V3, V4], [])
    assert "## Canvas pipeline Churn: version 2 → 4" in body
    head, history = body.split("<details><summary>History", 1)
    # The comparison is base → head: the net change, not the last step's.
    assert "- model parameter `C`: 0.25 → 1.0" in head
    assert "0.5 → 1.0" not in head
    # Folded: each version with its own change, in order.
    assert history.index("**version 3** · `bbbbbbbbbb` · 2026-12-01") < history.index(
        "**version 4** · this push"
    )
    assert "- model parameter `C`: 0.25 → 0.5" in history
    assert "- model parameter `C`: 0.5 → 1.0" in history
    assert "- test accuracy 0.9000 → 0.9200 (+0.0200 ▲ better)" in history
    assert "2 export(s) since version 2 on main" in history
    assert "Model at version 4: `RF` with `C` = 1.0." in head


def test_metrics_base_pr_delta_with_the_metric_direction():
    body = render_pr_body(BASE, [V3, V4], [], canvas_metrics={"test": {"accuracy": 0.95}})
    assert "| split | metric | base (v2) | PR (v4) | Δ | canvas |" in body
    assert "| test | accuracy | 0.9000 | 0.9500 | +0.0500 ▲ better | 0.9500 |" in body
    # Lower RMSE is better: a fall is good news.
    assert "| test | rmse | 3.0000 | 2.0000 | −1.0000 ▼ better | — |" in body
    assert "On the test split against version 2: **better**: accuracy, rmse." in body
    worse = Version(side(5, 1.0, 0.85, 3.5))
    assert "**worse**: accuracy, rmse." in render_pr_body(BASE, [worse], [])
    assert "no metric moved from version 2" in render_pr_body(BASE, [Version(BASE.side)], [])


def test_direction_arrows():
    assert delta_cell("accuracy", 0.8, 0.85) == "+0.0500 ▲ better"
    assert delta_cell("roc_auc", 0.8, 0.75) == "−0.0500 ▼ worse"
    assert delta_cell("r2", 0.5, 0.25) == "−0.2500 ▼ worse"
    assert delta_cell("rmse", 10.0, 12.5) == "+2.5000 ▲ worse"
    assert delta_cell("log_loss", 0.5, 0.25) == "−0.2500 ▼ better"
    assert delta_cell("mae", 1, 1.00001) == "±0.0000"
    assert delta_cell("something_new", 1.0, 2.0) == "+1.0000 ▲"
    assert delta_cell("accuracy", None, 0.9) == "—"
    assert delta_cell("roc_auc", 0.5, float("nan")) == "—"


def test_every_scalar_metric_of_the_catalog_has_a_direction():
    names = load_catalog().nodes["evaluate_model"].params["metrics"].enum
    scalar = [n for n in names if n != "confusion_matrix"]
    assert scalar and all(metric_direction(n) != 0 for n in scalar), scalar
    assert {n for n in scalar if metric_direction(n) < 0} == {"log_loss", "rmse", "mae", "mape"}


def test_parity_verdict():
    body = render_pr_body(BASE, [V4], [], parity="reproduced 9 of 10", parity_ok=False)
    assert "Parity with the canvas: ⚠️ drift — reproduced 9 of 10." in body


def test_marker_carries_the_facts():
    body = render_pr_body(BASE, [V3, V4], [])
    assert body.rstrip("\n").rsplit("\n", 1)[1].startswith("<!-- gitexport-pr ")
    facts = read_marker(body)
    assert facts["format"] == "gitexport-pr/1"
    assert facts["pipeline_id"] == "pl_churn"
    assert facts["base"] == {"version": 2, "export_id": "id2", "commit": "a" * 40}
    assert facts["head"] == {"version": 4, "export_id": "id4", "commit": None}
    assert [v["version"] for v in facts["versions"]] == [3, 4]
    assert facts["truncated"] is False


def test_marker_survives_a_hostile_pipeline_id():
    hostile = ExportSide(
        {**V4.side.plan, "pipeline": {**V4.side.plan["pipeline"], "id": "x --> <b>"}}, None, None
    )
    body = render_pr_body(None, [Version(hostile)], [])
    last_line = body.rstrip("\n").rsplit("\n", 1)[1]
    assert body.count("-->") == 1 and last_line.endswith(" -->")
    assert read_marker(body)["pipeline_id"] == "x --> <b>"


def test_figures_side_by_side_linked_by_commit():
    url = github_figure_url("https://github.com/acme/churn")
    body = render_pr_body(BASE, [V3, V4], [], figure_url=url, head_ref="gitexport/pl_churn")
    row = next(line for line in body.splitlines() if line.startswith("| m.svg |"))
    base_link = f"https://github.com/acme/churn/blob/{'a' * 40}/reports/figures/m.svg?raw=true"
    head_link = (
        "https://github.com/acme/churn/blob/gitexport/pl_churn/reports/figures/m.svg?raw=true"
    )
    assert row.index(base_link) < row.index(head_link)
    committed = Version(V4.side, commit="c" * 40, figures=V4.figures)
    body = render_pr_body(BASE, [V3, committed], [], figure_url=url, head_ref="gitexport/x")
    assert f"/blob/{'c' * 40}/reports/figures/m.svg?raw=true" in body
    assert "gitexport/x" not in body
    # Without a URL maker (a local diff), no images.
    assert "<img" not in render_pr_body(BASE, [V4], [])


def huge_side(version, n_nodes):
    steps = [
        step(f"node_{i:05d}", "drop_columns", f"Drop {i}", columns=[f"c{i}", "x" * (version * 3)])
        for i in range(n_nodes)
    ]
    p = plan(version, steps, {"C": version})
    p["pipeline"]["id"] = "pl_huge"
    return ExportSide(p, {"test": {"accuracy": 0.5}}, None)


def test_a_huge_body_is_cut_under_the_cap_and_keeps_the_marker():
    base = Version(huge_side(1, 2000), commit="a" * 40)
    versions = [Version(huge_side(v, 2000), commit=f"{v:040d}") for v in range(2, 12)]
    changes = [FileChange(f"src/file_{i:05d}.py", "modified", 1, 1, False) for i in range(5000)]
    body = render_pr_body(base, versions, changes)
    assert len(body) <= MAX_BODY_CHARS
    facts = read_marker(body)
    assert facts["truncated"] is True and facts["head"]["version"] == 11
    assert "left out (a pull-request body is limited to 60,000 characters" in body
    assert body.count("<details>") == body.count("</details>")
    assert "## Canvas pipeline Churn: version 1 → 11" in body


def test_the_last_resort_cut_still_closes_and_keeps_the_marker():
    body = render_pr_body(BASE, [V3, V4], [], max_chars=900)
    assert len(body) <= 900
    assert read_marker(body)["head"]["version"] == 4
    assert body.count("<details>") == body.count("</details>")
    assert body.rstrip().endswith(" -->") and "characters.*\n<!-- gitexport-pr" in body


def test_render_summary_is_json_free_of_surprises():
    # The marker is valid JSON on one line whatever the values are.
    body = render_summary(ExportSide(OLD, None, None), ExportSide(NEW, None, None), [])
    line = body.rstrip("\n").rsplit("\n", 1)[1]
    json.loads(line[len("<!-- gitexport-pr ") : -len(" -->")])
    assert "version 6 → 7" in body


def test_figure_links_per_forge():
    assert figure_url_for("github", "https://github.com/a/b")("abc", "reports/figures/x.svg") == (
        "https://github.com/a/b/blob/abc/reports/figures/x.svg?raw=true"
    )
    assert figure_url_for("gitlab", "https://gitlab.example.com/g/s/p/")("abc", "r/x.svg") == (
        "https://gitlab.example.com/g/s/p/-/raw/abc/r/x.svg"
    )
    assert figure_url_for("local", "/srv/git/x.git") is None


def test_hostile_names_cannot_break_a_table_row():
    import re

    hostile = side(5, 2.0, 0.97)
    hostile.plan["pipeline"]["name"] = "a | b\nc"
    hostile.plan["steps"][0]["label"] = "x|y `z`"
    hostile.metrics["test"]["weird|metric"] = 0.5
    url = github_figure_url("https://github.com/acme/churn")
    head = Version(hostile, commit="d" * 40, figures=("reports/figures/a|b.svg",))
    body = render_pr_body(BASE, [head], [], figure_url=url, canvas_metrics={"test": {}})
    header = None
    for line in body.splitlines():
        if line.startswith("|"):
            cells = len(re.findall(r"(?<!\\)\|", line))
            header = cells if header is None else header
            assert cells == header, line
        else:
            header = None
    assert "## Canvas pipeline a \\| b c: version 2 → 5" in body
