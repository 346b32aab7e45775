"""Build the generated project: render, train with the generated code, check parity.

The export trains by running the *generated* training code in a staging folder, so the
shipped model is exactly what the project's own code makes. The staging folder is thrown
away; what comes back is the finished tree (:class:`gitexport.tree.Tree`, path -> bytes) plus
a report. The trained model is not read into memory: it moves out of the staging folder into
the build's artifact folder and the tree holds it as a :class:`~gitexport.tree.FileRef`
(hashed in chunks), which the commit, the ZIP and the release upload stream from. The folder
lives as long as the :class:`BuiltProject` (or any ref to it): ``close()`` (or ``with``)
removes it, and so does :func:`remove_stale_build_dirs` if the process died.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from gitexport import __version__, identity, project_python
from gitexport.catalog import load_catalog
from gitexport.errors import BudgetExceeded, ParityError, UserError
from gitexport.git import release_tag
from gitexport.load import PlannedBundle
from gitexport.options import DEFAULT_BUDGET, Budget
from gitexport.parity import (  # noqa: F401  (PARITY_*: imported from here by callers)
    PARITY_CLASSIFICATION,
    PARITY_REL_TOL,
    Parity,
    assess_numerical,
    check_parity,
    failure_message,
    not_numerical,
    thread_change,
)
from gitexport.plan_model import ExportPlan
from gitexport.processes import kill_group, pid_alive
from gitexport.progress import BUILD_PHASES, Reporter
from gitexport.project_python import generated_code_env
from gitexport.render import (
    Assets,
    RenderOptions,
    library_imports,
    render_project,
)
from gitexport.sample import GOLDEN_ROWS, csv_bytes, sample_bytes, sample_rows
from gitexport.template_tree import template_digest
from gitexport.tree import Content, FileRef, Tree, sha256_of, write_tree

log = logging.getLogger(__name__)

ARTIFACTS = (
    "models/trained/model.joblib",
    "models/metrics.json",
    "models/manifest.json",
    "tests/fixtures/golden_predictions.csv",
)
# Artifacts as large as the model may be: kept on disk (FileRef), never read whole.
LARGE_ARTIFACTS = ("models/trained/",)


@dataclass
class BuiltProject:
    """A built export. Its large artifacts live in *artifact_dir* (see the module doc):
    use it as a context manager, or call :meth:`close`, when done with it."""

    plan: ExportPlan
    options: RenderOptions
    files: Tree
    metrics: dict
    parity: Parity | None
    lineage: dict
    timings: dict[str, float]
    # --artifacts release: the files kept out of git, to upload as release assets.
    release_files: Tree = field(default_factory=Tree)
    artifact_dir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def close(self) -> None:
        """Remove the artifact folder: the tree's refs to the model are no longer readable."""
        if self.artifact_dir is not None:
            self.artifact_dir.cleanup()

    def __enter__(self) -> BuiltProject:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# --- inputs computed at the edge ------------------------------------------------------


def _run(
    args: list[str],
    cwd: Path,
    what: str,
    reporter: Reporter | None = None,
    budget: Budget = DEFAULT_BUDGET,
) -> None:
    """Run the generated project's code; honour cancellation and the budget while it runs."""
    proc, output = project_python.start(args, cwd, budget.memory_mb)
    started = time.monotonic()
    with output:
        try:
            while proc.poll() is None:
                try:
                    proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
                if reporter is not None and reporter.cancelled():
                    kill_group(proc)
                    reporter.check()
                if time.monotonic() - started > budget.seconds:
                    kill_group(proc)
                    raise BudgetExceeded(
                        f"{what} ran past its time budget of {budget.seconds:g} s and was "
                        "stopped; raise the budget or reduce the model's size"
                    )
        except BaseException:
            kill_group(proc)
            raise
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        if budget.memory_mb and "MemoryError" in text:
            raise BudgetExceeded(
                f"{what} ran out of its memory budget of {budget.memory_mb} MB; raise the "
                "budget or reduce the model's size"
            )
        tail = "\n".join(text.strip().splitlines()[-15:])
        raise UserError(f"{what} failed in the generated project:\n{tail}")


