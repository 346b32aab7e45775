"""The lineage model: trailer names and order, rendering from the build's facts, the one
parser, and what makes a commit one of gitexport's own exports."""

from __future__ import annotations

import pytest

from gitexport import lineage
from gitexport.errors import DocumentError

FACTS = {
    "pipeline_id": "pl_penguins",
    "pipeline_name": "Penguins",
    "pipeline_version": 3,
    "canvas_owner": None,
    "graph_sha256": "a" * 64,
    "data_sha256": "b" * 64,
    "model_sha256": {"models/trained/z.joblib": "d" * 64, "models/trained/a.joblib": "c" * 64},
    "template_sha256": "e" * 64,
    "gitexport_version": "0.1.0",
    "catalog_version": "2",
    "export_id": "exp-1",
}


def test_trailers_rendered_from_facts_in_order():
    pairs = lineage.Lineage.from_facts(FACTS).trailers()
    assert pairs == (
        ("Pipeline-Id", "pl_penguins"),
        ("Pipeline-Name", "Penguins"),
        ("Pipeline-Version", "3"),
        ("Canvas-Owner", "-"),
        ("Graph-Digest", "sha256:" + "a" * 64),
        ("Data-Digest", "sha256:" + "b" * 64),
        ("Model-Digest", "models/trained/a.joblib sha256:" + "c" * 64),
        ("Model-Digest", "models/trained/z.joblib sha256:" + "d" * 64),
        ("Template-Digest", "sha256:" + "e" * 64),
        ("Exporter-Version", "gitexport 0.1.0"),
        ("Catalog-Version", "2"),
        ("Export-Id", "exp-1"),
    )
    keys = [k for k, _ in pairs]
    assert [k for k in lineage.ORDER if k in keys] == list(dict.fromkeys(keys))


TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def test_an_export_is_recognised_by_its_tree_not_its_trailers_alone():
    message = f"Export\n\nbody\n\nPipeline-Id: pl_x\nExport-Tree: {TREE}\n"
    assert lineage.is_export_of(message, TREE, "pl_x")
    assert not lineage.is_export_of(message, "1" * 40, "pl_x")  # amended: another tree
    assert not lineage.is_export_of(message, TREE, "pl_y")
    assert not lineage.is_export("Export\n\nPipeline-Id: pl_x\n", TREE)  # no Export-Tree


def test_exports_from_before_export_tree_are_still_recognised():
    legacy = "Export\n\nPipeline-Id: pl_x\nExporter-Version: gitexport 0.1.0\n"
    assert lineage.is_export_of(legacy, TREE, "pl_x")


def test_a_partly_trailer_block_holds_no_lineage():
    """git reads trailers from a block that is only partly trailers (with a Signed-off-by);
    gitexport's one parser does not, so such a commit is never taken for an export."""
    message = (
        f"Export\n\nSigned-off-by: A <a@x>\nPipeline-Id: pl_x\nExport-Tree: {TREE}\n"
        "and a line of prose\n"
    )
    assert lineage.parse(message).pipeline_id is None
    assert not lineage.is_export(message, TREE)


@pytest.mark.parametrize("bad", ["pl\tpenguins", "pl  penguins", " pl", "pl\n", "a\u202eb", ""])
def test_ids_that_cannot_be_stored_exactly_are_refused(bad):
    with pytest.raises(DocumentError, match="pipeline.id") as info:
        lineage.check_pipeline_id(bad)
    assert info.value.code == "invalid_document"


def test_plain_and_unicode_ids_are_storable():
    for good in ("pl penguins", 'pl "x" {{ y }} ünï..lock', "Ω-1"):
        lineage.check_pipeline_id(good)
