"""What makes two exports the same, known from the document and the data file alone.

An export is a pure function of the pipeline (its id, version and graph), the data, the
templates, gitexport's version and the caller's render options. Their digests make the
*export id* recorded in every export's lineage. Comparing it with the last export's decides
"nothing changed" without planning, rendering or training — and without importing the ML
stack — so an unchanged re-export answers in well under a second.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitexport import __version__

if TYPE_CHECKING:
    from gitexport.document import Document
    from gitexport.options import ExportOptions


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (a model or a data file may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def canonical_graph_digest(raw_document: dict) -> str:
    """SHA-256 of the graph as the model sees it (positions and editor state left out)."""
    graph = raw_document.get("graph", {})
    nodes = sorted(
        (
            {
                "id": n.get("id"),
                "type": n.get("type"),
                "label": (n.get("data") or {}).get("label", ""),
                "config": (n.get("data") or {}).get("config", {}),
                "disabled": bool((n.get("data") or {}).get("disabled", False)),
            }
            for n in graph.get("nodes", [])
        ),
        key=lambda n: str(n["id"]),
    )
    edges = sorted((e.get("source"), e.get("target")) for e in graph.get("edges", []))
    canonical = json.dumps(
        {"nodes": nodes, "edges": edges, "export": raw_document.get("export", {})},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def export_identity(
    *,
    pipeline_id: str,
    pipeline_version: Any,
    graph_sha256: str,
    data_sha256: str,
    template_sha256: str,
    render_options: dict,
) -> str:
    """The export id: 16 hex digits over everything an export's bytes depend on."""
    identity = json.dumps(
        {
            "pipeline_id": pipeline_id,
            "pipeline_version": pipeline_version,
            "graph_sha256": graph_sha256,
            "data_sha256": data_sha256,
            "template_sha256": template_sha256,
            "gitexport_version": __version__,
            "options": render_options,
        },
        sort_keys=True,
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def bundle_identity(
    bundle_path: Path, options: ExportOptions, target_provider: str | None = None
) -> tuple[str, str]:
    """``(pipeline id, export id)`` of a bundle, from its document and data file only.

    The document is validated as for any export (a broken one raises ``DocumentError``);
    nothing is planned, rendered or trained.
    """
    document, export_id = document_identity(bundle_path, options, target_provider)
    return document.pipeline.id, export_id


def document_identity(
    bundle_path: Path, options: ExportOptions, target_provider: str | None = None
) -> tuple[Document, str]:
    """``(document, export id)`` of a bundle: :func:`bundle_identity`, keeping the document."""
    from dataclasses import asdict

    from gitexport.catalog import load_catalog
    from gitexport.document import load_bundle
    from gitexport.graph import analyse_graph
    from gitexport.template_tree import template_digest

    bundle = load_bundle(bundle_path, load_catalog())
    chain = analyse_graph(bundle.document)
    source = bundle.document.source(chain.dataset.data.config["source_id"])
    pipeline = bundle.document.pipeline
    export_id = export_identity(
        pipeline_id=pipeline.id,
        pipeline_version=pipeline.version,
        graph_sha256=canonical_graph_digest(bundle.raw),
        data_sha256=sha256_file(bundle.resolve(source.training_file or "")),
        template_sha256=template_digest(),
        render_options=asdict(options.render_options(target_provider)),
    )
    return bundle.document, export_id
