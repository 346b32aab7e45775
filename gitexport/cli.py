"""The ``gitexport`` command line: one module per verb under :mod:`gitexport.commands`.

Each command module exposes ``add_parser(subparsers)`` and ``run(args) -> int``. Exit
status: 0 success, 2 invalid document or bundle, 1 anything else. User errors are printed
without a traceback; ``GITEXPORT_DEBUG=1`` shows one.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from gitexport import __version__
from gitexport.errors import DocumentError, UserError
from gitexport.git_remote import redact  # every message passes it: no token ever printed

COMMANDS = ("plan", "export", "diff", "log", "push")


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
    try:
        return int(args.run(args) or 0)
    except DocumentError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"error: {redact(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: no traceback unless asked
        if os.environ.get("GITEXPORT_DEBUG"):
            raise
        print(f"error: internal error: {type(exc).__name__}: {redact(exc)}", file=sys.stderr)
        print("(set GITEXPORT_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1
