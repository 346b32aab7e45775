"""How planning scales with the number of nodes: prints load-and-plan time per document size.

The documents are the small base pipeline of the tests plus N-8 experiment nodes left on
the canvas (chains of scalers hanging off the dataset, the shape a big canvas has), so
most nodes are skipped: the path that used to be quadratic. A document above gitexport's
limits (``gitexport.document.MAX_NODES``, ``MAX_DOCUMENT_BYTES``) is refused early; the
figure then says so.

    python bench/plan_scale.py [N ...]      # default: 1000 20000 150000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from gitexport.errors import DocumentError  # noqa: E402
from gitexport.load import plan_bundle  # noqa: E402
from helpers import base_frame, base_pipeline, edge, node, write_bundle  # noqa: E402


def big_document(n_nodes: int) -> dict:
    doc = base_pipeline()
    nodes, edges = doc["graph"]["nodes"], doc["graph"]["edges"]
    previous = "n1"
    for i in range(max(0, n_nodes - len(nodes))):
        node_id = f"x{i}"
        nodes.append(node(node_id, "standard_scaler", f"Experiment {i}", columns=[]))
        # chains of 50 off the dataset: long skipped branches, not only loose nodes
        edges.append(edge("n1" if i % 50 == 0 else previous, node_id))
        previous = node_id
    return doc


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:  # warm up: imports are not planning time
        plan_bundle(write_bundle(Path(tmp), big_document(10), base_frame()))
    print(f"{'nodes':>8} {'bytes':>12} {'plan s':>8}  result")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = write_bundle(Path(tmp), big_document(n), base_frame())
            size = (bundle / "pipeline.json").stat().st_size
            t0 = time.perf_counter()
            try:
                planned = plan_bundle(bundle)
                result = f"planned, {len(planned.plan.skipped)} nodes skipped"
            except DocumentError as exc:
                result = f"refused: {exc.problems[0]}"
            print(f"{n:>8} {size:>12,} {time.perf_counter() - t0:>8.2f}  {result}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 20000, 150000])
