"""The I/O edge of planning: read a bundle and its data, then plan (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gitexport.catalog import CLASSIFIER_MODEL_TYPES, load_catalog
from gitexport.document import Bundle, load_bundle
from gitexport.errors import node_where
from gitexport.graph import Chain, analyse_graph
from gitexport.plan import build_plan, node_config
from gitexport.plan_model import ExportPlan
from gitexport.profile import DataProfile, load_training_frame, profile_data


@dataclass
class PlannedBundle:
    bundle: Bundle
    chain: Chain
    frame: pd.DataFrame
    data_path: Path
    profile: DataProfile
    plan: ExportPlan


def plan_bundle(path: Path | str) -> PlannedBundle:
    """Load, validate and plan a bundle; raises DocumentError with every problem found."""
    catalog = load_catalog()
    bundle = load_bundle(path, catalog)
    chain = analyse_graph(bundle.document)
    source = bundle.document.source(chain.dataset.data.config["source_id"])
    data_path, frame = load_training_frame(bundle, source)
    split = next(n for n in chain.nodes if n.type == "feature_target_split" and not n.data.disabled)
    split_cfg = node_config(split, catalog)
    model_cfg = node_config(chain.model, catalog)
    _check_target(frame, split, split_cfg["target"])
    profile = profile_data(
        data_path,
        source.training_file,
        frame,
        target=split_cfg["target"],
        test_size=split_cfg["test_size"],
        stratify=split_cfg["stratify"],
        random_state=split_cfg["random_state"],
        classification=model_cfg["model_type"] in CLASSIFIER_MODEL_TYPES,
        split_where=node_where(split.id, split.data.label),
    )
    plan = build_plan(bundle, chain, profile, catalog)
    return PlannedBundle(bundle, chain, frame, data_path, profile, plan)


def _check_target(frame: pd.DataFrame, split, target: str) -> None:
    from gitexport.errors import DocumentError, Problem, node_where

    if target not in frame.columns:
        raise DocumentError(
            Problem(
                node_where(split.id, split.data.label, "config.target"),
                f"target column {target!r} is not in the data",
            )
        )
