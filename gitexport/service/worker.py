"""Running one job: lease, claim, decrypt, export through :mod:`gitexport.api`, record.

A :class:`Worker` is what huey's consumer threads call with a job id. It:

1. takes the target repository's lease in the store (one running job per repository across
   every worker); held by another live job → the message is put back with a delay;
2. claims the job (compare-and-swap queued → running), so a repeated message is harmless;
3. decrypts the forge token (held only in this call's memory), unpacks the checked bundle,
   and runs ``api.push`` (or ``api.build`` + ``api.archive`` without a target) with a progress
   callback writing ``phase``/``log`` events and a cancel check reading the store;
4. writes ``result`` or ``error`` and the terminal ``state``, which also erases the token.

A heartbeat thread renews the job's heartbeat and the lease while it runs. The maintenance
thread of every worker process re-queues jobs whose worker stopped beating (the re-run converges:
``api.push`` is idempotent, and a re-run never trusts the working copy the dead run left) and
deletes finished jobs past their TTL.

Working copies are cached per repository under ``<state>/workdirs/``; a cache is used only when
it produced the commit the store says the last successful job left on the remote — anything
else (another worker pushed since, a run died in it, a failure) deletes it, and ``api.push``
seeds a fresh one from the remote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from gitexport import api
from gitexport.errors import Cancelled, GitexportError, error_dict
from gitexport.git_remote import redact
from gitexport.service import bundles
from gitexport.service.store import TERMINAL, JobStore
from gitexport.service.vault import TokenVault

_log = logging.getLogger("gitexport.service.worker")

LEASE_RETRY_SECONDS = 1.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        store: JobStore,
        vault: TokenVault,
        state_dir: Path,
        *,
        enqueue: Callable[[str, float], None],
        heartbeat_seconds: float = 10,
        lease_seconds: float = 60,
        job_ttl_seconds: float = 7 * 24 * 3600,
        name: str | None = None,
    ):
        self.store = store
        self.vault = vault
        self.state_dir = Path(state_dir)
        self.enqueue = enqueue
        self.heartbeat_seconds = heartbeat_seconds
        self.lease_seconds = lease_seconds
        self.job_ttl_seconds = job_ttl_seconds
        self.name = name or worker_name()
        self._stop = threading.Event()

    # -- one job -------------------------------------------------------------------------

    def run_job(self, job_id: str) -> None:
        try:
            self._run_job(job_id)
        except Exception as exc:  # noqa: BLE001 - the consumer must keep running
            _log.error("job %s: worker error %s", job_id, type(exc).__name__)

    def _run_job(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or job["state"] in TERMINAL:
            return
        if job["state"] == "queued" and job["cancel_requested"]:
            self.store.finish(
                job_id, "cancelled", error=Cancelled("cancelled before it started").to_dict()
            )
            return
        repo_key = job["repo_key"]
        if repo_key and not self.store.acquire_lease(
            repo_key, job_id, self.name, self.lease_seconds
        ):
            # Another job of this repository runs: try again shortly (jittered, so waiting
            # jobs do not all knock at once).
            self.enqueue(job_id, LEASE_RETRY_SECONDS * (0.5 + random.random()))
            return
        if not self.store.claim(job_id, self.name, self.lease_seconds):
            if repo_key:
                self.store.release_lease(repo_key, job_id)
            return
        job = self.store.get(job_id)
        _log.info("job %s: running on %s (attempt %s)", job_id, self.name, job["attempts"])
        lost = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job_id, repo_key, lost), daemon=True)
        beat.start()
        last_commit = None
        try:
            last_commit = self._execute(job, lost)
        finally:
            lost.set()  # stops the heartbeat thread
            beat.join()
            if repo_key:
                self.store.release_lease(repo_key, job_id, last_commit)

    def _execute(self, job: dict, lost: threading.Event) -> str | None:
        job_id = job["id"]
        request = job["request"]
        token_ct, bundle = self.store.secrets(job_id)
        work = Path(tempfile.mkdtemp(prefix=f"job-{job_id}-", dir=self._tmp_dir()))
        workdir = None
        token: str | None = None
        try:
            token = self.vault.decrypt(token_ct.decode("ascii")) if token_ct else None
            if bundle is None:
                raise GitexportError("the job's bundle is gone")
            root = bundles.bundle_root(bundles.unpack(bundle, work / "bundle"))
            options = api.ExportOptions(**request.get("options", {}))

            def progress(phase: str, fraction: float, message: str) -> None:
                text = redact(message, token) if message else ""
                self.store.record_phase(job_id, phase, fraction, text)

            def cancel() -> bool:
                return lost.is_set() or self.store.cancel_requested(job_id)

            if request.get("target"):
                target = api.Target(**request["target"])
                workdir = self._workdir(job["repo_key"], job["attempts"])
                unchanged = self._unchanged(job["repo_key"], workdir, root, options, target, token)
                if unchanged is not None:
                    progress("validate", 0.0, "the pipeline is unchanged since the last export")
                    self.store.finish(
                        job_id,
                        "succeeded",
                        result=unchanged,
                        archive=api.archive(workdir),
                        worker=self.name,
                    )
                    _log.info("job %s: succeeded (up to date, from the trusted cache)", job_id)
                    return unchanged.get("commit")
                pushed = api.push(
                    root,
                    target,
                    options,
                    token=token,
                    workdir=workdir,
                    progress=progress,
                    cancel=cancel,
                )
                archive = api.archive(Path(pushed.workdir))
                result = pushed.to_dict()
                result.pop("workdir", None)  # a path on the worker: nothing for the canvas
                commit = pushed.commit
            else:
                # The build's model folder goes as soon as the ZIP holds the model.
                with api.build(root, options, progress=progress, cancel=cancel) as built:
                    archive = api.archive(built)
                    result = _build_result(built)
                commit = None
            if lost.is_set():
                return None  # the sweeper gave the job to another worker; it answers
            self.store.finish(job_id, "succeeded", result=result, archive=archive, worker=self.name)
            if workdir is not None and commit:
                _marker(workdir).write_text(commit)
            _log.info("job %s: succeeded (%s)", job_id, result.get("status", "built"))
            return commit
        except Exception as exc:  # noqa: BLE001 - every failure becomes the job's error
            if workdir is not None:
                _drop(workdir)
            if lost.is_set():
                return None
            error = error_dict(exc)
            # The token by value too: a forge may quote what it was sent.
            error["message"] = redact(error.get("message", ""), token)
            error["problems"] = [
                {**p, "message": redact(p.get("message", ""), token)}
                for p in error.get("problems", [])
            ]
            state = "cancelled" if isinstance(exc, Cancelled) else "failed"
            self.store.finish(job_id, state, error=error, worker=self.name)
            _log.info("job %s: %s (%s)", job_id, state, error["code"])
            if not isinstance(exc, GitexportError):
                _log.error("job %s: unexpected %s", job_id, type(exc).__name__)
            return None
        finally:
            token = None  # noqa: F841 - dropped as soon as the job is over
            shutil.rmtree(work, ignore_errors=True)

    def _heartbeat(self, job_id: str, repo_key: str | None, lost: threading.Event) -> None:
        while not lost.wait(self.heartbeat_seconds):
            try:
                ours, _ = self.store.heartbeat(job_id, self.name)
                if repo_key:
                    ours = self.store.renew_lease(repo_key, job_id, self.lease_seconds) and ours
            except Exception as exc:  # noqa: BLE001 - a store hiccup: try again next beat
                _log.warning("job %s: heartbeat failed (%s)", job_id, type(exc).__name__)
                continue
            if not ours:
                _log.warning("job %s: taken over by another worker; stopping", job_id)
                lost.set()

    # -- working copies ------------------------------------------------------------------

    def _tmp_dir(self) -> Path:
        path = self.state_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _workdir(self, repo_key: str, attempt: int) -> Path:
        """The repository's cached working copy, or a path to seed one at."""
        workdir = workdir_path(self.state_dir, repo_key)
        workdir.parent.mkdir(parents=True, exist_ok=True)
        if workdir.exists():
            marker = _marker(workdir)
            made = marker.read_text().strip() if marker.exists() else None
            if attempt > 1 or made is None or made != self.store.last_commit(repo_key):
                _drop(workdir)
        return workdir

    def _unchanged(
        self, repo_key, workdir: Path, root: Path, options, target, token
    ) -> dict | None:
        """The answer to an unchanged re-export, without building: when the trusted working
        copy's newest export has this bundle's export id (the library's digests of document,
        data, templates and options), the store holds the result that left it, and the
        remote still has it (its refs, and its pull request open: one closed or merged by
        hand since makes the full push reconcile)."""
        if not (workdir / ".git").exists():
            return None  # not trusted (``_workdir`` deleted it) or never seeded
        from gitexport import git
        from gitexport.identity import document_identity

        try:
            document, export_id = document_identity(root, options, target.provider)
        except GitexportError:
            return None  # a broken document: the full path reports its problems
        record = git.last_export(workdir)
        previous = self.store.last_result(repo_key)
        if record is None or not record.lineage or previous is None:
            return None
        try:
            recorded = json.loads(record.lineage).get("export_id")
        except (ValueError, AttributeError):
            return None
        if recorded != export_id or previous.get("commit") != self.store.last_commit(repo_key):
            return None
        from gitexport.publish import unchanged_on_remote

        if unchanged_on_remote(target, token, workdir, document, options.artifacts) is None:
            return None
        pull_request = dict(previous.get("pull_request") or {}, action="none")
        return {
            **previous,
            "status": "up_to_date",
            "up_to_date": True,
            "repo_created": False,
            "pull_request": pull_request,
            "artifacts": previous.get("artifacts", []),
        }

    # -- maintenance ---------------------------------------------------------------------

    def maintain_forever(self) -> None:
        """Sweep dead workers' jobs every heartbeat; expire old jobs every minute."""
        last_expiry = 0.0
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.sweep()
                if time.time() - last_expiry > 60:
                    last_expiry = time.time()
                    self.expire()
            except Exception as exc:  # noqa: BLE001 - the store may be restarting
                _log.warning("maintenance failed (%s)", type(exc).__name__)

    def start_maintenance(self) -> threading.Thread:
        thread = threading.Thread(
            target=self.maintain_forever, name="gitexport-maintenance", daemon=True
        )
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def sweep(self) -> list[str]:
        requeued = []
        for job_id in self.store.stale_running(self.lease_seconds):
            if self.store.requeue(job_id, "the worker running this job stopped; running it again"):
                self.enqueue(job_id, 0)
                requeued.append(job_id)
                _log.warning("job %s: re-queued (its worker stopped beating)", job_id)
        return requeued

    def expire(self) -> list[str]:
        """Finished jobs past their TTL (with their ZIPs, in the store), and working copies no
        job used for as long: the state folder does not grow without bound."""
        expired = self.store.expire(self.job_ttl_seconds)
        limit = time.time() - self.job_ttl_seconds
        for marker in (self.state_dir / "workdirs").glob("*/last_commit"):
            index = marker.parent / "repo" / ".git" / "index"  # touched by a running job
            used = max(marker.stat().st_mtime, index.stat().st_mtime if index.exists() else 0)
            if used < limit:
                _drop(marker.parent / "repo")
        for tmp in (self.state_dir / "tmp").glob("job-*"):
            if tmp.stat().st_mtime < limit:  # left by a killed worker
                shutil.rmtree(tmp, ignore_errors=True)
        return expired


