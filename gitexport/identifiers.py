"""Python identifiers for data column names (the fields of the generated request models).

A column name is data: it can hold quotes, newlines, template syntax, any Unicode, or be a
Python keyword. The generated code never uses it as a name; a request model's field gets a
safe ASCII identifier derived from it, and the exact column name travels only as a string
literal (``Field(alias=...)``, emitted with the ``py`` filter).
"""

from __future__ import annotations

import keyword
import re
import unicodedata

# Attributes of pydantic's BaseModel (and its protected ``model_`` namespace): a field of
# one of these names would shadow the model's own machinery.
_RESERVED = {
    "construct",
    "copy",
    "dict",
    "from_orm",
    "json",
    "parse_file",
    "parse_obj",
    "parse_raw",
    "schema",
    "schema_json",
    "update_forward_refs",
    "validate",
    "self",
    "cls",
}


def field_identifier(name: str) -> str:
    """A readable, lowercase ASCII identifier for ``name`` (not yet unique)."""
    ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    ident = re.sub(r"[^0-9a-zA-Z]+", "_", ascii_name).strip("_").lower()
    ident = re.sub(r"_+", "_", ident) or "field"
    if ident[0].isdigit():
        ident = "f_" + ident
    if ident.startswith("model_") or ident in _RESERVED:
        ident = "col_" + ident
    if keyword.iskeyword(ident) or keyword.issoftkeyword(ident):
        ident += "_"
    return ident


def field_identifiers(names: list[str]) -> list[str]:
    """One identifier per name, in order, unique among themselves (``_2``, ``_3`` suffixes)."""
    used: set[str] = set()
    out = []
    for name in names:
        base = field_identifier(name)
        ident, i = base, 2
        while ident in used:
            ident, i = f"{base}_{i}", i + 1
        used.add(ident)
        if not ident.isidentifier() or keyword.iskeyword(ident):  # cannot happen; guard anyway
            raise ValueError(f"no safe identifier for column {name!r}")
        out.append(ident)
    return out
