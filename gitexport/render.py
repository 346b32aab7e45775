"""Plan in, files out: render the generated project from the Jinja2 templates (pure).

Every template under ``templates/project`` maps to one output path (``.j2`` is stripped);
:func:`selected_templates` decides which apply to a plan and its options, so no template is
rendered into an empty or dead file. Values reach generated code only through the ``py``
filter (a Python literal) or ``yaml``/``json`` dumps — never by pasting text into code — so a
hostile column name or label can only ever be data. Rendered Python and notebooks are
normalised by one ``ruff format`` run over all of them (the formatter the generated CI checks
with). The custom transformers are plain Python modules under
``templates/project/src/features/transformers/`` (one per catalog category), copied verbatim;
only the categories a plan uses are copied and only the used classes re-exported.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import os
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2
import yaml

from gitexport import __version__
from gitexport.identifiers import field_identifiers
from gitexport.notebooks import notebook_json
from gitexport.options import RenderOptions
from gitexport.packages import CI_SCANNERS
from gitexport.plan_model import Call, ExportPlan
from gitexport.sensitivity import sensitive_nodes
from gitexport.template_tree import iter_templates, template_root
from gitexport.tree import Content, Tree, entries_of, head_of

PYTHON_LINE_LENGTH = 100


@dataclass(frozen=True)
class Assets:
    """Files the renderer places but does not make (computed at the I/O edge). A large one
    (the full data, the trained model) is a :class:`~gitexport.tree.FileRef`: never read."""

    sample_csv: bytes | None = None  # a few hundred raw rows, CSV
    full_data: Content | None = None  # the source file itself (--data full)
    extra: dict[str, Content] = field(default_factory=dict)  # path -> content (trained artifacts)


# --- literal emission -----------------------------------------------------------------


def py_literal(value: Any) -> str:
    """A Python expression that evaluates to ``value`` (JSON-like data, tuples, Calls)."""
    if isinstance(value, Call):
        return py_call(value)
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(py_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot emit {type(value).__name__} as a Python literal")


def py_call(call: Call) -> str:
    args = [py_literal(v) for v in call.positional]
    for key, value in call.kwargs.items():
        if not key.isidentifier():  # names come from the catalog and sklearn; never user text
            raise ValueError(f"{call.name}: keyword {key!r} is not an identifier")
        if key in call.tuples and isinstance(value, list):
            value = tuple(value)
        args.append(f"{key}={py_literal(value)}")
    return f"{call.name}({', '.join(args)})"


def collect_imports(calls: list[Call]) -> dict[str, list[str]]:
    """module -> sorted class names, for every Call (nested ones included)."""
    found: dict[str, set[str]] = {}

    def visit(value: Any) -> None:
        if isinstance(value, Call):
            found.setdefault(value.module, set()).add(value.name)
            for v in list(value.kwargs.values()) + list(value.positional):
                visit(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)

    for call in calls:
        visit(call)
    return {module: sorted(names, key=_isort_key) for module, names in sorted(found.items())}


def _isort_key(name: str) -> tuple[int, str]:
    """isort's order-by-type: CONSTANTS, then Classes, then functions; case-insensitive."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name.lower()


def comment_text(value: Any) -> str:
    """Text safe inside a ``#`` comment: one line, no control characters."""
    text = str(value)
    return "".join(ch if ch.isprintable() else " " for ch in text)


def wrap_text(value: Any, width: int = PYTHON_LINE_LENGTH - 4, indent: str = "") -> str:
    """One paragraph wrapped to ``width`` (docstring prose); the first line is not indented."""
    import textwrap

    return textwrap.fill(
        str(value),
        width=width,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    )


def comment_block(value: Any, indent: int = 0) -> str:
    """``# text`` lines wrapped to the line length, the first without indentation."""
    import textwrap

    pad = " " * indent
    lines = textwrap.wrap(
        comment_text(value), width=PYTHON_LINE_LENGTH - indent - 2, break_long_words=True
    ) or [""]
    return ("\n" + pad).join(f"# {line}" for line in lines)


