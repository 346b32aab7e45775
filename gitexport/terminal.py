"""Text for a human's terminal: names from a document shown as they are, never acted on.

A pipeline name, a node label or a column name comes from whoever wrote the document. Printed
raw, a newline forges another output line (``error: ...`` that gitexport never said), a
carriage return or an escape sequence rewrites what is on screen, and a bidi control
(U+202E RIGHT-TO-LEFT OVERRIDE) shows the text in another order than it is. Human output
goes through :func:`for_terminal`; JSON output keeps the exact text (the canvas needs it).
"""

from __future__ import annotations

import re
import unicodedata

# Bidi embeddings, overrides and isolates, and the invisible direction marks.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Fast path: the characters that may need escaping (control, format, separators, surrogates).
_SUSPECT = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]|[^\x00-\u024f]"
)


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        code = ord(ch)
        return (
            f"\\x{code:02x}"
            if code < 0x100
            else f"\\u{code:04x}"
            if code < 0x10000
            else f"\\U{code:08x}"
        )
    return ch


def for_terminal(text: object) -> str:
    """``text`` with control, format (bidi, zero-width) and line-separator characters shown
    as escapes (``\\n``, ``\\x1b``, ``\\u202e``); everything else, accents and scripts
    included, unchanged. Apply it to each line a human reads, not to JSON."""
    text = str(text)
    if not _SUSPECT.search(text):
        return text
    return "".join(_escape(ch) for ch in text)
