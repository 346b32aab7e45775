"""Errors gitexport reports to its users.

A :class:`UserError` is something the user can fix (a broken document, a missing file, a
refused export); the CLI prints it without a traceback. :class:`DocumentError` carries every
problem found in a canvas document at once, one line each.
"""

from __future__ import annotations

from dataclasses import dataclass


class UserError(Exception):
    """A problem the user can fix; printed as is, exit status 1."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where it is and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class DocumentError(UserError):
    """The canvas document or bundle is invalid; exit status 2."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def node_where(node_id: str, label: str | None = None, field: str | None = None) -> str:
    """How a message names a node: ``node 'n3' (Label Encoding), config.columns``."""
    text = f"node {node_id!r}"
    if label:
        text += f" ({label!r})" if _needs_quotes(label) else f" ({label})"
    if field:
        text += f", {field}"
    return text


def _needs_quotes(text: str) -> bool:
    return any(ch in text for ch in "\n\r\t()'\"") or text != text.strip()