def _prediction_files(staging: Path, rows: pd.DataFrame, name: str) -> tuple[Path, Path]:
    """Write ``rows`` for the generated code to predict; (input, output) paths."""
    inp = staging / ".gitexport-tmp" / f"{name}-input.csv"
    out = staging / ".gitexport-tmp" / f"{name}-output.csv"
    inp.parent.mkdir(exist_ok=True)
    rows.to_csv(inp, index=False)
    return inp, out


def _predict(
    staging: Path, rows: pd.DataFrame, name: str, reporter: Reporter | None, budget: Budget
) -> pd.DataFrame:
    """Predict ``rows`` with the staged model in a process of its own."""
    inp, out = _prediction_files(staging, rows, name)
    _run(
        ["-m", "src.models.predict", str(inp), "--output", str(out)],
        staging,
        "prediction",
        reporter,
        budget,
    )
    return pd.read_csv(out)


# Runs a module with other thread settings: they must be in the environment before numpy
# and scikit-learn load their BLAS and OpenMP pools, so the child sets them first.
_WITH_ENV = (
    "import json, os, runpy, sys; os.environ.update(json.loads(sys.argv[1])); "
    "sys.argv = sys.argv[2:]; runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)"
)


def _numerical_parity(
    planned: PlannedBundle,
    staging: Path,
    parity: Parity,
    reference: pd.DataFrame,
    predicted: pd.Series,
    metrics: dict,
    reporter: Reporter | None,
    budget: Budget,
) -> Parity:
    """Parity below the threshold: is the difference numerical? (gitexport.parity)

    Retrains in the same staging folder with another thread count (only the floating-point
    order changes) and predicts the reference rows again with it. The shipped artifacts were
    read before, so the second run may overwrite them.
    """
    if not parity.sensitive_nodes:
        return not_numerical(parity)
    threads = thread_change(generated_code_env())
    change = f"the BLAS/OpenMP thread count is {threads['OMP_NUM_THREADS']}"
    log.info("parity below the threshold; measuring the numerical spread (%s)", change)
    data = str(planned.data_path.resolve())
    _run(
        ["-c", _WITH_ENV, json.dumps(threads), "src.models.train", "--data", data],
        staging,
        "training (second run, other thread count)",
        reporter,
        budget,
    )
    # The prediction too: a KNN model's predict is itself a neighbour search.
    rows = staging / ".gitexport-tmp" / "reference-second-input.csv"
    out = staging / ".gitexport-tmp" / "reference-second-output.csv"
    reference.drop(columns=["prediction"]).to_csv(rows, index=False)
    _run(
        [
            "-c",
            _WITH_ENV,
            json.dumps(threads),
            "src.models.predict",
            str(rows),
            "--output",
            str(out),
        ],
        staging,
        "prediction (second run, other thread count)",
        reporter,
        budget,
    )
    second = pd.read_csv(out)
    return assess_numerical(
        parity,
        reference,
        predicted,
        second["prediction"],
        change=change,
        canvas_metrics=planned.plan.canvas_results.metrics,
        metrics=metrics,
        metrics_second=json.loads((staging / "models/metrics.json").read_text()),
    )


BUILD_DIR_PREFIX = "gitexport-build-"


