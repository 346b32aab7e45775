"""The generated project's API, deployment files, CI workflows, documents and notebooks.

Each example bundle is built (rendered and trained) once per session; the switch combinations
that matter are re-rendered from that build, since rendering is pure and only the templates
differ. The generated files are checked with the real tools (ruff, actionlint,
check-jsonschema, hadolint, kubernetes-validate, shellcheck, nbformat/nbclient, schemathesis),
and the API is served with uvicorn on 127.0.0.1 and called over HTTP.

A missing tool skips its check locally and fails under CI (``CI`` set).
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from gitexport.build import ARTIFACTS, BuiltProject, build_project
from gitexport.identifiers import field_identifier, field_identifiers
from gitexport.load import plan_bundle
from gitexport.notebooks import notebook_json, parse_cells
from gitexport.render import (
    Assets,
    RenderOptions,
    executable_paths,
    format_sources,
    render_project,
    transformer_catalog,
    transformer_classes,
)
from helpers import (
    BIN,
    EXAMPLES,
    base_frame,
    base_pipeline,
    config,
    penguins_variant,
    tool,
    write_bundle,
)

EXAMPLE_NAMES = ("penguins", "telco_churn", "diamonds")
VARIANTS = {
    "all": RenderOptions(),
    "minimal": RenderOptions(docker=False, kubernetes=False, ci=False),
    "gitlab": RenderOptions(provider="gitlab"),
    # No data shipped (private data), model as a release asset: no golden rows, no sample.
    "no-data": RenderOptions(data="none", artifacts="release"),
}
NO_DATA = (RenderOptions(data="none"), Assets())
TRANSFORMERS_DIR = (
    Path(__file__).resolve().parents[1]
    / "templates"
    / "project"
    / "src"
    / "features"
    / "transformers"
)
API_FILES = ("src/api/__init__.py", "src/api/main.py", "src/api/schemas.py", "src/api/endpoints.py")
NOTEBOOKS = ("notebooks/01_exploratory_analysis.ipynb", "notebooks/02_model_analysis.ipynb")


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MAX_BATCH_SIZE")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if rel in executable_paths(files):
            path.chmod(0o755)
    return root


def rerender(built: BuiltProject, options: RenderOptions) -> dict[str, bytes]:
    """The project of ``built`` with other options: same plan, trained artifacts and report."""
    files = built.files
    sample = next((data for rel, data in files.items() if rel.startswith("data/sample/")), None)
    extra = {
        rel: data
        for rel, data in files.items()
        if rel in ARTIFACTS or rel.startswith(".gitexport/")
    }
    if options.data == "none":  # what build_project leaves out without data
        sample = None
        extra.pop("tests/fixtures/golden_predictions.csv", None)
    parity = built.parity
    report = {
        "metrics": built.metrics,
        "parity": None if parity is None else parity.to_dict(),
        "lineage": built.lineage,
    }
    return render_project(
        built.plan, options, Assets(sample_csv=sample, extra=extra), report=report
    )


class Projects:
    """Builds each example once and writes each (example, variant) tree once, on demand."""

    def __init__(self, root: Path):
        self.root = root
        self.built: dict[str, BuiltProject] = {}
        self.trees: dict[tuple[str, str], Path] = {}

    def build(self, example: str) -> BuiltProject:
        if example not in self.built:
            planned = plan_bundle(EXAMPLES / example)
            self.built[example] = build_project(planned, RenderOptions())
        return self.built[example]

    def files(self, example: str, variant: str) -> dict[str, bytes]:
        built = self.build(example)
        return built.files if variant == "all" else rerender(built, VARIANTS[variant])

    def tree(self, example: str, variant: str = "all") -> Path:
        key = (example, variant)
        if key not in self.trees:
            self.trees[key] = write_tree(
                self.root / f"{example}-{variant}", self.files(example, variant)
            )
        return self.trees[key]


@pytest.fixture(scope="session")
def projects(tmp_path_factory) -> Projects:
    return Projects(tmp_path_factory.mktemp("generated"))


# --- fast: helpers and rendering without training ----------------------------------------


HOSTILE = {
    "age": "class",
    "income": 'in"come\n{{ 7*7 }}',
    "city": "ville 🏙 '{% raw %}",
    "score": "model_config",
}


def hostile_bundle(tmp_path: Path) -> Path:
    """The helpers' base pipeline with hostile column names and a one-hot that rejects unknowns."""
    frame = base_frame(80).rename(columns=HOSTILE)
    document = base_pipeline()
    config(document, "n4")["columns"] = [HOSTILE["income"]]
    config(document, "n5").update(columns=[HOSTILE["city"]], handle_unknown="error")
    return write_bundle(tmp_path / "hostile", document, frame)


