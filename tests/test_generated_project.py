"""The generated project is a real, standalone project: the issue's "done when".

* each example bundle exports with parity (≥ 99.5 % of the canvas's classifications, every
  regression prediction within a relative 1e-6);
* in a fresh virtualenv holding only the project's pinned requirements, each project's own
  tests pass (the slow determinism test included), ``ruff check`` and ``ruff format --check``
  are clean, and retraining (``python src/models/train.py`` and ``python -m src.models.train``)
  on the bundle's data gives a model that predicts the golden rows exactly as the shipped one;
* exporting the same bundle twice gives byte-identical trees, model included;
* hostile column names, labels and pipeline names only ever reach generated code as string
  constants, and every YAML / JSON / TOML / Markdown output still parses.

Everything expensive is built once per session: the three example projects, the hostile
project and one virtualenv (created while the projects train).
"""

from __future__ import annotations

import ast
import json
import keyword
import os
import re
import subprocess
import sys
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gitexport.build import PARITY_CLASSIFICATION, PARITY_REL_TOL, build_project
from gitexport.load import plan_bundle
from gitexport.render import Assets, RenderOptions, render_project
from helpers import EXAMPLES, chain, make_document, node, write_bundle

pytestmark = pytest.mark.slow

EXAMPLE_NAMES = ("telco_churn", "penguins", "diamonds")
OPTIONS = RenderOptions()
SUBPROCESS_TIMEOUT = 600

# --- the hostile bundle ------------------------------------------------------------------------

HOSTILE_COLUMNS = {
    "quotes": 'it\'s "quoted"',
    "newline": "line\nbreak",
    "jinja_var": "{{ pwned }}",
    "jinja_block": "{% if pwn %}x{% endif %}",
    "triple": '"""triple"""',
    "backslash": "back\\slash\\n",
    "unicode": "café 中文 🙂",
    "kw_class": "class",
    "kw_import": "import",
    "kw_def": "def",
    "call": "__import__('os').system('x')",
}
HOSTILE_TARGET = "tar\"get'\n{{ y }}\\"
HOSTILE_LABEL = (
    "Label \"with\" 'quotes'\n{{ x }} {% y %} \"\"\" \\ é 中文 🙂 __import__('os').system('x')"
)
HOSTILE_NAME = "Hostile \"\"\" {{ name }} {% raw %}\n'é' 中文 🙂 \\ __import__('os').system('x')"
# Substrings that must never be part of a Python identifier in the generated code.
MARKERS = ("pwn", "é", "中文", "🙂", "__import__", "system", "triple", "quoted", "slash")


def hostile_frame(n: int = 160) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    c = HOSTILE_COLUMNS
    x = rng.normal(0, 1, n)
    gap = rng.normal(0, 1, n)
    gap[::7] = np.nan
    return pd.DataFrame(
        {
            c["quotes"]: x,
            c["newline"]: gap,
            c["jinja_var"]: [('a"b', "c'd", "{{e}}")[i % 3] for i in range(n)],
            c["jinja_block"]: rng.uniform(0, 5, n),
            c["triple"]: [('"""', "\\", "ok", "中文")[i % 4] for i in range(n)],
            c["backslash"]: rng.integers(0, 9, n),
            c["unicode"]: [("é", "🙂")[i % 2] for i in range(n)],
            c["kw_class"]: rng.normal(0, 1, n),
            c["kw_import"]: rng.normal(0, 1, n),
            c["kw_def"]: rng.normal(0, 1, n),
            c["call"]: rng.normal(0, 1, n),
            HOSTILE_TARGET: np.where(x + rng.normal(0, 0.5, n) > 0, 'yes "1"', "no '0'"),
        }
    )


