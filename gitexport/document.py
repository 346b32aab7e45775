"""The canvas pipeline document (``canvas-pipeline/1``): its models and how a bundle is read.

This module is the one place that knows the document's schema (``SPEC.md``). It is strict
where a typo would silently change a model (unknown ``config`` keys, wrong types, values
outside an enum) and lenient where the spec says so (unknown top-level keys are a warning).
Every problem is collected, so the user sees them all at once.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from gitexport.catalog import Catalog, check_type, load_catalog
from gitexport.errors import DocumentError, Problem, node_where
from gitexport.lineage import pipeline_id_problem

FORMAT = "canvas-pipeline/1"
TOP_LEVEL_KEYS = {
    "format",
    "catalog_version",
    "pipeline",
    "data_sources",
    "graph",
    "export",
    "results",
}
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


class _Lenient(BaseModel):
    """Editor-shaped objects: extra keys (React Flow's ``width``, ``selected``...) are fine."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineInfo(_Lenient):
    id: str = Field(min_length=1)
    name: str
    version: int = Field(ge=0, strict=True)
    updated_at: str
    owner: str = ""
    description: str | None = None


class Connection(_Strict):
    host: str = ""
    port: int | None = None
    database: str = ""
    user: str = ""
    password: str = ""


class CsvOptions(_Strict):
    delimiter: str = ","
    encoding: str = "utf-8"


class DataSource(_Lenient):
    id: str = Field(min_length=1)
    name: str = ""
    type: Literal["csv", "parquet", "postgres", "mysql"]
    path: str | None = None
    options: CsvOptions = CsvOptions()
    connection: Connection | None = None
    query: str | None = None
    snapshot: str | None = None

    @property
    def is_database(self) -> bool:
        return self.type in ("postgres", "mysql")

    @property
    def training_file(self) -> str | None:
        """The relative path gitexport trains on: the file, or a database's snapshot."""
        return self.snapshot if self.is_database else self.path


class Position(_Lenient):
    x: float = 0
    y: float = 0


class NodeData(_Lenient):
    label: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    disabled: bool = False


class Node(_Lenient):
    id: str = Field(min_length=1)
    type: str
    position: Position = Position()
    data: NodeData = NodeData()


class Edge(_Lenient):
    id: str = ""
    source: str
    target: str


class Graph(_Lenient):
    nodes: list[Node]
    edges: list[Edge] = Field(default_factory=list)


class ExportOptions(_Lenient):
    model_node: str | None = None
    project_name: str | None = None

    @field_validator("project_name")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not SLUG_RE.match(value):
            raise ValueError(
                "must be a slug: lowercase letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        return value


class Results(_Lenient):
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    reference_predictions: str | None = None
    trained_at: str | None = None


class Document(_Lenient):
    format: Literal["canvas-pipeline/1"]
    catalog_version: str
    pipeline: PipelineInfo
    data_sources: list[DataSource]
    graph: Graph
    export: ExportOptions = ExportOptions()
    results: Results = Results()

    # Lookups by id: planning asks once per node, so a linear search made it quadratic
    # (20,000 nodes took 40 s). With duplicate ids (refused at load) the first one wins.
    _nodes_by_id: dict[str, Node] = PrivateAttr(default_factory=dict)
    _sources_by_id: dict[str, DataSource] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        for node in reversed(self.graph.nodes):
            self._nodes_by_id[node.id] = node
        for source in reversed(self.data_sources):
            self._sources_by_id[source.id] = source

    # straight from pydantic's private store: attribute access goes through a slow __getattr__
    def node(self, node_id: str) -> Node:
        return self.__pydantic_private__["_nodes_by_id"][node_id]

    def source(self, source_id: str) -> DataSource:
        return self.__pydantic_private__["_sources_by_id"][source_id]


@dataclass
class Bundle:
    """A loaded, validated bundle: the document, the folder it lives in, and warnings."""

    root: Path
    document: Document
    raw: dict
    warnings: list[str] = field(default_factory=list)

    def resolve(self, relative: str) -> Path:
        return self.root / relative


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(loc: tuple, raw: dict) -> str:
    """Where ``loc`` is, naming the node (id and label) for anything inside a graph node."""
    where = _loc(loc)
    if len(loc) >= 3 and loc[0] == "graph" and loc[1] == "nodes" and isinstance(loc[2], int):
        try:
            node = raw["graph"]["nodes"][loc[2]]
            node_id = node.get("id", f"#{loc[2]}")
            label = (node.get("data") or {}).get("label")
            if not isinstance(label, str):
                label = None
            elif len(label) > MAX_NAME_CHARS:
                label = _truncate(label, MAX_NAME_CHARS)
            rest = loc[3:]
            if rest[:2] == ("data", "config"):  # as the config checks name it: config.<key>
                rest = rest[1:]
            where = node_where(str(node_id), label, _loc(rest) or None)
        except (KeyError, TypeError, IndexError, AttributeError):
            pass
    return where


def _pydantic_problems(err: ValidationError, raw: dict) -> list[Problem]:
    problems = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = e["msg"]
        if e["type"] == "literal_error" and loc == ("format",):
            message = f"must be {FORMAT!r}, got {e.get('input')!r}"
        elif e["type"] == "missing":
            message = "required field is missing"
        problems.append(Problem(_where(loc, raw), message))
    return problems


# --- limits: a document past these is refused before any expensive work ----------------
# A real canvas holds a few hundred nodes and a few kilobytes of text; these are far above
# that and keep loading and planning within seconds (bench/plan_scale.py).
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_NODES = 50_000
MAX_EDGES = 100_000
MAX_DEPTH = 64  # nesting of JSON objects and arrays
MAX_INT = 2**63 - 1  # what numpy and scikit-learn can hold
MAX_HINTS = 100  # "did you mean" suggestions computed per document
# Free text is truncated (with a note and a warning), not refused: it is prose, not data.
MAX_DESCRIPTION_CHARS = 10_000
MAX_NAME_CHARS = 200  # pipeline name and owner, data source names, node labels


class _Pairs(dict):
    """A JSON object that remembers the keys it had more than once."""

    duplicates: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):  # the usual case stays a plain dict (this runs per object)
        return obj
    marked = _Pairs(pairs)
    seen: set[str] = set()
    marked.duplicates = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
    return marked


def read_document_json(path: Path) -> tuple[Path, dict]:
    """Find and parse the document: ``path`` is a bundle folder or its ``pipeline.json``."""
    path = Path(path)
    try:
        doc_path = path / "pipeline.json" if path.is_dir() else path
        exists = doc_path.is_file()
        size = doc_path.stat().st_size if exists else 0
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, no permission
        raise DocumentError(f"{path}: cannot be read ({_os_reason(exc)})") from None
    if not exists:
        raise DocumentError(f"{doc_path}: no such file (a bundle is a folder with pipeline.json)")
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentError(
            f"{doc_path.name}: {size:,} bytes; a document may have at most "
            f"{MAX_DOCUMENT_BYTES:,} (MAX_DOCUMENT_BYTES)"
        )
    try:
        text = doc_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{doc_path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise DocumentError(f"{doc_path}: cannot be read ({_os_reason(exc)})") from None
    try:
        raw = json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"{doc_path.name}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise DocumentError(
            f"{doc_path.name}: JSON nested more than {MAX_DEPTH} levels deep (MAX_DEPTH)"
        ) from None
    except ValueError as exc:  # an integer of thousands of digits
        raise DocumentError(f"{doc_path.name}: a number cannot be read ({exc})") from None
    if not isinstance(raw, dict):
        raise DocumentError(f"{doc_path.name}: the document must be a JSON object")
    problems = _check_json_values(raw)
    if problems:
        raise DocumentError(problems)
    return doc_path.parent, raw


def _os_reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _check_json_values(raw: dict) -> list[Problem]:
    """What JSON allows but a document must not hold: duplicate keys (parsers disagree on
    which one wins), nesting deeper than MAX_DEPTH, NaN/Infinity (or a number so large it
    overflows to it), integers numpy cannot hold; and more nodes or edges than the limits."""
    graph = raw.get("graph")
    if isinstance(graph, dict):
        limits = [("nodes", MAX_NODES, "MAX_NODES"), ("edges", MAX_EDGES, "MAX_EDGES")]
        too_many = [
            Problem(f"graph.{key}", f"{len(items):,} {key}; at most {limit:,} are allowed ({name})")
            for key, limit, name in limits
            if isinstance(items := graph.get(key), list) and len(items) > limit
        ]
        if too_many:  # refused before walking them
            return too_many
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple]] = [(raw, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) >= MAX_DEPTH:
            problems.append(
                Problem(_where(loc, raw), f"nested more than {MAX_DEPTH} levels deep (MAX_DEPTH)")
            )
            continue
        if isinstance(value, dict):
            for key in value.duplicates if type(value) is _Pairs else ():
                problems.append(
                    Problem(
                        _where(loc, raw) or "the document",
                        f"key {key!r} appears more than once (which one is meant?)",
                    )
                )
            items = value.items()
        else:
            items = enumerate(value)
        for key, item in items:
            kind = type(item)
            if kind is str or kind is bool or item is None:
                continue
            if kind is dict or kind is list or kind is _Pairs:
                stack.append((item, (*loc, key)))
            elif kind is float and not math.isfinite(item):
                problems.append(
                    Problem(
                        _where((*loc, key), raw),
                        f"{item!r} is not a finite number (NaN, Infinity, or a number too large)",
                    )
                )
            elif kind is int and abs(item) > MAX_INT:
                problems.append(
                    Problem(
                        _where((*loc, key), raw),
                        f"integer with {len(str(abs(item)))} digits is too large (at most {MAX_INT})",
                    )
                )
    return sorted(problems, key=lambda p: p.where)


def load_bundle(path: Path | str, catalog: Catalog | None = None) -> Bundle:
    """Read and validate a bundle; raise :class:`DocumentError` listing every problem."""
    catalog = catalog or load_catalog()
    root, raw = read_document_json(Path(path))
    warnings = [
        f"unknown top-level key {key!r} ignored (a newer canvas?)"
        for key in raw
        if key not in TOP_LEVEL_KEYS
    ]
    try:
        document = Document.model_validate(_cap_free_text(raw, warnings))
    except ValidationError as err:
        raise DocumentError(_pydantic_problems(err, raw)) from None
    problems: list[Problem] = []
    if (problem := pipeline_id_problem(document.pipeline.id)) is not None:
        problems.append(problem)  # every export commit records it in a trailer
    warnings += _check_catalog_version(document, catalog, problems)
    _check_unique_ids(document, problems)
    _check_configs(document, catalog, problems)
    _check_sources(document, root, problems)
    _check_results(document, root, problems)
    if problems:
        raise DocumentError(problems)
    return Bundle(root=root, document=document, raw=raw, warnings=warnings)


def _truncate(text: str, cap: int) -> str:
    return f"{text[:cap]}… [truncated from {len(text):,} characters]"


def _cap_free_text(raw: dict, warnings: list[str]) -> dict:
    """The document with over-long prose truncated, each cut named in a warning.

    Prose is copied into README.md, MODEL_CARD.md, plan.json and commit messages; a 50 MB
    description would make each of them 50 MB (GitHub refuses files over 100 MB). Only the
    validated model sees the cut text: ``raw`` (and so the graph digest) stays the canvas's.
    """
    out = dict(raw)
    pipeline = raw.get("pipeline")
    if isinstance(pipeline, dict):
        pipeline = out["pipeline"] = dict(pipeline)
        for key, cap, name in (
            ("name", MAX_NAME_CHARS, "MAX_NAME_CHARS"),
            ("owner", MAX_NAME_CHARS, "MAX_NAME_CHARS"),
            ("description", MAX_DESCRIPTION_CHARS, "MAX_DESCRIPTION_CHARS"),
        ):
            value = pipeline.get(key)
            if isinstance(value, str) and len(value) > cap:
                pipeline[key] = _truncate(value, cap)
                warnings.append(
                    f"pipeline.{key} has {len(value):,} characters; truncated to {cap:,} ({name})"
                )
    sources = raw.get("data_sources")
    if isinstance(sources, list):
        out["data_sources"] = sources = list(sources)
        for i, source in enumerate(sources):
            name = source.get("name") if isinstance(source, dict) else None
            if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
                sources[i] = {**source, "name": _truncate(name, MAX_NAME_CHARS)}
                warnings.append(
                    f"data_sources[{i}].name has {len(name):,} characters; truncated to "
                    f"{MAX_NAME_CHARS:,} (MAX_NAME_CHARS)"
                )
    graph = raw.get("graph")
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if isinstance(nodes, list):
        cut: list[str] = []
        nodes = list(nodes)
        for i, node in enumerate(nodes):
            data = node.get("data") if isinstance(node, dict) else None
            label = data.get("label") if isinstance(data, dict) else None
            if isinstance(label, str) and len(label) > MAX_NAME_CHARS:
                nodes[i] = {**node, "data": {**data, "label": _truncate(label, MAX_NAME_CHARS)}}
                cut.append(str(node.get("id")))
        if cut:
            out["graph"] = {**graph, "nodes": nodes}
            warnings.append(
                f"{len(cut)} node label(s) longer than {MAX_NAME_CHARS:,} characters truncated "
                f"(MAX_NAME_CHARS; first: node {cut[0]!r})"
            )
    return out


def _check_catalog_version(document: Document, catalog: Catalog, problems: list[Problem]):
    try:
        theirs = Version(document.catalog_version)
    except InvalidVersion:
        problems.append(
            Problem("catalog_version", f"{document.catalog_version!r} is not a version")
        )
        return []
    ours = Version(catalog.version)
    if theirs.major != ours.major:
        problems.append(
            Problem(
                "catalog_version",
                f"{document.catalog_version} is not compatible with gitexport's node catalog "
                f"{catalog.version} (major versions differ)",
            )
        )
    elif theirs > ours:
        return [
            f"catalog_version {document.catalog_version} is newer than gitexport's "
            f"{catalog.version}; nodes or parameters added since may be rejected"
        ]
    return []


def _check_unique_ids(document: Document, problems: list[Problem]) -> None:
    for kind, ids in (
        ("node", [n.id for n in document.graph.nodes]),
        ("data source", [s.id for s in document.data_sources]),
    ):
        seen = set()
        for item_id in ids:
            if item_id in seen:
                problems.append(Problem(f"{kind} {item_id!r}", "id is used more than once"))
            seen.add(item_id)


def _check_configs(document: Document, catalog: Catalog, problems: list[Problem]) -> None:
    known_types = sorted(catalog.nodes)
    for node in document.graph.nodes:
        label = node.data.label
        spec = catalog.nodes.get(node.type)
        if spec is None:
            # difflib costs ~0.2 ms a call: hints for the first MAX_HINTS typos, not 100,000
            hint = (
                difflib.get_close_matches(node.type, known_types, n=1)
                if len(problems) < MAX_HINTS
                else []
            )
            problems.append(
                Problem(
                    node_where(node.id, label, "type"),
                    f"unknown node type {node.type!r}"
                    + (f" (did you mean {hint[0]!r}?)" if hint else ""),
                )
            )
            continue
        config = node.data.config
        for key, value in config.items():
            param = spec.params.get(key)
            where = node_where(node.id, label, f"config.{key}")
            if param is None:
                hint = (
                    difflib.get_close_matches(key, list(spec.params), n=1)
                    if len(problems) < MAX_HINTS
                    else []
                )
                problems.append(
                    Problem(
                        where,
                        f"unknown parameter for {node.type}"
                        + (f" (did you mean {hint[0]!r}?)" if hint else "")
                        + f"; known: {', '.join(spec.params)}",
                    )
                )
                continue
            if not check_type(value, param.type):
                problems.append(
                    Problem(where, f"must be {param.type}, got {type(value).__name__} {value!r}")
                )
                continue
            if param.enum is not None:
                values = value if isinstance(value, list) else [value]
                bad = [v for v in values if v not in param.enum]
                if bad and not (value is None and "null" in param.type):
                    problems.append(
                        Problem(
                            where,
                            f"{bad[0]!r} is not one of {', '.join(map(repr, param.enum))}",
                        )
                    )
        for param in spec.params.values():
            if param.required and param.name not in config:
                problems.append(
                    Problem(
                        node_where(node.id, label, f"config.{param.name}"),
                        f"required parameter of {node.type} is missing",
                    )
                )
        if node.type == "hyperparameter_tuning" and "model_type" in config:
            if config["model_type"] not in catalog.model_types:
                problems.append(
                    Problem(
                        node_where(node.id, label, "config.model_type"),
                        f"{config['model_type']!r} is not a model type of train_model",
                    )
                )


def _safe_relative(value: str) -> bool:
    p = PurePosixPath(value.replace("\\", "/"))
    return bool(value) and not p.is_absolute() and ".." not in p.parts and ":" not in value


def _shown(rel: str) -> str:
    """A path as a message quotes it: a 5,000-character one is cut, not repeated whole."""
    return repr(rel) if len(rel) <= 200 else f"{rel[:200]!r}… ({len(rel):,} characters)"


def _check_file(root: Path, rel: str | None, where: str, problems: list[Problem]) -> None:
    if rel is None:
        problems.append(Problem(where, "required field is missing"))
    elif not _safe_relative(rel):
        problems.append(Problem(where, f"{_shown(rel)} must be a relative path inside the bundle"))
    elif (reason := _unreadable(root / rel)) is not None:
        problems.append(Problem(where, f"data file {_shown(rel)} {reason}"))
    elif not (root / rel).resolve().is_relative_to(root.resolve()):
        # a symlink inside the bundle pointing elsewhere would copy that file into the project
        problems.append(
            Problem(
                where,
                f"{_shown(rel)} must be a relative path inside the bundle "
                "(it is a link to a file outside)",
            )
        )


def _unreadable(path: Path) -> str | None:
    """Why ``path`` is not a file to read, or None; never raises (a name too long for the
    file system, a NUL byte or a permission error are the user's to fix, not a crash)."""
    try:
        return None if path.is_file() else "not found in the bundle"
    except (OSError, ValueError) as exc:
        return f"cannot be read ({_os_reason(exc)})"


def _check_sources(document: Document, root: Path, problems: list[Problem]) -> None:
    for i, source in enumerate(document.data_sources):
        where = f"data_sources[{i}] ({source.id})"
        if source.is_database:
            if source.connection is None:
                problems.append(Problem(f"{where}.connection", "required for a database source"))
            if not source.query:
                problems.append(Problem(f"{where}.query", "required for a database source"))
            _check_file(root, source.snapshot, f"{where}.snapshot", problems)
        else:
            _check_file(root, source.path, f"{where}.path", problems)
        rel = source.training_file or ""
        if rel and not rel.lower().endswith((".csv", ".parquet", ".pq")):
            problems.append(Problem(where, f"{rel!r}: only .csv and .parquet files can be read"))
        if source.type == "parquet" and rel.lower().endswith(".csv"):
            problems.append(Problem(f"{where}.path", "a parquet source must be a .parquet file"))


def _check_results(document: Document, root: Path, problems: list[Problem]) -> None:
    rel = document.results.reference_predictions
    if rel is not None:
        _check_file(root, rel, "results.reference_predictions", problems)
    for split in document.results.metrics:
        if split not in ("train", "test", "cv"):
            problems.append(Problem(f"results.metrics.{split}", "expected 'train', 'test' or 'cv'"))
