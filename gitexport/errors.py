"""Errors gitexport reports to its users: one hierarchy, each member with a stable ``code``.

The codes are the ones of the export service's contract (``gitexport-service/1``,
``../shared/canvas/SERVICE.md``): ``invalid_document``, ``parity``, ``conflict``,
``forge_auth``, ``forge_permission``, ``forge_unavailable``, ``cancelled``, ``internal``.
The CLI maps them to exit statuses; the service puts ``to_dict()`` in the job's ``error``.

A :class:`UserError` is something the user can fix (a broken document, a missing file, a
refused export); the CLI prints it without a traceback. :class:`DocumentError` carries every
problem found in a canvas document at once, one line each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from gitexport.terminal import for_terminal

ERROR_CODES = (
    "invalid_document",
    "parity",
    "conflict",
    "forge_auth",
    "forge_permission",
    "forge_unavailable",
    "cancelled",
    "internal",
)


class GitexportError(Exception):
    """Base of every error gitexport raises on purpose."""

    code = "internal"
    exit_code = 1

    @property
    def message(self) -> str:
        return str(self)

    def to_dict(self) -> dict:
        """The service's ``error`` object (``problems`` only for documents)."""
        return {"code": self.code, "message": self.message, "problems": []}


class UserError(GitexportError):
    """A problem the user can fix; printed as is, exit status 1."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where it is and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        # human text: a name's newline or U+202E must not forge or reorder a line;
        # to_dict() keeps the exact text for JSON
        text = f"{self.where}: {self.message}" if self.where else self.message
        return for_terminal(text)

    def to_dict(self) -> dict:
        return asdict(self)


class DocumentError(UserError):
    """The canvas document or bundle is invalid; exit status 2."""

    code = "invalid_document"
    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "message": f"the pipeline document has {len(self.problems)} problem(s)",
            "problems": [p.to_dict() for p in self.problems],
        }


class ParityError(UserError):
    """The generated project does not reproduce the canvas's predictions."""

    code = "parity"


class ConflictError(UserError):
    """The export collides with what is there: edits on main, someone's commits, another
    pipeline's repository. Nothing was changed; exit status 3."""

    code = "conflict"
    exit_code = 3


class ForgeError(UserError):
    """GitHub, GitLab or the git remote refused or failed."""

    code = "forge_unavailable"


class ForgeAuthError(ForgeError):
    """The forge rejected the credentials (401, bad token)."""

    code = "forge_auth"


class ForgePermissionError(ForgeError):
    """The credentials are valid but not allowed to do this (403, or 404 on a hidden repo)."""

    code = "forge_permission"


class ForgeUnavailableError(ForgeError):
    """The forge could not be reached or kept failing after retries."""

    code = "forge_unavailable"


class Cancelled(GitexportError):
    """The caller asked to stop; raised between steps, never in the middle of one."""

    code = "cancelled"
    exit_code = 130


def error_dict(exc: BaseException) -> dict:
    """The service's ``error`` object for any exception (``internal`` for the unexpected)."""
    if isinstance(exc, GitexportError):
        return exc.to_dict()
    return {"code": "internal", "message": f"internal error: {type(exc).__name__}", "problems": []}


def node_where(node_id: str, label: str | None = None, field: str | None = None) -> str:
    """How a message names a node: ``node 'n3' (Label Encoding), config.columns``."""
    text = f"node {node_id!r}"
    if label:
        text += f" ({label!r})" if _needs_quotes(label) else f" ({label})"
    if field:
        text += f", {field}"
    return text


def _needs_quotes(text: str) -> bool:
    # quoted as a Python literal: control and bidi characters come out escaped
    return (
        any(ch in text for ch in "\n\r\t()'\"")
        or text != text.strip()
        or for_terminal(text) != text
    )


class BudgetExceeded(UserError):
    """The generated code ran past its time or memory budget and was stopped."""
