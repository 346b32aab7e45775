"""The generated project's packages, pinned to the versions gitexport itself trains with.

The project is trained here, by running its code in this environment, and must reproduce the
canvas's predictions; pinning what is installed here makes the project run the code that was
checked.
"""

from __future__ import annotations

import importlib.metadata

from gitexport.plan_model import Package

# The generated CI's security scanners, pinned in its workflow rather than in the project's
# requirements (they are CI tools, not the project's). gitexport's test extra pins the same
# versions to run those workflows (tests/test_act_examples.py checks that both agree).
CI_SCANNERS = (("pip-audit", "2.10.1"), ("bandit", "1.9.4"), ("detect-secrets", "1.5.0"))


def installed_version(dist: str) -> str:
    """The version of ``dist`` installed beside gitexport."""
    return importlib.metadata.version(dist)


def _pinned(name: str, why: str, *, dev: bool = False) -> Package:
    return Package(name=name, version=installed_version(name), why=why, dev=dev)


def plan_packages(uses_imblearn: bool, source_type: str, file_format: str) -> list[Package]:
    """The generated project's runtime packages, pinned to what gitexport trains with."""
    packages = [
        _pinned("scikit-learn", "the feature pipeline and the model"),
        _pinned("pandas", "data frames in and out of every step"),
        _pinned("numpy", "numerical arrays"),
        _pinned("scipy", "required by scikit-learn"),
        _pinned("joblib", "saving and loading the fitted pipeline"),
        _pinned("pyyaml", "reading config/*.yaml"),
        # The prediction API (src/api): pinned like the rest, to what gitexport tested it with.
        _pinned("fastapi", "the prediction API"),
        _pinned("pydantic", "the API's request and response models"),
        _pinned("uvicorn", "the ASGI server running the API"),
        # Development only: FastAPI's TestClient (tests/test_api.py) needs an HTTP client;
        # this Starlette takes httpx2 (with plain httpx it warns that httpx is deprecated).
        _pinned("httpx2", "the API tests' HTTP client", dev=True),
        _pinned("pytest", "the project's tests", dev=True),
        _pinned("ruff", "lint and format", dev=True),
    ]
    if uses_imblearn:
        # imbalanced-learn's Pipeline runs training-only steps (row filters, samplers) at fit time only.
        packages.insert(
            1,
            _pinned(
                "imbalanced-learn", "training-only steps (samplers, row filters) in the pipeline"
            ),
        )
    if file_format == "parquet":
        packages.append(_pinned("pyarrow", "reading Parquet files"))
    if source_type in ("postgres", "mysql"):
        packages.append(_pinned("sqlalchemy", "querying the database source"))
    # gitexport does not install the database drivers itself (it trains on the bundle's data
    # file), so their pins are fixed versions rather than installed ones.
    if source_type == "postgres":
        packages.append(Package(name="psycopg2-binary", version="2.9.10", why="PostgreSQL driver"))
    elif source_type == "mysql":
        packages.append(Package(name="pymysql", version="1.1.1", why="MySQL driver"))
    return packages
