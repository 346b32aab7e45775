"""Which of a plan's nodes compute in an order that depends on the CPU and the thread count.

Pure and light (no pandas, no scikit-learn): the renderer asks it too, to make the generated
training record and replay its thread counts only where they matter (docs/spec-notes.md,
item 22), and :mod:`gitexport.parity` names these nodes when parity falls short.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitexport.plan_model import ExportPlan

# The one list: node types (and, for imputation, the strategy) whose step goes through
# BLAS or a neighbour search. Random forests, boosting, trees, encoders and scalers do not.
_SENSITIVE_STEP_TYPES = {
    "smote": "SMOTE's neighbour search",
    "adasyn": "ADASYN's neighbour search",
    "near_miss": "NearMiss's neighbour search",
}
_SENSITIVE_IMPUTATION = "knn"
_SENSITIVE_MODELS = {
    "knn_classifier": "the k-nearest-neighbour model",
    "knn_regressor": "the k-nearest-neighbour model",
}


@dataclass(frozen=True)
class SensitiveNode:
    node_id: str
    label: str
    node_type: str
    why: str

    def to_dict(self) -> dict:
        return {"node_id": self.node_id, "label": self.label, "node_type": self.node_type}

    def name(self) -> str:
        return f"{self.label} ({self.node_id})"


def sensitive_nodes(plan: ExportPlan) -> list[SensitiveNode]:
    """The plan's nodes whose arithmetic depends on the CPU and the thread count."""
    found = []
    for step in plan.steps:
        if step.disabled:
            continue
        why = _SENSITIVE_STEP_TYPES.get(step.node_type)
        if step.node_type == "imputation" and (
            step.call.kwargs.get("strategy") == _SENSITIVE_IMPUTATION
        ):
            why = "KNN imputation's distances"
        if why:
            found.append(SensitiveNode(step.node_id, step.label, step.node_type, why))
    why = _SENSITIVE_MODELS.get(plan.model.model_type)
    if why:
        found.append(SensitiveNode(plan.model.node_id, plan.model.label, plan.model.node_type, why))
    return found
