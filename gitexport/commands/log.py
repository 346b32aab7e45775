"""``gitexport log DIR [--json]``: the exports recorded in a project's git history.

Reads the lineage trailers of every export commit (newest first) and shows version,
commit, the key digests and whether the export is merged into ``main`` or still pending
on its export branch.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gitexport import lineage
from gitexport.console import print_json
from gitexport.errors import UserError
from gitexport.terminal import for_terminal

if TYPE_CHECKING:
    from gitexport.git import ExportRecord

# The trailers worth a column, in display order.
_DIGEST_KEYS = (lineage.GRAPH_DIGEST, lineage.MODEL_DIGEST)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "log",
        help="list the exports recorded in a project's git history",
        description="List the exports recorded in DIR's git history, newest first.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="the exported project")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not (args.dir / ".git").exists():
        raise UserError(f"{args.dir} is not a git repository")
    # The git module itself, not api.history: importing the library API (pydantic models)
    # would be most of the command's time.
    from gitexport.git import read_history

    records = read_history(args.dir)
    if args.json:
        print_json([r.to_json() for r in records])
    elif not records:
        print(f"no exports in {for_terminal(args.dir)}")
    else:
        print(format_table(records))
    return 0


def format_table(records: list[ExportRecord]) -> str:
    """A plain-text table: one row per export, one column per key digest."""
    header = ["VERSION", "COMMIT", "DATE", *(k.upper() for k in _DIGEST_KEYS), "STATUS"]
    rows = [header]
    for record in records:
        digests = [_short_digests(record.trailers.get(key, [])) for key in _DIGEST_KEYS]
        rows.append(
            [
                for_terminal(record.pipeline_version or "-"),
                record.commit[:10],
                record.date[:19].replace("T", " "),
                *digests,
                record.status + (f" ({for_terminal(record.branch)})" if not record.on_main else ""),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _short_digests(values: list[str]) -> str:
    """``models/trained/model.joblib sha256:abcdef…`` -> ``model.joblib:abcdef123456``."""
    if not values:
        return "-"
    return ", ".join(_short_digest(v) for v in values)


def _short_digest(value: str) -> str:
    *names, digest = value.split(" ")
    algo, _, hexdigest = digest.rpartition(":")
    short = hexdigest[:12] if algo else digest[:12]
    return f"{names[-1].rsplit('/', 1)[-1]}:{short}" if names else short
