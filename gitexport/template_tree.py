"""The template tree shipped with gitexport (``gitexport/templates/project``): its files and
their digest, part of every export's lineage and export id.

Kept apart from :mod:`gitexport.render` (Jinja, YAML, the plan model) so that deciding an
unchanged export by digests imports none of them.
"""

from __future__ import annotations

import hashlib
from importlib import resources


def template_root():
    return resources.files("gitexport.templates").joinpath("project")


def iter_templates() -> list[str]:
    """Every template path under templates/project, sorted."""
    out = []

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, rel + "/")
            elif not child.name.endswith(".pyc"):
                out.append(rel)

    walk(template_root(), "")
    return sorted(out)


def template_digest() -> str:
    """SHA-256 over the template tree (paths and bytes): part of an export's lineage."""
    digest = hashlib.sha256()
    for rel in iter_templates():
        digest.update(rel.encode() + b"\0")
        digest.update(template_root().joinpath(rel).read_bytes() + b"\0")
    return digest.hexdigest()
