"""A built project as a git export: the commit request (files, LFS paths, message, trailers).

The local repository side (:func:`gitexport.git.export_to_repo`) takes the
:class:`~gitexport.git.ExportRequest` made here; release-asset artifacts are placed beside
the commit, in git-ignored paths.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from gitexport import git
from gitexport.build import BuiltProject
from gitexport.lineage import Lineage
from gitexport.render import executable_paths
from gitexport.tree import entries_of, write_file


def lfs_paths(files: dict[str, bytes]) -> frozenset[str]:
    """The files .gitattributes sends through Git LFS."""
    patterns = [
        line.split()[0]
        for line in files.get(".gitattributes", b"").decode().splitlines()
        if "filter=lfs" in line and not line.startswith("#")
    ]
    return frozenset(p for p in files for pattern in patterns if fnmatch.fnmatchcase(p, pattern))


def trailers(built: BuiltProject) -> tuple[tuple[str, str], ...]:
    """The lineage trailers of *built*'s export commit (:mod:`gitexport.lineage`)."""
    pairs = Lineage.from_facts(built.lineage).trailers()
    if built.parity is not None:  # exact / within_tolerance / failed (gitexport.parity)
        pairs += (("Parity", built.parity.trailer()),)
    return pairs


def commit_body(built: BuiltProject) -> str:
    plan = built.plan
    lines = [
        f"Exported by gitexport from canvas pipeline {plan.pipeline.name!r} version "
        f"{plan.pipeline.version}: {plan.model.estimator.name} ({plan.problem_type} of "
        f"{plan.target!r}) after {len(plan.steps)} pipeline steps.",
    ]
    if built.parity is not None:
        lines.append(f"Parity: {built.parity.describe()}.")
    test = {k: v for k, v in (built.metrics.get("test") or {}).items() if not isinstance(v, list)}
    if test:
        lines.append("Test metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()) + ".")
    return "\n".join(lines)


def export_request(built: BuiltProject) -> git.ExportRequest:
    plan = built.plan
    return git.ExportRequest(
        files=built.files,
        executable=frozenset(executable_paths(built.files)),
        lfs_paths=lfs_paths(built.files),
        pipeline_id=plan.pipeline.id,
        subject=f"Export {plan.pipeline.name} v{plan.pipeline.version} from the canvas",
        body=commit_body(built),
        trailers=trailers(built),
    )


def place_release_files(repo_dir: Path, built: BuiltProject) -> list[Path]:
    """Put release-asset artifacts (the model) into the working tree, where git ignores them.

    With ``--artifacts release`` the model is not committed; the local project still needs it
    to serve and test, and ``push`` uploads it from there. Returns the paths written (a
    model kept on disk is linked or copied in chunks, never read whole).
    """
    paths = []
    for rel, data in sorted(entries_of(built.release_files)):
        path = Path(repo_dir) / rel
        write_file(path, data)
        paths.append(path)
    return paths