def doc_text(value: Any) -> str:
    """Text safe inside a triple-quoted docstring: one line, quotes and backslashes escaped."""
    return comment_text(value).replace("\\", "\\\\").replace('"', '\\"')


def yaml_dump(value: Any) -> str:
    return yaml.safe_dump(_plain(value), sort_keys=False, allow_unicode=True, width=100)


def _plain(value: Any) -> Any:
    if isinstance(value, Call):
        return {"class": f"{value.module}.{value.name}", "params": _plain(value.kwargs)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def toml_string(value: Any) -> str:
    """A TOML basic string: one printable line, JSON escapes (valid TOML), UTF-8 kept as is."""
    return json.dumps(comment_text(value), ensure_ascii=False)


def json_dump(value: Any) -> str:
    return json.dumps(_plain(value), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def md_text(value: Any) -> str:
    """Text safe inside Markdown prose or a table cell."""
    text = comment_text(value)
    for ch in "\\`*_[]<>|#":
        text = text.replace(ch, "\\" + ch)
    return text


# --- environment ----------------------------------------------------------------------


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Jinja's on-disk cache of compiled templates; a cache that cannot be written (a full or
    read-only disk) only means compiling again next time."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


# How templates are parsed: compiled code depends on these, so they key the cache folder.
_SYNTAX = {
    "keep_trailing_newline": True,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "autoescape": False,
}


def compiled_template_cache() -> jinja2.BytecodeCache | None:
    """The compiled templates shared by this user's processes, or None (no cache).

    Compiling the ~40 templates is most of a fresh process's first render (a CLI run, a
    service worker's first preview): about 0.3 s. Jinja checks each entry against the
    template's source, so an edited template is never served stale. A cache file is code
    that gets run, so the folder must be this user's alone: under ``$XDG_CACHE_HOME/gitexport``
    (default ``~/.cache/gitexport``), mode 0700; any other folder is not used.
    """
    if not hasattr(os, "getuid"):
        return None  # no owner and mode bits to check the folder by (Windows)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    syntax = hashlib.sha256(json.dumps(_SYNTAX, sort_keys=True).encode()).hexdigest()[:12]
    folder = os.path.join(base, "gitexport", f"templates-{syntax}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or stat.S_IMODE(info.st_mode) & 0o077
    ):
        return None
    return _CompiledTemplates(folder)


@functools.cache
def _environment() -> jinja2.Environment:
    """One environment per process: it keeps the compiled templates between renders (and
    between processes: :func:`compiled_template_cache`)."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        bytecode_cache=compiled_template_cache(),
        undefined=jinja2.StrictUndefined,
        **_SYNTAX,
    )
    env.filters["py"] = py_literal
    env.filters["pycall"] = py_call
    env.filters["comment"] = comment_text
    env.filters["doc"] = doc_text
    env.filters["wrap"] = wrap_text
    env.filters["comment_block"] = comment_block
    env.filters["yaml"] = yaml_dump
    env.filters["json"] = json_dump
    env.filters["toml"] = toml_string
    env.filters["md"] = md_text
    # Request-model field names for column names, and notebooks from percent-format text.
    env.filters["identifiers"] = field_identifiers
    env.filters["notebook"] = notebook_json
    return env


def _load_template(name: str):
    path = template_root().joinpath(name)
    return path.read_text(encoding="utf-8")


def output_path(template: str) -> str:
    """``dot_github/ci.yml.j2`` → ``.github/ci.yml``.

    Dot files are stored as ``dot_*`` because wheels' package-data globs skip hidden files.
    """
    parts = ["." + p[4:] if p.startswith("dot_") else p for p in template.split("/")]
    path = "/".join(parts)
    return path[:-3] if path.endswith(".j2") else path


# Which optional parts a template belongs to (by path prefix).
_OPTIONAL = {
    "docker/": lambda plan, o: o.docker,
    ".dockerignore": lambda plan, o: o.docker,
    "deployment/kubernetes/": lambda plan, o: o.kubernetes,
    ".github/": lambda plan, o: o.ci and o.provider != "gitlab",
    ".gitlab-ci.yml": lambda plan, o: o.ci and o.provider == "gitlab",
    "scripts/fetch_artifacts.py": lambda plan, o: o.artifacts == "release",
}


def selected_templates(plan: ExportPlan, options: RenderOptions) -> list[str]:
    chosen = []
    modules = transformer_modules(plan)
    for template in iter_templates():
        keep = True
        for prefix, rule in _OPTIONAL.items():
            if output_path(template).startswith(prefix):
                keep = rule(plan, options)
        if template.startswith(TRANSFORMERS_DIR):
            keep = _transformer_file_used(template, modules)
        if keep:
            chosen.append(template)
    return chosen


TRANSFORMERS_MODULE = "src.features.transformers"
TRANSFORMERS_DIR = "src/features/transformers/"
TRANSFORMERS_BASE = "_base"


def transformer_classes(plan: ExportPlan) -> list[str]:
    return sorted({s.call.name for s in plan.steps if s.call.module == TRANSFORMERS_MODULE})


@functools.cache
def transformer_catalog() -> dict[str, str]:
    """Class name -> module (catalog category) of every transformer, from each module's
    ``__all__``: the one list of the classes. Read with ``ast``, so no ML import."""
    found: dict[str, str] = {}
    for rel in iter_templates():
        if not (rel.startswith(TRANSFORMERS_DIR) and rel.endswith(".py")):
            continue
        module = PurePosixPath(rel).stem
        tree = ast.parse(template_root().joinpath(rel).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                for name in ast.literal_eval(node.value):
                    if name in found:
                        raise RuntimeError(f"transformer {name} is in {found[name]} and {module}")
                    found[name] = module
    return found


def transformer_modules(plan: ExportPlan) -> dict[str, list[str]]:
    """Module -> the used classes it defines, for the package's ``__init__``."""
    catalog = transformer_catalog()
    out: dict[str, list[str]] = {}
    for name in transformer_classes(plan):
        if name not in catalog:
            raise RuntimeError(f"the plan uses transformer {name}, which no module defines")
        out.setdefault(catalog[name], []).append(name)
    return dict(sorted(out.items()))


def _transformer_file_used(path: str, modules: dict[str, list[str]]) -> bool:
    """Only the used categories' modules (and their shared base) are copied."""
    if not modules:
        return False
    stem = PurePosixPath(path).name.removesuffix(".j2").removesuffix(".py")
    return stem in ("__init__", TRANSFORMERS_BASE) or stem in modules


def _uses_imblearn(plan: ExportPlan) -> bool:
    return any(s.role in ("row_filter", "sampler") for s in plan.steps)


def _pipeline_calls(plan: ExportPlan) -> list[Call]:
    """What src/features/pipeline.py constructs: the steps, the model, the Pipeline."""
    return [s.call for s in plan.steps] + [
        Call(module=plan.model.estimator.module, name=plan.model.estimator.name),
        # imbalanced-learn's Pipeline runs training-only steps at fit time only.
        Call(
            module="imblearn.pipeline" if _uses_imblearn(plan) else "sklearn.pipeline",
            name="Pipeline",
        ),
    ]


def library_imports(plan: ExportPlan) -> list[str]:
    """The library modules src/features/pipeline.py imports (the project's own left out)."""
    return [m for m in collect_imports(_pipeline_calls(plan)) if not m.startswith("src.")]


def context(plan: ExportPlan, options: RenderOptions, report: dict | None = None) -> dict[str, Any]:
    source = plan.source
    # the sample keeps the source's format (gitexport.sample): its types survive the round trip
    sample_name = PurePosixPath(source.file_name).stem + (
        ".parquet" if source.file_format == "parquet" else ".csv"
    )
    uses_imblearn = _uses_imblearn(plan)
    return {
        "plan": plan,
        "options": options,
        "gitexport_version": __version__,
        "imports": collect_imports(_pipeline_calls(plan)),
        "used": transformer_classes(plan),
        "transformer_modules": transformer_modules(plan),
        "uses_imblearn": uses_imblearn,
        "training_only": [s.step_name for s in plan.steps if s.role in ("row_filter", "sampler")],
        "row_filters": [s.step_name for s in plan.steps if s.role == "row_filter"],
        "raw_path": f"data/raw/{source.file_name}",
        "sample_path": f"data/sample/{sample_name}" if options.data != "none" else None,
        "classification": plan.problem_type == "classification",
        "features": [c for c in plan.raw_columns if c.role == "feature"],
        "serving": plan.serving_schema,
        # Nodes whose arithmetic depends on the thread count: training records and replays it.
        "thread_sensitive": sensitive_nodes(plan),
        "ci_scanners": " ".join(f"{name}=={version}" for name, version in CI_SCANNERS),
        # Filled in after training: reproduced metrics, parity, lineage (None on the first pass).
        "report": report,
    }


def render_project(
    plan: ExportPlan, options: RenderOptions, assets: Assets, report: dict | None = None
) -> Tree:
    """The generated project as {POSIX path: bytes}; deterministic for the same inputs."""
    env = _environment()
    ctx = context(plan, options, report)
    rendered: dict[str, str] = {}
    files: dict[str, Content] = {}
    for template in selected_templates(plan, options):
        out = output_path(template)
        if template.endswith(".j2"):
            rendered[out] = env.get_template(template).render(**ctx)
        else:
            files[out] = template_root().joinpath(template).read_bytes()
    rendered.update(format_sources({p: t for p, t in rendered.items() if p.endswith(FORMATTED)}))
    for out, text in rendered.items():
        if not text.strip() and not out.endswith("__init__.py"):
            continue  # a template that has nothing to say for this plan
        files[out] = text.encode("utf-8")
    if ctx["sample_path"] and assets.sample_csv is not None:
        files[ctx["sample_path"]] = assets.sample_csv
    if options.data == "full" and assets.full_data is not None:
        files[ctx["raw_path"]] = assets.full_data
    files.update(assets.extra)
    return Tree(sorted(files.items()))


def executable_paths(files: Mapping[str, bytes]) -> set[str]:
    """The generated files to commit with mode 100755: scripts with a ``#!`` line."""
    return {path for path, data in entries_of(files) if head_of(data, 2) == b"#!"}


# What ruff formats: Python files and the code cells of notebooks.
FORMATTED = (".py", ".ipynb")
RUFF_FORMAT_ARGS = (
    "format",
    "--isolated",  # the generated project's settings, whatever surrounds the temp dir
    "--no-cache",
    "--line-length",
    str(PYTHON_LINE_LENGTH),
    "--target-version",
    "py311",
)


def _ruff_bin() -> str:
    from ruff.__main__ import find_ruff_bin  # the pinned ruff wheel's binary

    return str(find_ruff_bin())


def format_sources(sources: dict[str, str]) -> dict[str, str]:
    """``{path: text}`` formatted by one ``ruff format`` process over all of them.

    One process for every file: starting ruff once per file (stdin) costs more than writing
    the files to a temporary directory.
    """
    if not sources:
        return {}
    with tempfile.TemporaryDirectory(prefix="gitexport-format-") as tmp:
        root = Path(tmp)
        for rel, text in sources.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        run = subprocess.run(
            [_ruff_bin(), *RUFF_FORMAT_ARGS, "--", *sources],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:  # a template bug, never user input: ruff names the file
            raise RuntimeError(f"generated code is not valid Python: {run.stderr.strip()}")
        return {rel: (root / rel).read_text(encoding="utf-8") for rel in sources}


def format_python(text: str, path: str = "generated.py") -> str:
    """One Python text formatted the way the project's files are."""
    return format_sources({path: text})[path]
