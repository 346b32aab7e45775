"""Jupyter notebooks from a plain-text cell list (the ``notebook`` template filter).

A notebook template renders to text in a light "percent" format: a line ``# %%`` starts a
code cell, ``# %% [markdown]`` a Markdown cell. :func:`notebook_json` turns that into an
nbformat 4.5 notebook: no outputs, no execution counts, numbered cell ids, and JSON written
the way Jupyter writes it — the same text always gives the same bytes. The code cells are
formatted afterwards, with the project's Python, by the renderer's one ``ruff format`` run
(ruff formats notebooks' code cells in place).
"""

from __future__ import annotations

import json
import re

_MARKER = re.compile(r"^# %%(?: \[(markdown)\])?[ \t]*$")

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def parse_cells(text: str) -> list[tuple[str, str]]:
    """``[(cell_type, source), ...]`` of percent-format text; blank cells are dropped."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        match = _MARKER.match(line)
        if match:
            cells.append(("markdown" if match.group(1) else "code", []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"notebook text before the first cell marker: {line!r}")
    out = []
    for kind, lines in cells:
        source = "\n".join(lines).strip("\n")
        if not source.strip():
            continue
        out.append((kind, source))
    return out


def _source_lines(source: str) -> list[str]:
    lines = source.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def notebook_json(text: str) -> str:
    """The nbformat 4.5 JSON of percent-format ``text``."""
    cells = []
    for i, (kind, source) in enumerate(parse_cells(text), start=1):
        cell = {
            "cell_type": kind,
            "id": f"cell-{i}",
            "metadata": {},
            "source": _source_lines(source),
        }
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": KERNELSPEC,
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