def test_field_identifiers_are_safe_and_unique():
    names = [
        "class",
        "a b",
        "a-b",
        "1st",
        "",
        "model_dump",
        "Ünïcödé",
        "match",
        'x"\n{{ y }}',
        "json",
    ]
    idents = field_identifiers(names)
    assert idents == [
        "class_",
        "a_b",
        "a_b_2",
        "f_1st",
        "field",
        "col_model_dump",
        "unicode",
        "match_",
        "x_y",
        "col_json",
    ]
    assert all(i.isidentifier() for i in idents)
    assert field_identifier("bill_length_mm") == "bill_length_mm"


def test_notebook_json_is_valid_and_deterministic():
    nbformat = pytest.importorskip("nbformat")
    text = "# %% [markdown]\n# Title\n\n# %%\nx=1\ny = [1,2]\n# %%\n\n# %%\nprint( x )\n"
    first, second = notebook_json(text), notebook_json(text)
    assert first == second
    # The renderer's one ruff run formats the code cells (and keeps Jupyter's JSON layout).
    formatted = format_sources({"notebooks/n.ipynb": first})["notebooks/n.ipynb"]
    assert formatted == json.dumps(json.loads(formatted), indent=1, sort_keys=True) + "\n"
    notebook = nbformat.reads(formatted, as_version=4)
    nbformat.validate(notebook)
    assert [c.cell_type for c in notebook.cells] == ["markdown", "code", "code"]
    assert notebook.cells[1].source == "x = 1\ny = [1, 2]"
    assert all(c.outputs == [] and c.execution_count is None for c in notebook.cells[1:])
    with pytest.raises(ValueError):
        parse_cells("text before any marker\n# %%\nx = 1\n")


def test_hostile_column_names_stay_string_literals(tmp_path):
    plan = plan_bundle(hostile_bundle(tmp_path)).plan
    files = render_project(plan, RenderOptions(), Assets())
    source = files["src/api/schemas.py"].decode()
    tree = ast.parse(source)
    request = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PredictionRequest"
    )
    aliases, annotations = {}, {}
    for stmt in request.body:
        if isinstance(stmt, ast.AnnAssign):
            alias = next(k.value for k in stmt.value.keywords if k.arg == "alias")
            aliases[stmt.target.id] = ast.literal_eval(alias)
            annotations[aliases[stmt.target.id]] = ast.unparse(stmt.annotation)
    assert set(HOSTILE.values()) <= set(aliases.values())
    assert aliases["class_"] == "class" and aliases["col_model_config"] == "model_config"
    # Categories the pipeline rejects become a Literal of exactly the known ones (not null:
    # the column is never missing in the data).
    assert annotations[HOSTILE["city"]] == "Literal['a', 'b', 'c']"
    for rel in API_FILES + ("tests/test_api.py",):
        ast.parse(files[rel].decode())  # valid Python, whatever the names


def collision_bundle(tmp_path: Path) -> Path:
    """The base pipeline with columns ``a b`` and ``a_b``, whose fields are ``a_b`` and ``a_b_2``.

    It also drops columns (``id``, ``note``, ``signup``, ``kind``) and has a column that is
    never missing but that the planner counts as fillable (``city``).
    """
    frame = base_frame(80).rename(columns={"score": "a b", "price": "a_b"})
    return write_bundle(tmp_path / "collision", base_pipeline(), frame)


