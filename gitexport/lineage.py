"""The lineage of an export commit: its trailer names, how they are written and read back,
and what makes a commit one of gitexport's own.

Every export commit ends with trailers (:data:`ORDER`) rendered from the build's lineage
facts (:meth:`Lineage.from_facts` → :meth:`Lineage.trailers`), plus ``Export-Tree``: the id
of the exact tree gitexport wrote, added by :mod:`gitexport.git` once the tree exists.

Which commits are gitexport's own (:func:`is_export_of`): the message's trailer block
(:func:`parse`, the one parser every module uses — the strict reading of
:func:`gitexport.trailers.trailer_pairs`, so a block that is only partly trailers holds no
lineage at all) names the pipeline with exactly this id, and its ``Export-Tree`` is the
commit's own tree. ``git commit --amend`` keeps the message but not the tree: an amended
export with an edit in it is a user's commit, merged like any other, never built upon or
overwritten as if it were generated output. (Exports written before ``Export-Tree`` existed
carry none; they are still recognised by their trailers, ``Exporter-Version`` included.)

Pipeline ids are compared exactly. An id the trailer block cannot hold as is (a newline, a
tab, a control or bidi character, edge or doubled whitespace would be flattened) is refused
(:func:`check_pipeline_id`): ``pl\\tpenguins`` and ``pl penguins`` must never share a
repository.

Pure text; never runs git.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gitexport import trailers as tr
from gitexport.errors import DocumentError, Problem

PIPELINE_ID = "Pipeline-Id"
PIPELINE_NAME = "Pipeline-Name"
PIPELINE_VERSION = "Pipeline-Version"
CANVAS_OWNER = "Canvas-Owner"
GRAPH_DIGEST = "Graph-Digest"
DATA_DIGEST = "Data-Digest"
MODEL_DIGEST = "Model-Digest"  # repeats: one per model file
TEMPLATE_DIGEST = "Template-Digest"
EXPORTER_VERSION = "Exporter-Version"
CATALOG_VERSION = "Catalog-Version"
EXPORT_ID = "Export-Id"
EXPORT_TREE = "Export-Tree"  # the tree gitexport wrote; added by gitexport.git

#: The trailers of an export commit, in the order they are written.
ORDER = (
    PIPELINE_ID,
    PIPELINE_NAME,
    PIPELINE_VERSION,
    CANVAS_OWNER,
    GRAPH_DIGEST,
    DATA_DIGEST,
    MODEL_DIGEST,
    TEMPLATE_DIGEST,
    EXPORTER_VERSION,
    CATALOG_VERSION,
    EXPORT_ID,
    EXPORT_TREE,
)


@dataclass(frozen=True, kw_only=True)
class Lineage:
    """What an export commit says about where it came from."""

    pipeline_id: str
    pipeline_name: str
    pipeline_version: str
    canvas_owner: str
    graph_digest: str  # "sha256:<hex>"
    data_digest: str
    model_digests: tuple[tuple[str, str], ...]  # (path, "sha256:<hex>"), sorted by path
    template_digest: str
    exporter_version: str  # "gitexport <version>"
    catalog_version: str
    export_id: str

    @classmethod
    def from_facts(cls, facts: Mapping) -> Lineage:
        """From the build's lineage facts (``.gitexport/lineage.json``)."""
        return cls(
            pipeline_id=facts["pipeline_id"],
            pipeline_name=facts["pipeline_name"],
            pipeline_version=str(facts["pipeline_version"]),
            canvas_owner=facts["canvas_owner"] or "-",
            graph_digest=f"sha256:{facts['graph_sha256']}",
            data_digest=f"sha256:{facts['data_sha256']}",
            model_digests=tuple(
                (path, f"sha256:{digest}") for path, digest in sorted(facts["model_sha256"].items())
            ),
            template_digest=f"sha256:{facts['template_sha256']}",
            exporter_version=f"gitexport {facts['gitexport_version']}",
            catalog_version=facts["catalog_version"],
            export_id=facts["export_id"],
        )

    def trailers(self) -> tuple[tuple[str, str], ...]:
        """``(key, value)`` pairs in :data:`ORDER` (``Export-Tree`` comes from git)."""
        return (
            (PIPELINE_ID, self.pipeline_id),
            (PIPELINE_NAME, self.pipeline_name),
            (PIPELINE_VERSION, self.pipeline_version),
            (CANVAS_OWNER, self.canvas_owner),
            (GRAPH_DIGEST, self.graph_digest),
            (DATA_DIGEST, self.data_digest),
            *((MODEL_DIGEST, f"{path} {digest}") for path, digest in self.model_digests),
            (TEMPLATE_DIGEST, self.template_digest),
            (EXPORTER_VERSION, self.exporter_version),
            (CATALOG_VERSION, self.catalog_version),
            (EXPORT_ID, self.export_id),
        )


@dataclass(frozen=True)
class CommitLineage:
    """The lineage trailers read back from one commit message."""

    trailers: dict[str, list[str]]

    def first(self, key: str) -> str | None:
        values = self.trailers.get(key)
        return values[0] if values else None

    @property
    def pipeline_id(self) -> str | None:
        return self.first(PIPELINE_ID)

    @property
    def pipeline_version(self) -> str | None:
        return self.first(PIPELINE_VERSION)

    @property
    def export_tree(self) -> str | None:
        return self.first(EXPORT_TREE)


def parse(message: str) -> CommitLineage:
    """The trailers of a commit message (the strict reading: a trailer block holds only
    trailers, as gitexport writes it; anything else holds none)."""
    return CommitLineage(tr.parse_trailers(message))


def is_export(message: str, tree: str) -> bool:
    """Whether a commit (its *message* and *tree* id) is an export exactly as gitexport
    wrote it: a ``Pipeline-Id`` and an ``Export-Tree`` naming this very tree."""
    found = parse(message)
    if found.pipeline_id is None:
        return False
    if found.export_tree is not None:
        return found.export_tree == tree
    # Written before Export-Tree existed (every export then carried Exporter-Version):
    # trusted by its trailers, as it was then, so those repositories keep working.
    return found.first(EXPORTER_VERSION) is not None


def is_export_of(message: str, tree: str, pipeline_id: str) -> bool:
    """:func:`is_export` for the pipeline with exactly this id."""
    return is_export(message, tree) and parse(message).pipeline_id == pipeline_id


def storable(value: str) -> bool:
    """Whether *value* survives a trailer line unchanged."""
    return bool(value) and tr.sanitise_value(value) == value


def pipeline_id_problem(pipeline_id: str) -> Problem | None:
    """The problem with an id the trailers cannot store as is (see the module doc)."""
    if storable(pipeline_id):
        return None
    return Problem(
        "pipeline.id",
        f"{pipeline_id!r} cannot be recorded faithfully in the export's git history "
        "(no control characters, tabs, line breaks, bidi controls, doubled or "
        "leading/trailing spaces); give the pipeline a plain id",
    )


def check_pipeline_id(pipeline_id: str) -> None:
    """Refuse an id the trailers cannot store as is."""
    if (problem := pipeline_id_problem(pipeline_id)) is not None:
        raise DocumentError(problem)
