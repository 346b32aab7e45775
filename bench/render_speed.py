"""Time the render (templates → files, no training) of each bundled example.

The preview the canvas shows first is validate + plan + render; this measures the render part:
the first render in a fresh process, once with an empty compiled-template cache (every template
compiled) and once with the cache the first run filled (``XDG_CACHE_HOME``, a temporary
folder), and the best of a few later renders in one process.

The anchor is cookiecutter-data-science: ``pip install cookiecutter-data-science`` into a
temporary venv, then ``ccds TEMPLATE --no-input`` (a whole CLI run, interpreter start included)
timed in the same run, best of three. TEMPLATE is ``$CCDS_TEMPLATE`` (a local clone of
github.com/drivendataorg/cookiecutter-data-science) or, when unset, that GitHub repository.
When either step fails (no package index, no network) only the absolute figures are printed.
It asserts nothing.

    CCDS_TEMPLATE=/path/to/cookiecutter-data-science python bench/render_speed.py [EXAMPLE ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from importlib import resources
from pathlib import Path

# The measured processes cache bytecode, as a user's Python does (some shells turn it off).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

EXAMPLES = ("telco_churn", "penguins", "diamonds")
REPEATS = 5


def render_times(example: str) -> tuple[float, float, int]:
    """(first render in this process, best later render, files) for one example."""
    from gitexport.load import plan_bundle
    from gitexport.render import Assets, RenderOptions, render_project
    from gitexport.sample import csv_bytes, sample_rows

    bundle = Path(str(resources.files("gitexport").joinpath("examples", example)))
    planned = plan_bundle(bundle)
    assets = Assets(sample_csv=csv_bytes(sample_rows(planned.plan, planned.frame)))
    times = []
    files = {}
    for _ in range(REPEATS + 1):
        t0 = time.perf_counter()
        files = render_project(planned.plan, RenderOptions(), assets)
        times.append(time.perf_counter() - t0)
    return times[0], min(times[1:]), len(files)


def first_render(example: str, cache_home: str) -> float:
    """The first render in a fresh interpreter (what one CLI preview pays), with the compiled
    template cache under *cache_home* (``XDG_CACHE_HOME``)."""
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); "
        "from render_speed import render_times; "
        "print(json.dumps(render_times(sys.argv[2])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), example],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "XDG_CACHE_HOME": cache_home},
    ).stdout
    return json.loads(out.strip().splitlines()[-1])[0]


def ccds_render_time() -> float | None:
    """Seconds cookiecutter-data-science takes to render its template, or None if unavailable."""
    with tempfile.TemporaryDirectory() as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "cookiecutter-data-science"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if install.returncode != 0:
            return None
        ccds = env_dir / "bin" / "ccds"
        template = os.environ.get(
            "CCDS_TEMPLATE", "https://github.com/drivendataorg/cookiecutter-data-science"
        )
        out = Path(tmp) / "out"
        out.mkdir()
        best = None
        for _ in range(3):
            target = tempfile.mkdtemp(dir=out)
            t0 = time.perf_counter()
            run = subprocess.run(
                [str(ccds), template, "--no-input", "-o", target],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}"},
            )
            elapsed = time.perf_counter() - t0
            if run.returncode != 0:
                return None
            best = elapsed if best is None else min(best, elapsed)
        return best


def main(argv: list[str]) -> int:
    examples = argv or list(EXAMPLES)
    ccds = ccds_render_time()
    if ccds is None:
        print("cookiecutter-data-science could not be installed or run: absolute figures only")
    else:
        print(f"cookiecutter-data-science render (ccds --no-input, best of 3): {ccds:.2f} s")
    header = (
        "example",
        "files",
        "fresh process, no compiled templates",
        "fresh process, compiled templates cached",
        "repeated (best)",
        "ratio to ccds (cold / cached)",
    )
    print(" | ".join(header))
    for example in examples:
        with tempfile.TemporaryDirectory() as cache_home:
            cold = first_render(example, cache_home)  # compiles and fills the cache
            cached = first_render(example, cache_home)
        _, warm, n_files = render_times(example)
        ratio = f"{cold / ccds:.2f}x / {cached / ccds:.2f}x" if ccds else "n/a"
        print(f"{example} | {n_files} | {cold:.2f} s | {cached:.2f} s | {warm:.2f} s | {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