def hostile_document() -> dict:
    c = HOSTILE_COLUMNS
    nodes = [
        node("n1", "dataset", HOSTILE_LABEL, source_id="ds_1"),
        node(
            "n2",
            "feature_target_split",
            HOSTILE_LABEL,
            target=HOSTILE_TARGET,
            test_size=0.25,
            random_state=1,
        ),
        node("n3", "drop_columns", HOSTILE_LABEL, columns=[c["kw_def"]]),
        node("n4", "imputation", HOSTILE_LABEL, columns=[c["newline"]], strategy="median"),
        node("n5", "one_hot_encoding", HOSTILE_LABEL, columns=[c["jinja_var"], c["unicode"]]),
        node(
            "n6", "label_encoding", HOSTILE_LABEL, columns=[c["triple"]], suffix=' "code" {{ z }}'
        ),
        node("n6b", "drop_columns", HOSTILE_LABEL, columns=[c["triple"]]),
        node(
            "n7",
            "standard_scaler",
            HOSTILE_LABEL,
            columns=[c["quotes"], c["kw_class"], c["kw_import"]],
        ),
        node(
            "n8",
            "train_model",
            HOSTILE_LABEL,
            model_type="logistic_regression",
            hyperparameters={"max_iter": 500},
            cv_folds=3,
        ),
        node(
            "n9",
            "evaluate_model",
            HOSTILE_LABEL,
            metrics=["accuracy", "f1"],
            positive_label='yes "1"',
        ),
    ]
    doc = make_document(
        nodes,
        chain(*[n["id"] for n in nodes]),
        data_sources=[{"id": "ds_1", "name": HOSTILE_NAME, "type": "csv", "path": "data/data.csv"}],
    )
    doc["pipeline"].update(name=HOSTILE_NAME, description=HOSTILE_LABEL, owner=HOSTILE_LABEL)
    return doc


# --- session fixtures ---------------------------------------------------------------------------


def _write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _clean_env(venv: Path | None = None) -> dict:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return env


def _run(
    args, cwd: Path, venv: Path | None = None, extra_env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_env(venv) | (extra_env or {}),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


def _requirements(plans) -> list[str]:
    """The union of the projects' requirement lines (runtime and dev), in a stable order."""
    lines: dict[str, None] = {}
    for plan in plans:
        files = render_project(plan, OPTIONS, Assets())
        for name in ("requirements.txt", "requirements-dev.txt"):
            for line in files.get(name, b"").decode().splitlines():
                line = line.strip()
                if line and not line.startswith(("#", "-r")):
                    lines[line] = None
    return list(lines)


def _make_venv(path: Path, requirements: list[str], log: dict) -> None:
    proc = _run([sys.executable, "-m", "venv", "--clear", path], cwd=path.parent)
    if proc.returncode != 0:
        log["error"] = proc.stderr
        return
    req = path.parent / "requirements-union.txt"
    req.write_text("\n".join(requirements) + "\n")
    proc = _run([path / "bin" / "python", "-m", "pip", "install", "-q", "-r", req], cwd=path.parent)
    if proc.returncode != 0:
        log["error"] = proc.stdout[-3000:] + proc.stderr[-3000:]


class Session:
    def __init__(self, base: Path):
        self.base = base
        self.planned = {}
        self.built = {}
        self.roots = {}
        self.errors = {}
        self.venv = base / "venv"
        self.venv_log: dict = {}
        self.venv_requirements: list[str] = []


def _build_one(session: Session, name: str, bundle: Path):
    planned = plan_bundle(bundle)
    session.planned[name] = planned
    built = build_project(planned, OPTIONS, allow_parity_drift=True)
    session.built[name] = built
    session.roots[name] = _write_tree(session.base / "projects" / name, built.files)


@pytest.fixture(scope="session")
def session(tmp_path_factory) -> Session:
    base = tmp_path_factory.mktemp("generated")
    s = Session(base)
    hostile_bundle = write_bundle(base / "hostile_bundle", hostile_document(), hostile_frame())
    bundles = {name: EXAMPLES / name for name in EXAMPLE_NAMES} | {"hostile": hostile_bundle}
    plans = []
    for bundle in bundles.values():
        try:
            plans.append(plan_bundle(bundle).plan)
        except Exception:  # noqa: BLE001 - the build below reports it
            pass
    s.venv_requirements = _requirements(plans)
    venv_thread = threading.Thread(
        target=_make_venv, args=(s.venv, s.venv_requirements, s.venv_log)
    )
    venv_thread.start()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(_build_one, s, name, bundle) for name, bundle in bundles.items()
        }
        for name, future in futures.items():
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - reported by the tests of that project
                s.errors[name] = exc
    venv_thread.join()
    return s


def _project(session: Session, name: str) -> Path:
    if name in session.errors:
        raise session.errors[name]
    return session.roots[name]


@pytest.fixture(scope="session")
def venv(session) -> Path:
    if "error" in session.venv_log:
        pytest.fail(f"could not create the session virtualenv:\n{session.venv_log['error']}")
    return session.venv


