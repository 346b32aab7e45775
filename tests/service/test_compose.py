"""docker/compose.service.yml: api + 2 workers + Redis + PostgreSQL, valid against the Compose
specification's schema (check-jsonschema's vendored copy; Docker itself does not run here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.service.yml"
DOCKERFILE = ROOT / "docker" / "service.Dockerfile"


def tool(name: str) -> str:
    bindir = str(Path(sys.executable).parent)
    found = shutil.which(name, path=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")
    return found


def test_compose_file_is_valid_compose():
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_runs_api_two_workers_redis_and_postgres():
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert set(services) == {"api", "worker", "redis", "postgres"}
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["api"]["command"][:2] == ["gitexport", "serve"]
    assert "--workers" in services["api"]["command"]
    assert services["worker"]["command"][:2] == ["gitexport", "worker"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["GITEXPORT_QUEUE_URL"].startswith("redis://redis:")
        assert env["GITEXPORT_DATABASE_URL"].startswith("postgresql://gitexport:")
        assert "@postgres:5432/" in env["GITEXPORT_DATABASE_URL"]
        # Secrets come from the operator's environment, required, never written in the file.
        for key in ("GITEXPORT_SERVICE_KEYS", "GITEXPORT_SECRET_KEYS"):
            assert env[key].startswith("${") and ":?" in env[key]
        assert set(services[name]["depends_on"]) == {"redis", "postgres"}


def test_service_dockerfile_lints_clean():
    proc = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
