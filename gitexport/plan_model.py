"""The export plan: plain, serialisable data describing the project to generate.

Nothing here does I/O. The same document and data give the same plan, field for field; the
renderer turns a plan into files without looking anywhere else.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

PLAN_FORMAT = "gitexport-plan/1"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Call(_Data):
    """A constructor call in the generated code: ``name(**kwargs)`` imported from ``module``.

    A keyword value may itself be a :class:`Call` (a scaler inside ``ColumnScaler``).
    """

    module: str
    name: str
    kwargs: dict[str, Any] = {}
    positional: list[Any] = []
    tuples: list[str] = []  # keyword arguments the estimator wants as tuples (JSON has none)

    @field_validator("kwargs", mode="before")
    @classmethod
    def _nested_calls(cls, value: Any) -> Any:
        """A nested call read back from JSON is a Call again, not a plain dict."""
        if isinstance(value, dict):
            return {
                key: Call.model_validate(v)
                if isinstance(v, dict) and {"module", "name", "kwargs"} <= v.keys()
                else v
                for key, v in value.items()
            }
        return value


class PipelineInfo(_Data):
    id: str
    name: str
    version: int
    owner: str
    description: str
    updated_at: str


class SourcePlan(_Data):
    id: str
    name: str
    type: Literal["csv", "parquet", "postgres", "mysql"]
    bundle_file: str  # relative path in the bundle of what gitexport trains on
    file_name: str  # name of the file under data/raw/ in the generated project
    file_format: Literal["csv", "parquet"]
    sha256: str
    n_rows: int
    read_options: dict[str, str]  # pandas keyword arguments (sep, encoding)
    query: str | None = None
    env_prefix: str | None = None  # database sources: env var prefix for the connection


class RawColumn(_Data):
    name: str
    dtype: str  # pandas dtype of the source
    kind: str  # integer | float | bool | datetime | string
    role: Literal["feature", "target", "unused"]
    missing_in_data: int


class ServingField(_Data):
    name: str  # raw column name, exactly as in the data
    kind: str
    nullable: bool
    categories: list[str] | None = None  # categories seen in training (raw values)
    reject_unknown: bool = False  # only these categories are accepted at serving time
    description: str


class SplitPlan(_Data):
    node_id: str
    target: str
    test_size: float
    stratify: bool
    random_state: int


class Step(_Data):
    node_id: str
    label: str
    node_type: str
    role: Literal["stateless", "stateful", "row_filter", "sampler"]
    step_name: str  # name in the generated pipeline (an identifier)
    call: Call
    columns: list[str] | None  # explicit columns, None = automatic
    auto_rule: str | None  # what the automatic choice takes, in words
    touches: list[str]  # columns this node reads or rewrites, as far as planning can tell
    adds: list[str]
    removes: list[str]
    training: str  # what it does at training time
    serving: str  # what it does at serving time
    disabled: bool = False


class ModelPlan(_Data):
    node_id: str
    label: str
    node_type: Literal["train_model", "hyperparameter_tuning"]
    model_type: str
    estimator: Call
    hyperparameters: dict[str, Any]
    cv_folds: int
    search: Literal["grid", "random"] | None = None
    param_grid: dict[str, list[Any]] | None = None
    n_iter: int | None = None
    scoring: str | None = None
    search_random_state: int | None = None
    refit_on_train_and_validation: bool = False
    has_predict_proba: bool
    allows_nan: bool


class EvaluationPlan(_Data):
    node_id: str | None
    metrics: list[str]
    positive_label: Any = None


class SkippedNode(_Data):
    node_id: str
    label: str
    node_type: str
    reason: str


class Package(_Data):
    name: str
    version: str
    why: str
    dev: bool = False  # only for tests and lint (requirements-dev.txt), not in the image


class CanvasResults(_Data):
    metrics: dict[str, dict[str, Any]]
    reference_predictions: str | None
    trained_at: str | None


class ExportPlan(_Data):
    format: str = PLAN_FORMAT
    pipeline: PipelineInfo
    project_name: str
    catalog_version: str
    source: SourcePlan
    raw_columns: list[RawColumn]
    split: SplitPlan
    problem_type: Literal["classification", "regression"]
    target: str
    classes: list[Any]
    steps: list[Step]
    model: ModelPlan
    evaluation: EvaluationPlan
    feature_columns: list[str]  # columns reaching the model, as far as planning can tell
    feature_columns_exact: bool  # False when a data-dependent choice may change them
    serving_schema: list[ServingField]
    skipped: list[SkippedNode]
    packages: list[Package]
    canvas_results: CanvasResults
    warnings: list[str] = []

    @property
    def uses_sampler(self) -> bool:
        return any(s.role == "sampler" for s in self.steps)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"
