"""Compiled templates are kept between processes (gitexport.render.compiled_template_cache):
a fresh process's first render compiles nothing the previous one compiled, renders the same
bytes, and a cache folder anyone else could write to is never used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Renders penguins in a fresh interpreter; prints how many templates Jinja compiled and a
# digest of the rendered tree.
RENDER = """
import hashlib, json, jinja2
from gitexport import api
from gitexport.load import plan_bundle
from gitexport.render import Assets, RenderOptions, render_project

compiled = []
original = jinja2.Environment.compile
def compile(self, source, name=None, *args, **kwargs):
    compiled.append(name)
    return original(self, source, name, *args, **kwargs)
jinja2.Environment.compile = compile

plan = plan_bundle(api.example("penguins")).plan
files = render_project(plan, RenderOptions(), Assets(sample_csv=b"a\\n1\\n"))
digest = hashlib.sha256()
for path in sorted(files):
    digest.update(path.encode() + b"\\0" + bytes(files[path]) + b"\\0")
print(json.dumps({"compiled": len(compiled), "tree": digest.hexdigest()}))
"""


def render_in_fresh_process(cache_home: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    out = subprocess.run(
        [sys.executable, "-c", RENDER], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cache_files(cache_home: Path) -> list[Path]:
    return sorted(p for p in (cache_home / "gitexport").rglob("*") if p.is_file())


def test_a_second_process_compiles_no_template_and_renders_the_same_bytes(tmp_path):
    first = render_in_fresh_process(tmp_path)
    assert first["compiled"] > 20  # a cold cache: every template the project uses
    files = cache_files(tmp_path)
    assert len(files) == first["compiled"]
    [folder] = {f.parent for f in files}
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)

    second = render_in_fresh_process(tmp_path)
    assert second == {"compiled": 0, "tree": first["tree"]}


def test_an_edited_template_is_compiled_again_not_served_stale(tmp_path):
    first = render_in_fresh_process(tmp_path)
    # Two entries swapped: each now holds the code of another source, as after an upgrade
    # that edited a template. Jinja compares the source's checksum and compiles both anew.
    a, b = cache_files(tmp_path)[:2]
    code_a, code_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(code_b)
    b.write_bytes(code_a)
    assert render_in_fresh_process(tmp_path) == {"compiled": 2, "tree": first["tree"]}


def test_a_cache_folder_others_can_write_to_is_not_used(tmp_path, monkeypatch):
    from gitexport.render import compiled_template_cache

    shared = tmp_path / "gitexport"
    shared.mkdir()
    render_in_fresh_process(tmp_path)  # creates gitexport/templates-<syntax>, mode 0700
    [folder] = [p for p in shared.iterdir() if p.name.startswith("templates-")]
    for f in folder.iterdir():
        f.unlink()
    folder.chmod(0o777)  # someone else could plant compiled code here
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compiled_template_cache() is None
    result = render_in_fresh_process(tmp_path)
    assert result["compiled"] > 20 and list(folder.iterdir()) == []

    # A file where the folder should be: no cache either, and the render still works.
    folder.rmdir()
    folder.write_text("not a folder")
    assert render_in_fresh_process(tmp_path)["compiled"] > 20