# --- the examples ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_exports_with_parity(session, name):
    _project(session, name)
    built = session.built[name]
    parity = built.parity
    assert parity is not None and parity.rows > 0
    assert parity.ok, parity.describe() + f" first differences: {parity.first_differences}"
    assert parity.task == built.plan.problem_type
    if parity.task == "classification":
        assert parity.reproduced / parity.rows >= PARITY_CLASSIFICATION
    else:
        assert parity.reproduced == parity.rows  # each within a relative PARITY_REL_TOL
        assert PARITY_REL_TOL == 1e-6


def test_the_venv_is_isolated(venv):
    cfg = (venv / "pyvenv.cfg").read_text()
    assert re.search(r"include-system-site-packages\s*=\s*false", cfg)
    proc = _run([venv / "bin" / "python", "-c", "import gitexport"], cwd=venv)
    assert proc.returncode != 0, "gitexport must not be importable from the project's venv"


def _pytest_passes(venv: Path, root: Path) -> str:
    proc = _run(
        [venv / "bin" / "python", "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"], cwd=root
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert " passed" in output and "skipped" not in output and "deselected" not in output, output[
        -3000:
    ]
    return output


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_project_tests_pass_in_a_fresh_venv(session, venv, name):
    root = _project(session, name)
    _pytest_passes(venv, root)
    # the slow determinism test ran too
    proc = _run(
        [
            venv / "bin" / "python",
            "-m",
            "pytest",
            "-q",
            "-m",
            "slow",
            "--collect-only",
            "-p",
            "no:cacheprovider",
        ],
        cwd=root,
    )
    assert "test_training_is_deterministic" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize("name", EXAMPLE_NAMES + ("hostile",))
def test_ruff_is_clean(session, venv, name):
    root = _project(session, name)
    ruff = venv / "bin" / "ruff"
    check = _run([ruff, "check", "--no-cache", "."], cwd=root)
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    fmt = _run([ruff, "format", "--check", "--no-cache", "."], cwd=root)
    assert fmt.returncode == 0, fmt.stdout[-4000:] + fmt.stderr[-2000:]


def test_project_installs_editable(session, tmp_path):
    """``pip install -e .`` (the README's setup) makes ``src`` importable from anywhere."""
    root = _project(session, "telco_churn")
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["build-system"]["build-backend"] == "setuptools.build_meta"
    env = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", env], cwd=tmp_path).returncode == 0
    python = env / "bin" / "python"
    # --no-deps: this checks the packaging; the session venv holds the dependencies.
    proc = _run([python, "-m", "pip", "install", "-q", "--no-deps", "-e", root], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    where = "import importlib.util as u; print(u.find_spec('src.config').origin)"
    proc = _run([python, "-c", where], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Path(proc.stdout.strip()).resolve() == (root / "src" / "config.py").resolve()
    # Nothing in the project patches sys.path or silences E402 any more.
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "sys.path" not in text and "E402" not in text, path
    for path in root.rglob("*.ipynb"):
        assert "sys.path" not in path.read_text(encoding="utf-8"), path


PREDICT_GOLDEN = """
import json, sys
from src.models.predict import ModelPredictor
out = {}
for folder in sys.argv[1:]:
    predictor = ModelPredictor(f"{folder}/models/trained/model.joblib", f"{folder}/models/manifest.json")
    frame = predictor.predict_batch("tests/fixtures/golden_predictions.csv")
    out[folder] = [p.item() if hasattr(p, "item") else p for p in frame["prediction"]]
print(json.dumps(out))
"""


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_retraining_reproduces_the_shipped_model(session, venv, name, tmp_path):
    root = _project(session, name)
    data = session.planned[name].data_path.resolve()
    python = venv / "bin" / "python"
    script, module = tmp_path / "script", tmp_path / "module"
    # The script form needs the project installed (``pip install -e .``, which
    # test_project_installs_editable checks); the session venv serves several projects that
    # all provide ``src``, so the project is put on the path the way the install would.
    installed = {"PYTHONPATH": str(root)}
    for args, env in (
        ([python, "src/models/train.py", "--data", data, "--output-dir", script], installed),
        ([python, "-m", "src.models.train", "--data", data, "--output-dir", module], {}),
    ):
        proc = _run(args, cwd=root, extra_env=env)
        assert proc.returncode == 0, proc.stderr[-4000:]
    proc = _run([python, "-c", PREDICT_GOLDEN, root, script, module], cwd=root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    predictions = json.loads(proc.stdout)
    golden = pd.read_csv(root / "tests" / "fixtures" / "golden_predictions.csv")["prediction"]
    assert len(golden) > 0
    shipped = predictions[str(root)]
    for folder in (script, module):
        retrained = predictions[str(folder)]
        if session.built[name].plan.problem_type == "classification":
            assert (
                [str(p) for p in retrained]
                == [str(p) for p in shipped]
                == golden.astype(str).tolist()
            )
        else:
            np.testing.assert_allclose(retrained, shipped, rtol=1e-12)
            np.testing.assert_allclose(shipped, golden.to_numpy(dtype=float), rtol=1e-12)
    # the retrained metrics are the shipped ones
    shipped_metrics = json.loads((root / "models" / "metrics.json").read_text())
    for folder in (script, module):
        assert json.loads((folder / "models" / "metrics.json").read_text()) == shipped_metrics


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_metrics_carry_the_figure_data(session, name):
    """models/metrics.json holds what gitexport/figures.py draws the PR's pictures from."""
    _project(session, name)
    built = session.built[name]
    metrics, files = built.metrics, built.files
    if name in ("telco_churn", "penguins"):  # a random forest, a logistic regression
        weights = metrics["feature_importances"]
        assert set(weights) == set(metrics["features"])
        assert all(isinstance(v, float) for v in weights.values())
        assert "reports/figures/feature_importances.svg" in files
    else:  # histogram gradient boosting has neither feature_importances_ nor coef_
        assert "feature_importances" not in metrics
    if name == "telco_churn":  # binary: the ROC curve, consistent with the test ROC AUC
        fpr, tpr = metrics["roc_curve"]["fpr"], metrics["roc_curve"]["tpr"]
        assert 2 < len(fpr) == len(tpr) <= 200
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
        assert fpr == sorted(fpr) and tpr == sorted(tpr)
        area = float(np.trapezoid(tpr, fpr))
        assert area == pytest.approx(metrics["test"]["roc_auc"], abs=0.01)
        assert "reports/figures/roc_curve.svg" in files
    else:
        assert "roc_curve" not in metrics
    if name == "diamonds":  # regression: evenly spaced test rows, actual and predicted
        rows = metrics["test_predictions"]
        assert len(rows["actual"]) == len(rows["predicted"]) == min(500, metrics["rows"]["test"])
        data = pd.read_parquet(session.planned[name].data_path)
        target = set(data[built.plan.target].astype(float).round(6))
        assert {round(v, 6) for v in rows["actual"]} <= target
        rmse = float(np.sqrt(np.mean((np.array(rows["actual"]) - rows["predicted"]) ** 2)))
        assert rmse == pytest.approx(metrics["test"]["rmse"], rel=0.25)
        assert {"reports/figures/predicted_vs_actual.svg", "reports/figures/residuals.svg"} <= set(
            files
        )
    else:
        assert "test_predictions" not in metrics


def test_same_bundle_exported_twice_is_byte_identical():
    # Two exports side by side (not against the session's build: the templates are the same
    # only within one run of gitexport).
    def export(_):
        return build_project(
            plan_bundle(EXAMPLES / "penguins"), OPTIONS, allow_parity_drift=True
        ).files

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, again = pool.map(export, range(2))
    assert sorted(again) == sorted(first)
    differing = [path for path in first if first[path] != again[path]]
    assert differing == []
    assert "models/trained/model.joblib" in first


# --- hostile names -------------------------------------------------------------------------------


def _identifiers(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.Attribute):
            names.add(n.attr)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.arg):
            names.add(n.arg)
        elif isinstance(n, ast.keyword) and n.arg:
            names.add(n.arg)
        elif isinstance(n, ast.alias):
            names.update(part for name in (n.name, n.asname) if name for part in name.split("."))
        elif isinstance(n, ast.ImportFrom) and n.module:
            names.update(n.module.split("."))
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            names.update(n.names)
    return names


def _model_fields(tree: ast.AST) -> set[str]:
    """Annotated class attributes (pydantic fields: identifiers made from column names)."""
    return {
        stmt.target.id
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef)
        for stmt in cls.body
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
    }


def _strings(tree: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_hostile_names_export(session):
    root = _project(session, "hostile")
    built = session.built["hostile"]
    assert built.plan.target == HOSTILE_TARGET
    assert built.plan.pipeline.name == HOSTILE_NAME
    trees = {}
    for rel in sorted(built.files):
        if rel.endswith(".py"):
            source = built.files[rel].decode("utf-8")
            trees[rel] = ast.parse(source, filename=rel)
    assert "src/features/pipeline.py" in trees and "src/data/data_validator.py" in trees
    for rel, tree in trees.items():
        fields = _model_fields(tree)
        for identifier in _identifiers(tree):
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", identifier), (
                f"{rel}: identifier {identifier!r}"
            )
            assert not keyword.iskeyword(identifier)
            if identifier in fields:
                continue  # a sanitised field name; the column name itself is its string alias
            bad = [m for m in MARKERS if m in identifier]
            assert not bad, f"{rel}: identifier {identifier!r} carries hostile text {bad}"
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
                assert n.func.id not in ("__import__", "eval", "exec", "compile"), rel
            if isinstance(n, ast.Attribute):
                assert n.attr not in ("system", "popen"), rel
    constants = _strings(trees["src/features/pipeline.py"]) | _strings(
        trees["src/data/data_validator.py"]
    )
    for key, name in {**HOSTILE_COLUMNS, "target": HOSTILE_TARGET}.items():
        assert name in constants, (
            f"{key}: {name!r} is not a string constant of the pipeline/validator"
        )
    # the pipeline's node columns are exactly the hostile strings
    pipeline_strings = _strings(trees["src/features/pipeline.py"])
    for column in (
        "jinja_var",
        "unicode",
        "triple",
        "quotes",
        "kw_class",
        "kw_import",
        "kw_def",
        "newline",
    ):
        assert HOSTILE_COLUMNS[column] in pipeline_strings, column
    assert ' "code" {{ z }}' in pipeline_strings
    # the features the model learned carry the names intact
    features = built.metrics["features"]
    assert HOSTILE_COLUMNS["quotes"] in features and HOSTILE_COLUMNS["kw_def"] not in features
    assert HOSTILE_COLUMNS["triple"] + ' "code" {{ z }}' in features
    assert f"{HOSTILE_COLUMNS['jinja_var']}_{{{{e}}}}" in features
    assert (root / "src" / "features" / "pipeline.py").exists()


def test_hostile_names_yaml_json_toml_markdown_parse(session):
    _project(session, "hostile")
    files = session.built["hostile"].files
    parsed = 0
    for rel, data in sorted(files.items()):
        text = data.decode("utf-8") if not rel.endswith((".joblib", ".parquet")) else None
        if rel.endswith((".yaml", ".yml")):
            list(yaml.safe_load_all(text))
            parsed += 1
        elif rel.endswith(".json"):
            json.loads(text)
            parsed += 1
        elif rel.endswith(".toml"):
            tomllib.loads(text)
            parsed += 1
        elif rel.endswith(".md"):
            _check_markdown(rel, text)
            parsed += 1
    assert parsed >= 5
    config = yaml.safe_load(files["config/config.yaml"])
    assert config["data"]["target"] == HOSTILE_TARGET
    assert config["evaluation"]["positive_label"] == 'yes "1"'
    model_config = yaml.safe_load(files["config/model_config.yaml"])
    assert model_config["pipeline"]["name"] == HOSTILE_NAME
    plan = json.loads(files[".gitexport/plan.json"])
    assert plan["target"] == HOSTILE_TARGET
    assert {f["name"] for f in plan["serving_schema"]} >= {
        HOSTILE_COLUMNS["quotes"],
        HOSTILE_COLUMNS["call"],
    }


def _check_markdown(rel: str, text: str) -> None:
    from markdown_it import MarkdownIt

    MarkdownIt("commonmark").enable("table").parse(text)
    assert text.count("```") % 2 == 0, f"{rel}: unbalanced code fences"
    # every table row has as many cells as its header: a name with a newline or a pipe
    # must not break a row
    header_cells = None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = len(re.findall(r"(?<!\\)\|", line))
            if header_cells is None:
                header_cells = cells
            assert cells == header_cells, f"{rel}: broken table row {line!r}"
        else:
            header_cells = None


def test_hostile_project_tests_pass(session, venv):
    root = _project(session, "hostile")
    _pytest_passes(venv, root)