def remove_stale_build_dirs() -> None:
    """Remove staging folders of builds whose process is gone (killed runs leave them, and
    with ``--data full`` they hold the data)."""
    root = Path(tempfile.gettempdir())
    for path in root.glob(f"{BUILD_DIR_PREFIX}*"):
        pid_text = path.name[len(BUILD_DIR_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)


def input_assets(
    planned: PlannedBundle, options: RenderOptions
) -> tuple[pd.DataFrame | None, Assets]:
    """The sample rows, and the data files the renderer places (sample, full data)."""
    sample = sample_rows(planned.plan, planned.frame) if options.data != "none" else None
    assets = Assets(
        sample_csv=sample_bytes(planned.plan, sample) if sample is not None else None,
        full_data=FileRef.of(planned.data_path) if options.data == "full" else None,
    )
    return sample, assets


def build_project(
    planned: PlannedBundle,
    options: RenderOptions,
    *,
    allow_parity_drift: bool = False,
    reporter: Reporter | None = None,
    budget: Budget = DEFAULT_BUDGET,
) -> BuiltProject:
    """Render, train and check parity: phases ``render``, ``train``, ``parity``."""
    plan = planned.plan
    reporter = reporter or Reporter(phases=BUILD_PHASES)
    timings: dict[str, float] = {}
    reporter.enter("render", "rendering the project")
    t0 = time.perf_counter()
    project_python.preload(library_imports(plan))  # while we render
    sample, assets = input_assets(planned, options)
    files = render_project(plan, options, assets)
    timings["render"] = time.perf_counter() - t0

    reporter.enter("train", "training the generated project")
    t0 = time.perf_counter()
    remove_stale_build_dirs()
    # Outlives the staging folder: the model moves there (a rename, nothing copied).
    artifact_dir = tempfile.TemporaryDirectory(prefix=f"{BUILD_DIR_PREFIX}{os.getpid()}-artifacts-")
    try:
        return _train_and_finish(
            planned,
            options,
            files,
            sample,
            assets,
            artifact_dir,
            timings,
            t0,
            allow_parity_drift=allow_parity_drift,
            reporter=reporter,
            budget=budget,
        )
    except BaseException:
        artifact_dir.cleanup()
        raise


def _keep_artifacts(staging: Path, artifact_dir: tempfile.TemporaryDirectory) -> dict[str, Content]:
    """The training's artifacts: small ones as bytes, large ones moved out of *staging* into
    *artifact_dir* and held as refs (hashed in chunks)."""
    artifacts: dict[str, Content] = {}
    for rel in ARTIFACTS:
        path = staging / rel
        if not path.exists():
            continue
        if rel.startswith(LARGE_ARTIFACTS):
            kept = Path(artifact_dir.name) / rel
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, kept)  # a rename: both folders are in the temp directory
            artifacts[rel] = FileRef.of(kept, owner=artifact_dir)
        else:
            artifacts[rel] = path.read_bytes()
    return artifacts


def _train_and_finish(
    planned: PlannedBundle,
    options: RenderOptions,
    files: Tree,
    sample: pd.DataFrame | None,
    assets: Assets,
    artifact_dir: tempfile.TemporaryDirectory,
    timings: dict[str, float],
    t0: float,
    *,
    allow_parity_drift: bool,
    reporter: Reporter,
    budget: Budget,
) -> BuiltProject:
    plan = planned.plan
    with tempfile.TemporaryDirectory(prefix=f"{BUILD_DIR_PREFIX}{os.getpid()}-") as tmp:
        staging = Path(tmp)
        write_tree(staging, files)
        # The golden and the canvas's reference rows are predicted by the training process
        # itself, with the model it saved (loaded once): no interpreter start, no second import
        # of scikit-learn, no second load of the model.
        outputs: dict[str, Path] = {}
        predict_args: list[str] = []
        if sample is not None:
            # Golden rows: sample rows a request could carry (required columns present).
            required = [f.name for f in plan.serving_schema if not f.nullable]
            rows = sample.dropna(subset=required).drop(columns=[plan.target]).head(GOLDEN_ROWS)
            inp, outputs["golden"] = _prediction_files(staging, rows, "golden")
            predict_args += ["--predict", f"{inp}:{outputs['golden']}"]
        reference_rel = plan.canvas_results.reference_predictions
        if reference_rel:
            reference = pd.read_csv(planned.bundle.resolve(reference_rel))
            rows = reference.drop(columns=["prediction"])
            inp, outputs["reference"] = _prediction_files(staging, rows, "reference")
            predict_args += ["--predict", f"{inp}:{outputs['reference']}"]
        log.info("training the generated project on %s", planned.data_path)
        _run(
            ["-m", "src.models.train", "--data", str(planned.data_path.resolve()), *predict_args],
            staging,
            "training",
            reporter,
            budget,
        )
        reporter.enter("parity", "checking the golden and the canvas's reference rows")
        parity = None
        if "golden" in outputs:
            golden = pd.read_csv(outputs["golden"])
            (staging / "tests/fixtures").mkdir(parents=True, exist_ok=True)
            (staging / "tests/fixtures/golden_predictions.csv").write_bytes(csv_bytes(golden))
        if reference_rel:
            predicted = pd.read_csv(outputs["reference"])
            parity = check_parity(plan, reference, predicted["prediction"])
        artifacts = _keep_artifacts(staging, artifact_dir)
        if parity is not None and not parity.meets_threshold:
            parity = _numerical_parity(
                planned,
                staging,
                parity,
                reference,
                predicted["prediction"],
                json.loads(artifacts["models/metrics.json"]),
                reporter,
                budget,
            )
    timings["train"] = time.perf_counter() - t0
    metrics = json.loads(artifacts["models/metrics.json"])

    if parity is not None and not parity.ok and not allow_parity_drift:
        raise ParityError(failure_message(parity))

    lineage = lineage_facts(planned, artifacts, options)
    report = {
        "metrics": metrics,
        "parity": None if parity is None else parity.to_dict(),
        "lineage": lineage,
    }
    extra = dict(artifacts)
    release_files = Tree()
    if options.artifacts == "release":
        extra, release_files = release_artifacts(plan, extra)
    # The parity report rides along, so an up-to-date answer (decided by digests, no build)
    # still says how the shipped model compared with the canvas.
    extra[".gitexport/lineage.json"] = (
        json.dumps({**lineage, "parity": report["parity"]}, indent=2, sort_keys=True) + "\n"
    ).encode()
    extra[".gitexport/plan.json"] = plan.to_json().encode()
    from gitexport.report_html import report_files  # reports/figures/*.svg, model_report.html

    extra.update(report_files(plan, metrics, parity.describe() if parity else None))
    files = render_project(
        plan,
        options,
        Assets(sample_csv=assets.sample_csv, full_data=assets.full_data, extra=extra),
        report=report,
    )
    return BuiltProject(
        plan=plan,
        options=options,
        files=files,
        metrics=metrics,
        parity=parity,
        lineage=lineage,
        timings=timings,
        release_files=release_files,
        artifact_dir=artifact_dir,
    )


