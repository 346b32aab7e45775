"""The ``gitexport`` command line: one module per verb under :mod:`gitexport.commands`.

Each command module exposes ``add_parser(subparsers)`` and ``run(args) -> int`` and calls
only :mod:`gitexport.api`. Exit status: the error's ``exit_code`` — 0 success, 2 invalid
document or bundle, 3 a conflict, 130 cancelled, 1 anything else. User errors are printed
without a traceback (``GITEXPORT_DEBUG=1`` shows one); under ``--json`` the error object is
printed on stdout as ``{"error": {...}}`` as well.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from gitexport import __version__
from gitexport.console import print_json
from gitexport.errors import DocumentError, GitexportError, error_dict
from gitexport.terminal import for_terminal

COMMANDS = ("plan", "export", "diff", "log", "push", "serve", "worker", "keys")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitexport",
        description="Turn a canvas ML pipeline into a production-ready project in git.",
    )
    parser.add_argument("--version", action="version", version=f"gitexport {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"gitexport.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="gitexport: %(message)s",
        stream=sys.stderr,
    )
    as_json = getattr(args, "json", False)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: no traceback unless asked
        if os.environ.get("GITEXPORT_DEBUG") and not isinstance(exc, GitexportError):
            raise
        report(exc, as_json)
        return exc.exit_code if isinstance(exc, GitexportError) else 1


def report(exc: Exception, as_json: bool) -> None:
    """One ``error:`` line per problem on stderr (secrets redacted, names escaped)."""
    from gitexport.git_remote import redact  # every message passes it: no token ever printed

    error = error_dict(exc)
    error["message"] = redact(error["message"] if isinstance(exc, GitexportError) else exc)
    if isinstance(exc, DocumentError):
        lines = [str(p) for p in exc.problems]
    elif isinstance(exc, GitexportError):
        lines = [error["message"]]
    else:
        lines = [f"internal error: {type(exc).__name__}: {error['message']}"]
        error["message"] = lines[0]
    for line in lines:
        print(f"error: {for_terminal(redact(line))}", file=sys.stderr)
    if not isinstance(exc, GitexportError):
        print("(set GITEXPORT_DEBUG=1 for a traceback)", file=sys.stderr)
    if as_json:
        print_json({"error": error})
