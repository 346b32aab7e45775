"""The wheel: built from a copy of the checkout, installed in a fresh venv, run from elsewhere.

Slow (builds a wheel and installs gitexport's dependencies into a new virtual environment).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import EXAMPLE_NAMES, REPO_ROOT

pytestmark = pytest.mark.slow

IGNORE = shutil.ignore_patterns(
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".venv",
    "venv",
)


def _run(
    args, *, cwd: Path, timeout: int = 900, env: dict | None = None
) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    clean.pop("GITEXPORT_DEBUG", None)
    return subprocess.run(  # noqa: PLW1510 - callers check the exit status
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
    )


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (
        f"{proc.args}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel path, venv python, installed package folder, work folder outside the checkout)."""
    work = tmp_path_factory.mktemp("wheel")
    assert not work.resolve().is_relative_to(REPO_ROOT)
    # Build from a copy so that no build/ or *.egg-info lands in the shared work tree.
    src = work / "src"
    shutil.copytree(REPO_ROOT, src, ignore=IGNORE, symlinks=True)
    dist = work / "dist"
    _ok(
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, src], cwd=work
        )
    )
    wheels = list(dist.glob("gitexport-*.whl"))
    assert len(wheels) == 1, wheels

    venv = work / "venv"
    _ok(_run([sys.executable, "-m", "venv", venv], cwd=work))
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _ok(_run([python, "-m", "pip", "install", "--quiet", wheels[0]], cwd=work, timeout=1800))
    where = _ok(
        _run(
            [
                python,
                "-c",
                "import gitexport, pathlib; print(pathlib.Path(gitexport.__file__).parent)",
            ],
            cwd=work,
        )
    ).stdout.strip()
    package = Path(where)
    return wheels[0], python, package, work


def test_wheel_contents(installed):
    wheel, *_ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "gitexport/catalog/node_catalog.json" in names
    assert "gitexport/providers/__init__.py" in names
    assert "gitexport/templates/__init__.py" in names
    assert "gitexport/commands/plan.py" in names
    for example in EXAMPLE_NAMES:
        assert f"gitexport/examples/{example}/pipeline.json" in names
        assert f"gitexport/examples/{example}/reference_predictions.csv" in names
    assert "gitexport/examples/diamonds/data/diamonds.parquet" in names
    assert not any(n.startswith("tests/") for n in names)


def test_installed_outside_the_checkout(installed):
    _, _python, package, work = installed
    assert not package.resolve().is_relative_to(REPO_ROOT.resolve())
    assert package.resolve().is_relative_to(work.resolve())
    catalog = json.loads((package / "catalog" / "node_catalog.json").read_text(encoding="utf-8"))
    assert catalog["catalog_version"] == "1.4.0" and len(catalog["nodes"]) == 32
    for example in EXAMPLE_NAMES:
        assert (package / "examples" / example / "pipeline.json").is_file()
    assert (package / "examples" / "penguins" / "data" / "penguins.csv").is_file()
    assert (package / "examples" / "telco_churn" / "data" / "telco_churn.csv").is_file()


def test_import_subpackages(installed):
    _, python, _package, work = installed
    code = "import gitexport.providers, gitexport.templates, gitexport.catalog as c; print(c.load_catalog().version)"
    proc = _ok(_run([python, "-c", code], cwd=work))
    assert proc.stdout.strip() == "1.4.0"


def test_version(installed):
    _, python, _, work = installed
    proc = _ok(_run([python, "-m", "gitexport", "--version"], cwd=work))
    assert proc.stdout.strip() == "gitexport 0.1.0"


@pytest.mark.parametrize("example", ["telco_churn", "diamonds"])
def test_console_script_plans_a_copied_example(installed, example):
    _, python, package, work = installed
    bundle = work / f"bundle_{example}"
    if not bundle.exists():
        shutil.copytree(package / "examples" / example, bundle)
    script = python.parent / ("gitexport.exe" if os.name == "nt" else "gitexport")
    proc = _ok(_run([script, "plan", bundle, "--json"], cwd=work))
    plan = json.loads(proc.stdout)
    assert plan["target"] == {"telco_churn": "churn", "diamonds": "price"}[example]
    assert (
        plan["problem_type"] == {"telco_churn": "classification", "diamonds": "regression"}[example]
    )
    assert (
        plan["source"]["bundle_file"]
        == json.loads((bundle / "pipeline.json").read_text())["data_sources"][0]["path"]
    )
    # a broken copy still gives exit 2 and a named error from the installed package
    (bundle / "pipeline.json").write_text("{", encoding="utf-8")
    broken = _run([script, "plan", bundle], cwd=work)
    assert (
        broken.returncode == 2
        and "malformed JSON" in broken.stderr
        and "Traceback" not in broken.stderr
    )
