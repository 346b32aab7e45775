"""Lineage trailers: the ``Key: value`` lines that end every export commit message.

Trailers are how an export commit says where it came from (``Pipeline-Id``,
``Pipeline-Version``, ``Graph-Digest``, ``Model-Digest`` ...). They must survive
``git interpret-trailers --parse`` unchanged, so everything that ends up in a commit
message is made safe here:

* trailer keys are fixed by gitexport and must be plain tokens (a bad key is a bug);
* trailer values come from the canvas (pipeline names!) and may hold anything, so each
  is squashed onto one line: newlines and other control characters become spaces.
  A hostile value therefore can never start a trailer line of its own;
* the subject is squashed the same way, and the Markdown body loses the control
  characters and the ``---`` lines that git treats as the start of a patch (everything
  after one is invisible to ``interpret-trailers``).

This module is pure text; it never runs git.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "build_message",
    "format_trailers",
    "parse_trailers",
    "sanitise_body",
    "sanitise_subject",
    "sanitise_value",
    "trailer_pairs",
]

# What git accepts as a trailer token; we allow a strict subset (no spaces, ASCII only).
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
# A trailer line as git writes and reads it with the default ":" separator.
_TRAILER_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)\Z")
# Unicode bidirectional controls ("Trojan source"): invisible, reorder the text around them.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], None)
# git treats a line starting with "---" plus whitespace as the start of a patch.
_PATCH_DIVIDER = re.compile(r"^---(?=\s|$)", re.MULTILINE)


def _is_line_breaking(ch: str) -> bool:
    """Control characters and Unicode line/paragraph separators."""
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def sanitise_value(value: str) -> str:
    """One clean line: control characters become spaces, whitespace runs collapse.

    Keeps quotes, braces and non-ASCII text as they are; only what could break the line
    (or hide text from a reader) goes.
    """
    text = str(value).translate(_BIDI_CONTROLS)
    text = "".join(" " if _is_line_breaking(ch) else ch for ch in text)
    return re.sub(r"[ \t]+", " ", text).strip()


def sanitise_subject(subject: str) -> str:
    """The subject is a single line too; an empty one gets a neutral default."""
    return sanitise_value(subject) or "Export pipeline"


def sanitise_body(body: str) -> str:
    """Markdown body without control characters and without git's patch divider.

    A Markdown rule written ``---`` becomes ``- - -`` (still a rule in CommonMark), so git
    does not mistake it for the start of a patch and lose the trailers after it.
    """
    text = body.replace("\r\n", "\n").replace("\r", "\n").translate(_BIDI_CONTROLS)
    text = "".join(ch if ch in "\n\t" or not _is_line_breaking(ch) else " " for ch in text)
    text = _PATCH_DIVIDER.sub("- - -", text)
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def format_trailers(pairs: Iterable[tuple[str, str]]) -> str:
    """``Key: value`` lines, one per pair, in the given order (keys may repeat)."""
    lines = []
    for key, value in pairs:
        if not _KEY.match(key):
            raise ValueError(f"invalid trailer key {key!r}: use letters, digits and '-'")
        lines.append(f"{key}: {sanitise_value(value)}")
    return "\n".join(lines)


def build_message(subject: str, body: str, trailers: Iterable[tuple[str, str]]) -> str:
    """Subject, blank line, body, blank line, trailers; always ends with a newline."""
    parts = [sanitise_subject(subject)]
    clean_body = sanitise_body(body)
    if clean_body:
        parts.append(clean_body)
    block = format_trailers(trailers)
    if block:
        parts.append(block)
    return "\n\n".join(parts) + "\n"


def trailer_pairs(message: str) -> list[tuple[str, str]]:
    """The trailers of a commit message, in order, like ``git interpret-trailers --parse``.

    The trailer block is the last paragraph, provided it is not the subject and every line
    in it is a trailer (or an indented continuation, which is unfolded). That is stricter
    than git, which also accepts a block that is only partly trailers; for messages built
    by :func:`build_message` both agree. It is the only trailer parser gitexport uses
    (through :func:`gitexport.lineage.parse`): never git's ``%(trailers)``, so a partly
    trailer block is read the same way — as no lineage — by every module.
    """
    lines = message.replace("\r\n", "\n").split("\n")  # split("\n"): git knows no other breaks
    while lines and not lines[-1].strip():
        lines.pop()
    start = len(lines)
    while start > 0 and lines[start - 1].strip():
        start -= 1
    if start == 0:
        return []  # the only paragraph is the subject, which is never a trailer block
    pairs: list[tuple[str, str]] = []
    for line in lines[start:]:
        if line[:1] in (" ", "\t") and pairs:
            key, value = pairs[-1]
            pairs[-1] = (key, f"{value} {line.strip()}".strip())
            continue
        match = _TRAILER_LINE.match(line.rstrip())
        if not match:
            return []
        pairs.append((match.group(1), match.group(2)))
    return pairs


def parse_trailers(message: str) -> dict[str, list[str]]:
    """Trailers by key; every value is a list because keys like ``Model-Digest`` repeat."""
    result: dict[str, list[str]] = {}
    for key, value in trailer_pairs(message):
        result.setdefault(key, []).append(value)
    return result