def release_artifacts(
    plan: ExportPlan, files: dict[str, Content]
) -> tuple[dict[str, Content], Tree]:
    """Keep model files out of git; the manifest says where they will live.

    The provider fills in each ``url`` when it uploads the release assets; the generated
    ``scripts/fetch_artifacts.py`` downloads and verifies them.
    """
    manifest = json.loads(files["models/manifest.json"])
    removed = Tree()
    for item in manifest["artifacts"]:
        removed[item["path"]] = files.pop(item["path"])
        item["release"] = release_tag(str(plan.pipeline.version))
        item["url"] = None
    files["models/manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    return files, removed


def lineage_facts(
    planned: PlannedBundle, artifacts: dict[str, Content], options: RenderOptions
) -> dict:
    """What the commit trailers and .gitexport/lineage.json record (no wall-clock time)."""
    plan = planned.plan
    facts = {
        "pipeline_id": plan.pipeline.id,
        "pipeline_name": plan.pipeline.name,
        "pipeline_version": plan.pipeline.version,
        "canvas_owner": plan.pipeline.owner,
        "canvas_updated_at": plan.pipeline.updated_at,
        "graph_sha256": identity.canonical_graph_digest(planned.bundle.raw),
        "data_sha256": plan.source.sha256,
        "model_sha256": {
            rel: sha256_of(artifacts[rel])
            for rel in ("models/trained/model.joblib",)
            if rel in artifacts
        },
        "template_sha256": template_digest(),
        "gitexport_version": __version__,
        "catalog_version": load_catalog().version,
        "document_catalog_version": plan.catalog_version,
    }
    facts["export_id"] = export_identity(planned, options)
    return facts


def export_identity(planned: PlannedBundle, options: RenderOptions) -> str:
    """The export id (:mod:`gitexport.identity`) of a planned bundle and its options."""
    plan = planned.plan
    return identity.export_identity(
        pipeline_id=plan.pipeline.id,
        pipeline_version=plan.pipeline.version,
        graph_sha256=identity.canonical_graph_digest(planned.bundle.raw),
        data_sha256=plan.source.sha256,
        template_sha256=template_digest(),
        render_options=asdict(options),
    )