def repo_key(target) -> str | None:
    """What the repository lease is named by: provider, forge and repository."""
    if target is None:
        return None
    repo = target.repo
    if target.provider == "local":
        repo = str(Path(repo).expanduser().resolve())
    elif target.provider == "github":
        repo = repo.lower()  # GitHub names are case-insensitive
    return f"{target.provider}|{target.base_url or ''}|{repo}"


def workdir_path(state_dir: Path, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return Path(state_dir) / "workdirs" / digest / "repo"


def cached_workdir(state_dir: Path, key: str | None, store: JobStore) -> Path | None:
    """A trusted cached working copy of the repository (for previews), or None."""
    if key is None:
        return None
    workdir = workdir_path(state_dir, key)
    marker = _marker(workdir)
    if not workdir.exists() or not marker.exists():
        return None
    return workdir if marker.read_text().strip() == store.last_commit(key) else None


def _marker(workdir: Path) -> Path:
    return workdir.parent / "last_commit"


def _drop(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    _marker(workdir).unlink(missing_ok=True)


def _build_result(built) -> dict:
    """A build-only job's ``result``: the ZIP is the product, nothing was pushed. The api's
    build result, with the push fields the canvas reads present and empty."""
    return {
        "repo_url": None,
        "branch": None,
        "commit": None,
        "pull_request": None,
        "up_to_date": False,
        "artifacts": [],
        **api.build_result(built).to_dict(),
    }
