"""The model's CI report: metrics (against the base branch's), parity verdict, figures.

Usage:
  python scripts/ci_report.py [--base-metrics FILE] [--summary FILE] [--output FILE]
  python scripts/ci_report.py --github-comment [--base-metrics FILE]   # on a pull request
  python scripts/ci_report.py --gitlab-note [--base-metrics FILE]      # on a merge request

Reads models/metrics.json, .gitexport/lineage.json, the parity section of MODEL_CARD.md and
reports/figures/*.svg. Appends the report to the job summary ($GITHUB_STEP_SUMMARY, or
--summary), writes it to --output (a GitLab report artifact), and with --github-comment /
--gitlab-note keeps ONE comment on the pull / merge request up to date: the comment carrying
the hidden marker below is edited in place on every later push, never posted twice.

GitHub: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (the pull request's number),
GITHUB_API_URL and GITHUB_SERVER_URL (GitHub Enterprise). GitLab: GITLAB_TOKEN (a project
access token with the api scope: the job token cannot write notes), CI_API_V4_URL,
CI_PROJECT_ID, CI_MERGE_REQUEST_IID, CI_PROJECT_URL. Standard library only. The token is
only ever sent in a header: it is never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FigureLink = Callable[[str], str]
MARKER = "<!-- gitexport-ci-report -->"
MAX_BODY = 60_000  # GitHub refuses comments of 65,536 characters or more
TIMEOUT = 30

# +1 when a higher value is better, -1 when a lower one is.
DIRECTION = {
    "accuracy": 1,
    "balanced_accuracy": 1,
    "precision": 1,
    "recall": 1,
    "f1": 1,
    "roc_auc": 1,
    "r2": 1,
    "log_loss": -1,
    "rmse": -1,
    "mae": -1,
    "mse": -1,
    "mape": -1,
}
SPLITS = ("test", "cv", "train")


class ReportError(Exception):
    """A missing input or a refused API call, with what to do about it."""


def read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from exc


def number(value: object) -> float | None:
    """A metric value as a finite float, or None (a matrix, a label, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def delta_cell(name: str, base: float | None, head: float | None) -> str:
    if base is None or head is None:
        return "—"
    delta = head - base
    if round(delta, 4) == 0:
        return "±0.0000"
    arrow = "▲" if delta > 0 else "▼"
    direction = DIRECTION.get(name, 0)
    verdict = "" if direction == 0 else " better" if delta * direction > 0 else " worse"
    return f"{'+' if delta > 0 else '−'}{abs(delta):.4f} {arrow}{verdict}"


def cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def metrics_table(head: dict, base: dict | None) -> list[str]:
    """One row per scalar metric of each split: base | this | Δ (or just the values)."""
    if base is None:
        lines = ["| split | metric | value |", "|---|---|---:|"]
    else:
        lines = ["| split | metric | base | this | Δ |", "|---|---|---:|---:|---|"]
    for split in SPLITS:
        values = head.get(split)
        if not isinstance(values, dict):
            continue
        before = (base or {}).get(split) or {}
        for name in sorted(values):
            now = number(values[name])
            if now is None:
                continue
            if base is None:
                lines.append(f"| {split} | {name} | {cell(now)} |")
            else:
                old = number(before.get(name))
                change = delta_cell(name, old, now)
                lines.append(f"| {split} | {name} | {cell(old)} | {cell(now)} | {change} |")
    return lines


def parity_text(model_card: Path) -> str:
    """The model card's "Parity with the canvas" section, or why there is none."""
    if not model_card.is_file():
        return "No model card, so no parity verdict."
    text = model_card.read_text(encoding="utf-8")
    match = re.search(r"^### Parity with the canvas\n(.*?)(?=^#{1,3} |\Z)", text, re.M | re.S)
    if match:
        return match.group(1).strip()
    if "parity with the canvas was not checked" in text:
        return "The canvas stored no reference predictions, so parity was not checked."
    return "The model card has no parity section."


def figure_url(server: str, repository: str, sha: str, rel: str) -> str:
    # blob/<sha>/…?raw=true renders in private repositories too, unlike a data: URI.
    path = urllib.parse.quote(rel)
    return f"{server.rstrip('/')}/{repository}/blob/{sha}/{path}?raw=true"


def figures(root: Path, link: FigureLink | None) -> list[str]:
    found = sorted((root / "reports" / "figures").glob("*.svg"))
    lines = []
    for path in found:
        rel = path.relative_to(root).as_posix()
        if link is None:
            lines.append(f"- `{rel}`")
        else:
            lines.append(f"- [{path.stem.replace('_', ' ')}]({link(rel)})")
            lines.append(f"  ![{path.stem}]({link(rel)})")
    return lines


def render(root: Path, base: dict | None, link: FigureLink | None) -> str:
    metrics = read_json(root / "models" / "metrics.json")
    if metrics is None:
        raise ReportError("models/metrics.json is missing: train the model first")
    lineage = read_json(root / ".gitexport" / "lineage.json") or {}
    title = lineage.get("pipeline_name") or root.name
    version = lineage.get("pipeline_version")
    lines = [MARKER, f"## Model report: {title}" + (f" (version {version})" if version else "")]
    lines += ["", "### Metrics", ""]
    lines += metrics_table(metrics, base)
    if base is None:
        lines += ["", "_No metrics on the base branch to compare with._"]
    lines += ["", "### Parity with the canvas", "", parity_text(root / "MODEL_CARD.md")]
    shown = figures(root, link)
    if shown:
        lines += ["", "### Figures", "", *shown]
    digests = [
        f"- {key}: `{lineage[key]}`"
        for key in ("export_id", "data_sha256", "graph_sha256")
        if lineage.get(key)
    ]
    if digests:
        lines += ["", "<details><summary>Lineage</summary>", "", *digests, "", "</details>"]
    body = "\n".join(lines) + "\n"
    if len(body) > MAX_BODY:
        body = body[: MAX_BODY - 100] + "\n\n_(report truncated)_\n"
    return body


# --- the one comment ------------------------------------------------------------------------


def api(method: str, url: str, headers: dict, body: dict | None = None) -> tuple[object, str]:
    """(JSON answer, Link header) of one REST call; ReportError on a refusal."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return json.loads(answer.read() or b"null"), answer.headers.get("Link", "")
    except urllib.error.HTTPError as exc:
        raise ReportError(f"{method} {url} answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ReportError(f"{method} {url} failed: {exc.reason}") from None


def next_page(link: str) -> str | None:
    match = re.search(r'<([^>]+)>;\s*rel="next"', link)
    return match.group(1) if match else None


def upsert(list_url: str, item_url: str, headers: dict, body: str, method: str) -> str:
    """Edit the comment carrying MARKER, or post one: 'updated' or 'created'."""
    url: str | None = list_url + ("&" if "?" in list_url else "?") + "per_page=100"
    while url:
        comments, link = api("GET", url, headers)
        for comment in comments or []:
            if MARKER in (comment.get("body") or ""):
                api(method, item_url.format(id=comment["id"]), headers, {"body": body})
                return "updated"
        url = next_page(link)
    api("POST", list_url, headers, {"body": body})
    return "created"


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ReportError(f"{name} is not set")
    return value


def github_comment(body: str) -> str:
    token = required("GITHUB_TOKEN")
    repository = required("GITHUB_REPOSITORY")
    event = read_json(Path(required("GITHUB_EVENT_PATH"))) or {}
    number_ = (event.get("pull_request") or {}).get("number")
    if not number_:
        raise ReportError("the event is not a pull request: no comment to write")
    api_url = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    base = f"{api_url}/repos/{repository}/issues"
    return upsert(
        f"{base}/{number_}/comments", base + "/comments/{id}", headers, body, method="PATCH"
    )


def gitlab_note(body: str) -> str:
    token = required("GITLAB_TOKEN")
    api_url = required("CI_API_V4_URL").rstrip("/")
    project = urllib.parse.quote(required("CI_PROJECT_ID"), safe="")
    iid = required("CI_MERGE_REQUEST_IID")
    notes = f"{api_url}/projects/{project}/merge_requests/{iid}/notes"
    return upsert(notes, notes + "/{id}", {"PRIVATE-TOKEN": token}, body, method="PUT")


def figure_link(args: argparse.Namespace) -> FigureLink | None:
    if os.environ.get("GITHUB_REPOSITORY"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        repository, sha = os.environ["GITHUB_REPOSITORY"], args.sha or os.environ.get("GITHUB_SHA")
        if sha:
            return lambda rel: figure_url(server, repository, sha, rel)
    if os.environ.get("CI_PROJECT_URL"):
        project, sha = os.environ["CI_PROJECT_URL"], args.sha or os.environ.get("CI_COMMIT_SHA")
        if sha:
            return lambda rel: f"{project.rstrip('/')}/-/raw/{sha}/{urllib.parse.quote(rel)}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the project (default: here)")
    parser.add_argument("--base-metrics", type=Path, help="the base branch's metrics.json")
    parser.add_argument("--sha", help="the commit the figures link to (default: the CI's)")
    parser.add_argument("--summary", type=Path, help="default: $GITHUB_STEP_SUMMARY")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument("--github-comment", action="store_true", help="keep the PR comment")
    parser.add_argument("--gitlab-note", action="store_true", help="keep the MR note")
    args = parser.parse_args(argv)
    try:
        base = read_json(args.base_metrics) if args.base_metrics else None
        body = render(args.root, base, figure_link(args))
        summary = args.summary or os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as out:
                out.write(body)
        if args.output:
            args.output.write_text(body, encoding="utf-8")
        if args.github_comment:
            print(f"pull request comment {github_comment(body)}")
        if args.gitlab_note:
            print(f"merge request note {gitlab_note(body)}")
        if not (summary or args.output or args.github_comment or args.gitlab_note):
            sys.stdout.write(body)
    except ReportError as exc:
        print(f"ci_report: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
