"""``gitexport keys rotate``: re-encrypt every stored forge token under the newest secret key.

Put the new key first in ``GITEXPORT_SECRET_KEYS`` (keep the old ones after it), run this,
then the old keys can be removed.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="manage the service's secret keys",
        description="Manage the export service's secret keys.",
    )
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    rotate = sub.add_parser(
        "rotate", help="re-encrypt every stored token under the newest GITEXPORT_SECRET_KEYS key"
    )
    rotate.add_argument("--state-dir", type=Path, help="state folder (GITEXPORT_STATE_DIR)")
    rotate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gitexport.commands.serve import settings_from
    from gitexport.service.store import JobStore
    from gitexport.service.vault import TokenVault, rotate_tokens

    settings = settings_from(args)
    store = JobStore(settings.database_url, settings.state_dir)
    store.migrate()
    outcome = rotate_tokens(store.tokens(), TokenVault(settings.secret_keys))
    store.replace_tokens(outcome.updates)
    print(f"re-encrypted {len(outcome.updates)} stored token(s) under the newest key")
    if outcome.unreadable:
        print(
            f"{len(outcome.unreadable)} token(s) open with no configured key "
            f"(jobs {', '.join(outcome.unreadable)}): those jobs cannot run"
        )
        return 1
    return 0
