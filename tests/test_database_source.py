"""A database data source: trained on the canvas's snapshot, connection secrets never exported."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from gitexport.build import build_project
from gitexport.load import plan_bundle
from gitexport.render import RenderOptions
from helpers import base_frame, base_nodes, chain, make_document, write_bundle

PASSWORD = "s3cr3t-Pa55w0rd-never-exported"
USER = "ml_reader_user"


def database_bundle(tmp_path):
    nodes = base_nodes()
    source = {
        "id": "ds_1",
        "name": "customers",
        "type": "postgres",
        "connection": {
            "host": "db.internal",
            "port": 5432,
            "database": "crm",
            "user": USER,
            "password": PASSWORD,
        },
        "query": "SELECT * FROM customers WHERE region = 'eu'",
        "snapshot": "data/snapshot.csv",
    }
    document = make_document(nodes, chain(*(n["id"] for n in nodes)), data_sources=[source])
    return write_bundle(tmp_path / "bundle", document, base_frame(), name="snapshot.csv")


def test_plan_keeps_no_secret(tmp_path):
    plan = plan_bundle(database_bundle(tmp_path)).plan
    text = plan.to_json()
    assert PASSWORD not in text and USER not in text
    assert plan.source.env_prefix == "DB"
    assert "db.internal" not in text and '"crm"' not in text
    assert {p.name for p in plan.packages} >= {"sqlalchemy", "psycopg2-binary"}


@pytest.mark.slow
def test_project_reads_the_connection_from_the_environment(tmp_path):
    built = build_project(plan_bundle(database_bundle(tmp_path)), RenderOptions())
    for path, data in built.files.items():
        assert PASSWORD.encode() not in data, path
        assert USER.encode() not in data, path
    env_example = built.files[".env.example"].decode()
    for name in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"):
        assert name in env_example
    password_line = next(
        line for line in env_example.splitlines() if line.startswith("DB_PASSWORD=")
    )
    assert password_line.split("=", 1)[1].strip("'\" ") == ""

    loader = built.files["src/data/data_loader.py"].decode()
    tree = ast.parse(loader)
    queries = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", "") == "QUERY" for t in node.targets)
    ]
    assert [q.value for q in queries] == ["SELECT * FROM customers WHERE region = 'eu'"]

    # The generated loader builds its URL from the environment (no database needed for that).
    project = tmp_path / "project"
    for path, data in built.files.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_bytes(data)
    probe = (
        "from src.data.data_loader import database_url; "
        "print(database_url().render_as_string(hide_password=False))"
    )
    env = {
        "DB_HOST": "h",
        "DB_PORT": "6543",
        "DB_NAME": "n",
        "DB_USER": "u",
        "DB_PASSWORD": "p",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "postgresql+psycopg2://u:p@h:6543/n"
