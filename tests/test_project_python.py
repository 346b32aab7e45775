"""The interpreter prestarted for the generated code runs a module exactly as ``python -m``.

Issue 13: training spent its first 1.5-2 s importing scikit-learn after gitexport had planned
and rendered; the prestarted interpreter imports it meanwhile. Nothing may tell the two apart:
the module's name, argv, folder, import path, stdin and environment, its exit code and output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitexport import api, project_python
from gitexport.render import library_imports

SECRET = "ghp_prestarted-must-not-see-this-0123456789"

SHOW = """\
import json, os, sys
print(json.dumps({
    "name": __name__,
    "argv": sys.argv,
    "cwd": os.getcwd(),
    "path0": sys.path[0],
    "stdin": sys.stdin.read(),
    "token": os.environ.get("GITHUB_TOKEN"),
    "hashseed": os.environ.get("PYTHONHASHSEED"),
    "sibling": __import__("pkg.sibling").sibling.VALUE,
}))
if "--fail" in sys.argv:
    raise SystemExit(3)
"""


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/__init__.py").write_text("")
    (root / "pkg/show.py").write_text(SHOW)
    (root / "pkg/sibling.py").write_text("VALUE = 'from the project folder'\n")
    yield root
    project_python._discard_waiting()


def _run(args: list[str], cwd: Path) -> tuple[int, str, int]:
    proc, output = project_python.start(args, cwd, None)
    with output:
        proc.wait(timeout=120)
        output.seek(0)
        return proc.returncode, output.read().decode(), proc.pid


def test_a_prestarted_interpreter_runs_a_module_as_python_m_does(project):
    cold_code, cold_out, _ = _run(["-m", "pkg.show", "--flag", "a:b"], project)

    project_python.prestart()
    waiting = project_python._waiting.proc.pid
    warm_code, warm_out, pid = _run(["-m", "pkg.show", "--flag", "a:b"], project)

    assert pid == waiting, "the prestarted interpreter was not used"
    assert project_python._waiting is None  # taken: the next build starts its own
    assert warm_code == cold_code == 0
    cold, warm = json.loads(cold_out), json.loads(warm_out)
    assert warm == cold
    assert warm["name"] == "__main__"
    assert warm["argv"] == [str(project / "pkg/show.py"), "--flag", "a:b"]
    assert Path(warm["cwd"]) == Path(warm["path0"]) == project
    assert warm["stdin"] == "" and warm["token"] is None and warm["hashseed"] == "0"
    assert warm["sibling"] == "from the project folder"


def test_modules_preloaded_once_the_plan_is_known_are_imported_before_the_run(project):
    (project / "pkg/loaded.py").write_text(
        "import json, sys\nprint(json.dumps('colorsys' in sys.modules))\n"
    )
    assert json.loads(_run(["-m", "pkg.loaded"], project)[1]) is False
    project_python.prestart()
    project_python.preload(["colorsys"])
    assert json.loads(_run(["-m", "pkg.loaded"], project)[1]) is True


def test_a_failing_module_reports_its_exit_code_and_output_from_either(project):
    cold = _run(["-m", "pkg.show", "--fail"], project)
    project_python.prestart()
    warm = _run(["-m", "pkg.show", "--fail"], project)
    assert warm[0] == cold[0] == 3
    assert json.loads(warm[1]) == json.loads(cold[1])


def test_another_memory_budget_or_a_dead_interpreter_is_not_used(project):
    project_python.prestart(memory_mb=None)
    unlimited = project_python._waiting.proc.pid
    code, _, pid = _run_with_budget(project, memory_mb=4096)
    assert code == 0 and pid != unlimited  # its limit was set when it started

    project_python.prestart()
    project_python._waiting.proc.kill()
    project_python._waiting.proc.wait()
    code, out, _ = _run(["-m", "pkg.show"], project)
    assert code == 0 and json.loads(out)["name"] == "__main__"


def _run_with_budget(cwd: Path, memory_mb: int) -> tuple[int, str, int]:
    proc, output = project_python.start(["-m", "pkg.show"], cwd, memory_mb)
    with output:
        proc.wait(timeout=120)
        output.seek(0)
        return proc.returncode, output.read().decode(), proc.pid


@pytest.mark.parametrize("example", ["telco_churn", "penguins"])
def test_it_preloads_only_what_the_generated_training_imports_anyway(example, tmp_path):
    planned = api.load(api.example(example))
    for rel, data in api.render_tree(planned, api.ExportOptions()).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, src.models.train; print(json.dumps(list(sys.modules)))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    preloaded = {*project_python.PRELOAD, *library_imports(planned.plan)}
    assert "sklearn.linear_model" in preloaded or "sklearn.ensemble" in preloaded
    assert preloaded <= set(json.loads(imported.stdout))
