"""The catalog category ``source``: the ``dataset`` node's data source.

Structural (no pipeline step): ``build_plan`` calls :func:`plan_source`.
"""

from __future__ import annotations

import re

from gitexport.document import Document
from gitexport.graph import Chain
from gitexport.plan_model import SourcePlan
from gitexport.profile import DataProfile


def raw_file_name(relative: str) -> str:
    """The data file's name under ``data/raw/`` in the project: its base name, made safe."""
    name = relative.replace("\\", "/").rsplit("/", 1)[-1]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return safe or "data.csv"


def plan_source(document: Document, chain: Chain, profile: DataProfile) -> SourcePlan:
    """Where the training data comes from and how the project reads it."""
    source = document.source(chain.dataset.data.config["source_id"])
    file_format = "parquet" if profile.file.lower().endswith((".parquet", ".pq")) else "csv"
    return SourcePlan(
        id=source.id,
        name=source.name or source.id,
        type=source.type,
        bundle_file=profile.file,
        file_name=raw_file_name(profile.file),
        file_format=file_format,
        sha256=profile.sha256,
        n_rows=profile.n_rows,
        read_options={"sep": source.options.delimiter, "encoding": source.options.encoding}
        if file_format == "csv"
        else {},
        query=source.query,
        # connection settings come from DB_* variables (see .env.example)
        env_prefix="DB" if source.is_database else None,
    )
