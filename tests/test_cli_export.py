"""`gitexport export` end to end with a real bundle, real git and git-lfs (the git-native issue).

Each scenario trains the penguins example (a few seconds), so the module is marked slow.
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

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed"),
]

EXAMPLE = Path(str(resources.files("gitexport").joinpath("examples", "penguins")))


def gitexport(
    *args: str, env: dict | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "gitexport", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"gitexport {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
        )
    return proc


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def user_commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Ana", "-c", "user.email=ana@example.com", "commit", "-qm", message)


def bundle_with(tmp_path: Path, name: str, *, version: int, c: float) -> Path:
    return penguins_variant(tmp_path, version, c)


def trailers(repo: Path, rev: str = "main") -> dict[str, list[str]]:
    message = git(repo, "log", "-1", "--format=%B", rev)
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out: dict[str, list[str]] = {}
    for line in parsed.splitlines():
        key, _, value = line.partition(": ")
        out.setdefault(key, []).append(value)
    return out


@pytest.fixture(scope="module")
def first_export(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("first") / "penguins"
    gitexport("export", str(EXAMPLE), "--out", str(repo))
    return repo


def test_first_export_commits_everything_with_lineage(first_export):
    repo = first_export
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    found = trailers(repo)
    assert found["Pipeline-Id"] == ["pl_penguins"]
    assert found["Pipeline-Version"] == ["3"]
    model = (repo / "models/trained/model.joblib").read_bytes()
    import hashlib

    digest = hashlib.sha256(model).hexdigest()
    assert found["Model-Digest"] == [f"models/trained/model.joblib sha256:{digest}"]
    lineage = json.loads((repo / ".gitexport/lineage.json").read_text())
    assert lineage["model_sha256"]["models/trained/model.joblib"] == digest
    assert lineage["pipeline_version"] == 3
    assert "models/trained/model.joblib" in git(repo, "lfs", "ls-files", "--name-only")


def test_lfs_clone_gets_the_real_model_back(first_export, tmp_path):
    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"}
    subprocess.run(
        ["git", "clone", "-q", f"file://{first_export}", str(clone)], check=True, env=env
    )
    pointer = (clone / "models/trained/model.joblib").read_bytes()
    assert pointer.startswith(b"version https://git-lfs.github.com/spec/v1")
    git(clone, "lfs", "pull")
    assert (clone / "models/trained/model.joblib").read_bytes() == (
        first_export / "models/trained/model.joblib"
    ).read_bytes()


def test_identical_re_export_makes_no_commit(first_export):
    head = git(first_export, "rev-parse", "main")
    proc = gitexport("export", str(EXAMPLE), "--out", str(first_export))
    assert "up to date" in proc.stdout
    assert git(first_export, "rev-parse", "main") == head


def test_re_export_keeps_user_edits_and_brings_the_change(tmp_path):
    repo = tmp_path / "repo"
    gitexport("export", str(bundle_with(tmp_path, "v3", version=3, c=0.5)), "--out", str(repo))
    # The user edits a generated file and adds one of their own.
    readme = repo / "README.md"
    readme.write_text(readme.read_text() + "\nOur team's notes on this model.\n")
    (repo / "notes.md").write_text("hand-written\n")
    user_commit(repo, "Team notes")

    proc = gitexport(
        "export", str(bundle_with(tmp_path, "v4", version=4, c=0.25)), "--out", str(repo)
    )
    assert "merged" in proc.stdout
    assert "Our team's notes on this model." in readme.read_text()
    assert (repo / "notes.md").read_text() == "hand-written\n"
    assert "C: 0.25" in (repo / "config/model_config.yaml").read_text()
    # The export branch holds pure generator output; main merged it.
    export_tip = git(repo, "rev-parse", "gitexport/pl_penguins").strip()
    assert trailers(repo, export_tip)["Pipeline-Version"] == ["4"]
    assert "notes.md" not in git(repo, "ls-tree", "-r", "--name-only", export_tip)
    history = json.loads(gitexport("log", str(repo), "--json").stdout)
    assert [r["pipeline_version"] for r in history] == ["4", "3"]
    assert all(r["status"] == "merged" for r in history)


def test_conflicting_re_export_names_files_and_leaves_main(tmp_path):
    repo = tmp_path / "repo"
    gitexport("export", str(bundle_with(tmp_path, "v3", version=3, c=0.5)), "--out", str(repo))
    config = repo / "config/model_config.yaml"
    config.write_text(config.read_text().replace("C: 0.5", "C: 0.75"))
    user_commit(repo, "Tune C by hand")
    main_before = git(repo, "rev-parse", "main")

    proc = gitexport(
        "export",
        str(bundle_with(tmp_path, "v4", version=4, c=0.25)),
        "--out",
        str(repo),
        check=False,
    )
    assert proc.returncode == 3
    assert "config/model_config.yaml" in proc.stdout
    assert git(repo, "rev-parse", "main") == main_before
    assert "C: 0.75" in config.read_text()
    assert git(repo, "status", "--porcelain") == ""


def test_killed_export_leaves_no_trace_and_rerun_succeeds(tmp_path):
    repo = tmp_path / "repo"
    gitexport("export", str(bundle_with(tmp_path, "v3", version=3, c=0.5)), "--out", str(repo))
    v4 = bundle_with(tmp_path, "v4", version=4, c=0.25)
    refs_before = git(repo, "for-each-ref")
    proc = gitexport(
        "export",
        str(v4),
        "--out",
        str(repo),
        env={"GITEXPORT_CRASH_AT": "after-commit"},
        check=False,
    )
    assert proc.returncode == 99
    assert git(repo, "for-each-ref") == refs_before
    assert git(repo, "status", "--porcelain") == ""
    gitexport("export", str(v4), "--out", str(repo))
    assert trailers(repo)["Pipeline-Version"] == ["4"]


def test_different_pipeline_is_refused(first_export):
    other = Path(str(resources.files("gitexport").joinpath("examples", "diamonds")))
    proc = gitexport("export", str(other), "--out", str(first_export), check=False)
    assert proc.returncode == 1
    assert "pl_penguins" in proc.stderr and "pl_diamonds" in proc.stderr


def test_zip_holds_the_project_and_nothing_outside(tmp_path):
    import zipfile

    archive = tmp_path / "project.zip"
    gitexport("export", str(EXAMPLE), "--zip", str(archive))
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert "src/features/pipeline.py" in names and "models/trained/model.joblib" in names
    assert not any(n.startswith(("/", "..")) or "/../" in n for n in names)


def test_dry_run_summarises_the_change_and_writes_nothing(tmp_path):
    repo = tmp_path / "repo"
    gitexport("export", str(bundle_with(tmp_path, "v3", version=3, c=0.5)), "--out", str(repo))
    before = git(repo, "for-each-ref") + git(repo, "status", "--porcelain")
    proc = gitexport(
        "export",
        str(bundle_with(tmp_path, "v4", version=4, c=0.25)),
        "--out",
        str(repo),
        "--dry-run",
    )
    assert "version 3 → 4" in proc.stdout
    assert "model parameter `C`: 0.5 → 0.25" in proc.stdout
    # the version lives in that file too: the hyperparameter line and the version line
    assert "`config/model_config.yaml` | modified | +2 −2" in proc.stdout
    assert git(repo, "for-each-ref") + git(repo, "status", "--porcelain") == before
    assert trailers(repo)["Pipeline-Version"] == ["3"]


def test_same_input_gives_byte_identical_projects_across_processes(tmp_path):
    """Two exports in separate processes with different hash seeds: the same bytes."""
    archives = []
    for seed in ("1", "2"):
        archive = tmp_path / f"project-{seed}.zip"
        gitexport("export", str(EXAMPLE), "--zip", str(archive), env={"PYTHONHASHSEED": seed})
        archives.append(archive.read_bytes())
    assert archives[0] == archives[1]