def load_module(path: Path, source: bytes):
    """Import a rendered module that needs no project package (the request models)."""
    import importlib.util

    path.write_bytes(source)  # a file: pydantic reads the fields' docstrings from the source
    spec = importlib.util.spec_from_file_location(f"_rendered_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_request_model_takes_rows_of_the_data_source_by_exact_column_names(tmp_path):
    from pydantic import ValidationError

    plan = plan_bundle(collision_bundle(tmp_path)).plan
    files = render_project(plan, RenderOptions(), Assets())
    schemas = load_module(tmp_path / "schemas.py", files["src/api/schemas.py"])
    request = schemas.PredictionRequest
    record = {"age": 30, "income": None, "a b": 0.5, "city": "a", "a_b": 42.0}

    def refused(body: dict) -> list[tuple[tuple, str]]:
        with pytest.raises(ValidationError) as caught:
            request.model_validate(body)
        return [(e["loc"], e["type"]) for e in caught.value.errors()]

    assert request.model_validate(record).model_dump(by_alias=True) == record
    # Issue 12.2: "a_b" is a column's name and another column's field name; it never fills "a b".
    assert refused({k: v for k, v in record.items() if k != "a b"}) == [(("a b",), "missing")]
    # Issue 13: the dropped columns and the target are accepted and ignored ...
    full = {**record, "id": "r001", "note": "x", "signup": "2024-01-01", "kind": 7, "label": "no"}
    assert request.model_validate(full).model_dump(by_alias=True) == record
    assert schemas.IGNORED_COLUMNS == ["id", "note", "signup", "kind", "label"]
    properties = request.model_json_schema(by_alias=True)["properties"]
    assert properties["id"]["description"].startswith("Ignored: the pipeline drops this column")
    # ... a key that is no column of the data source is refused, named ...
    assert refused({**record, "a-b": 1}) == [(("a-b",), "extra_forbidden")]
    # ... and so is a null in a column never missing in training (income had missing values).
    assert refused({**record, "city": None}) == [(("city",), "string_type")]
    assert request.model_validate({**record, "income": None})
    assert [f["name"] for f in schemas.FEATURES if f["nullable"]] == ["income"]


def test_render_is_deterministic_and_switchable(tmp_path):
    plan = plan_bundle(EXAMPLES / "penguins").plan
    first = render_project(plan, RenderOptions(), Assets())
    assert first == render_project(plan, RenderOptions(), Assets())
    assert {
        ".github/workflows/ci.yml",
        ".github/workflows/cd.yml",
        "docker/Dockerfile",
        "docker/Dockerfile.dev",
        "docker/docker-compose.yml",
        ".dockerignore",
        "deployment/kubernetes/deployment.yaml",
        "deployment/kubernetes/service.yaml",
        ".env.example",
        "MODEL_CARD.md",
        "docs/data_dictionary.md",
        *NOTEBOOKS,
        *API_FILES,
        "scripts/train.sh",
        "scripts/evaluate.sh",
        "scripts/serve.sh",
    } <= set(first)
    minimal = render_project(plan, VARIANTS["minimal"], Assets())
    assert not [
        p for p in minimal if p.startswith((".github/", "docker/", "deployment/", ".dockerignore"))
    ]
    assert "docker" not in minimal["README.md"].decode().lower()
    gitlab = render_project(plan, VARIANTS["gitlab"], Assets())
    assert ".gitlab-ci.yml" in gitlab and not [p for p in gitlab if p.startswith(".github/")]
    assert executable_paths(first) == {
        "scripts/train.sh",
        "scripts/evaluate.sh",
        "scripts/serve.sh",
        "scripts/smoke_test.py",
    }


def test_a_hyperparameter_change_renders_into_the_model_files_only(tmp_path):
    """Version and hyperparameter change (C 0.25 -> 0.5, v2 -> v3): the Dockerfile, manifests,
    pyproject, API, tests and notebooks stay as they were; the version is read at run time
    from config/model_config.yaml. (Training adds metrics, manifest, model, golden rows and
    lineage, which are expected to change.)"""
    before = render_project(plan_bundle(penguins_variant(tmp_path, 2, 0.25)).plan, *NO_DATA)
    after = render_project(plan_bundle(penguins_variant(tmp_path, 3, 0.5)).plan, *NO_DATA)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert changed == ["MODEL_CARD.md", "config/model_config.yaml"]
    attributes = after[".gitattributes"].decode()
    for generated in (".gitexport/**", "models/metrics.json", "models/manifest.json"):
        assert f"{generated} linguist-generated" in attributes.splitlines()


def test_only_the_used_transformer_categories_are_copied():
    plan = plan_bundle(EXAMPLES / "telco_churn").plan
    files = render_project(plan, RenderOptions(), Assets())
    package = "src/features/transformers/"
    copied = sorted(p.removeprefix(package) for p in files if p.startswith(package))
    used = transformer_classes(plan)
    categories = {transformer_catalog()[name] for name in used}
    assert len(categories) < len({*transformer_catalog().values()})  # a real selection
    assert copied == sorted({"__init__.py", "_base.py"} | {f"{c}.py" for c in categories})
    for name in copied:
        if name != "__init__.py":  # copied verbatim
            assert files[package + name] == (TRANSFORMERS_DIR / name).read_bytes()
    tree = ast.parse(files[package + "__init__.py"])
    imported = sorted(a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names)
    exported = next(n.value for n in tree.body if isinstance(n, ast.Assign))
    assert imported == sorted(used) == sorted(ast.literal_eval(exported))
    assert "from src.features.transformers import" in files["src/features/pipeline.py"].decode()


def test_requirements_separate_runtime_from_dev():
    """The image installs requirements.txt: test and lint tools belong in requirements-dev.txt."""
    from gitexport.render import Assets, RenderOptions, render_project

    plan = plan_bundle(EXAMPLES / "penguins").plan
    files = render_project(plan, RenderOptions(), Assets())

    def pins(path):
        lines = files[path].decode().splitlines()
        return {
            line.split("==")[0]: line.split("==")[1]
            for line in lines
            if line and not line.startswith(("#", "-r"))
        }

    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert {"scikit-learn", "pandas", "fastapi", "uvicorn", "pydantic"} <= runtime.keys()
    assert {"httpx2", "pytest", "ruff"} <= dev.keys()
    assert not ({"httpx2", "pytest", "ruff"} & runtime.keys())
    assert "-r requirements.txt" in files["requirements-dev.txt"].decode()
    assert all(version[0].isdigit() for version in {**runtime, **dev}.values())


# --- slow: built projects and real tools ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_generated_files_pass_their_linters(projects, example, variant):
    root = projects.tree(example, variant)
    options = VARIANTS[variant]
    paths = ["."]
    run([tool("ruff"), "check", *paths], root)
    run([tool("ruff"), "format", "--check", *paths], root)
    run([tool("shellcheck"), *sorted(str(p) for p in (root / "scripts").glob("*.sh"))], root)
    nbformat = pytest.importorskip("nbformat")
    for rel in NOTEBOOKS:
        nbformat.validate(nbformat.read(root / rel, as_version=4))
    workflows = sorted(str(p) for p in (root / ".github" / "workflows").glob("*.yml"))
    assert bool(workflows) == (options.ci and options.provider == "github")
    if workflows:
        run([tool("actionlint"), *workflows], root)
        run(
            [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows],
            root,
        )
    assert (root / ".gitlab-ci.yml").exists() == (options.ci and options.provider == "gitlab")
    if (root / ".gitlab-ci.yml").exists():
        run(
            [
                tool("check-jsonschema"),
                "--builtin-schema",
                "vendor.gitlab-ci",
                "--data-transform",
                "gitlab-ci",
                ".gitlab-ci.yml",
            ],
            root,
        )
    assert (root / "docker").exists() == options.docker
    if options.docker:
        run([tool("hadolint"), "docker/Dockerfile", "docker/Dockerfile.dev"], root)
        run(
            [
                tool("check-jsonschema"),
                "--builtin-schema",
                "vendor.compose-spec",
                "docker/docker-compose.yml",
            ],
            root,
        )
    assert (root / "deployment").exists() == options.kubernetes
    if options.kubernetes:
        run(
            [
                tool("kubernetes-validate"),
                "--strict",
                "deployment/kubernetes/deployment.yaml",
                "deployment/kubernetes/service.yaml",
            ],
            root,
        )
    if workflows:  # a checkout has an LFS pointer, or no model at all with release assets
        ci = (root / ".github" / "workflows" / "ci.yml").read_text()
        assert ("lfs: true" if options.artifacts == "lfs" else "scripts/fetch_artifacts.py") in ci


@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "variant"), [(name, "all") for name in EXAMPLE_NAMES] + [("telco_churn", "no-data")]
)
def test_generated_api_tests_pass(projects, example, variant):
    root = projects.tree(example, variant)
    proc = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_api.py"], root
    )
    assert " passed" in proc.stdout and "failed" not in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_notebooks_run(projects, example, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    root = projects.tree(example)
    # The notebooks import the installed project (``pip install -e .``); the kernel gets the
    # path that install gives, as gitexport's environment holds several projects' ``src``.
    monkeypatch.setenv("PYTHONPATH", str(root))
    for rel in NOTEBOOKS:
        notebook = nbformat.read(root / rel, as_version=4)
        client = nbclient.NotebookClient(
            notebook,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(root / "notebooks")}},
        )
        client.execute()  # raises CellExecutionError naming the failing cell
        assert all(not c.get("outputs") or c.cell_type == "code" for c in notebook.cells)
    # The committed notebooks carry no outputs and no execution counts.
    committed = json.loads((root / NOTEBOOKS[0]).read_text(encoding="utf-8"))
    assert all(
        c.get("outputs", []) == [] and c.get("execution_count") is None for c in committed["cells"]
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The generated project's ``scripts/serve.sh`` (uvicorn), on a free port of 127.0.0.1."""

    def __init__(self, root: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        environ.update(env)
        self.log = root / f"uvicorn-{self.port}.log"
        # The project's own start-up script, as its README tells a user to serve it.
        environ.update(PYTHON=sys.executable, HOST="127.0.0.1", PORT=str(self.port))
        self.proc = subprocess.Popen(
            ["bash", "scripts/serve.sh"],
            cwd=root,
            env=environ,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"uvicorn exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"uvicorn did not answer in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def golden_requests(root: Path, built: BuiltProject) -> tuple[list[dict], list]:
    frame = pd.read_csv(root / "tests" / "fixtures" / "golden_predictions.csv")
    records = []
    for _, row in frame.iterrows():
        record = {}
        for field in built.plan.serving_schema:
            value = row[field.name]
            if pd.isna(value):
                value = None
            elif field.kind == "string":
                value = str(value)
            record[field.name] = value.item() if hasattr(value, "item") else value
        records.append(record)
    return records, frame["prediction"].tolist()


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_served_over_http(projects, example):
    import httpx

    built = projects.build(example)
    root = projects.tree(example)
    server = Server(root, MAX_BATCH_SIZE="100")
    try:
        server.wait()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.get("/health").json() == {"status": "ok"}
            ready = http.get("/ready").json()
            assert (
                ready["model_sha256"]
                == built.lineage["model_sha256"]["models/trained/model.joblib"]
            )
            metadata = http.get("/metadata").json()
            assert metadata["pipeline"]["id"] == built.plan.pipeline.id
            assert [f["name"] for f in metadata["features"]] == [
                f.name for f in built.plan.serving_schema
            ]
            assert http.get("/docs").status_code == 200
            records, expected = golden_requests(root, built)
            one = http.post("/predict", json=records[0])
            assert one.status_code == 200, one.text
            batch = http.post("/predict/batch", json={"records": records})
            assert batch.status_code == 200, batch.text
            predicted = [p["prediction"] for p in batch.json()["predictions"]]
            if built.plan.problem_type == "classification":
                assert [str(p) for p in predicted] == [str(e) for e in expected]
            else:
                assert predicted == pytest.approx(expected, rel=1e-9)
            oversize = http.post("/predict/batch", json={"records": records[:1] * 101})
            assert oversize.status_code == 422 and "at most 100" in oversize.json()["message"]
            missing = http.post(
                "/predict", content=b"[1,", headers={"Content-Type": "application/json"}
            )
            assert missing.status_code == 422
        run([sys.executable, "scripts/smoke_test.py", "--url", server.url, "--timeout", "30"], root)
        # Fuzz the API from its own OpenAPI document: no input may cause a 500.
        run(
            [
                tool("schemathesis"),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "40",
                "--generation-deterministic",
                "--request-timeout",
                "30",
            ],
            root,
            timeout=600,
        )
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text(), server.log.read_text()


@pytest.mark.slow
def test_hostile_column_names_end_to_end(tmp_path):
    """A project whose column names are quotes, newlines, template syntax and keywords."""
    planned = plan_bundle(hostile_bundle(tmp_path))
    built = build_project(planned, RenderOptions())
    root = write_tree(tmp_path / "project", built.files)
    run([tool("ruff"), "check", "."], root)
    run([tool("ruff"), "format", "--check", "."], root)
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_api.py"], root)


# Runs in the generated project, on one CPU (as a smaller serving machine would be): which
# thread counts scikit-learn computes a prediction with, and the predictions themselves.
_PREDICT_ON_ONE_CPU = """
import json, os, sys
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from threadpoolctl import threadpool_info
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
import src.models.predict as predict
seen = []
original = predict.model_input
def spy(pipeline, features):
    pools = {p["user_api"]: p["num_threads"] for p in threadpool_info()}
    seen.append({**pools, "openmp": _openmp_effective_n_threads()})
    return original(pipeline, features)
predict.model_input = spy
out = predict.ModelPredictor().predict_batch(sys.argv[1])
print(json.dumps({"seen": seen, "predictions": out["prediction"].tolist()}))
"""


@pytest.mark.slow
def test_predictions_replay_the_thread_counts_the_model_was_trained_with(projects, tmp_path):
    """Issue 13: KNN and SMOTE-trained models' predictions computed with the serving machine's
    default thread counts, not the ones training recorded (and the golden rows used)."""
    root = projects.tree("telco_churn")
    recorded = json.loads((root / "models/manifest.json").read_text())["threads"]
    golden = pd.read_csv(root / "tests/fixtures/golden_predictions.csv")
    rows = tmp_path / "rows.csv"
    golden.drop(columns=["prediction"]).to_csv(rows, index=False)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    proc = subprocess.run(
        [sys.executable, "-c", _PREDICT_ON_ONE_CPU, str(rows)],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["seen"] and all(seen == recorded for seen in result["seen"]), result["seen"]
    assert result["predictions"] == golden["prediction"].tolist()
