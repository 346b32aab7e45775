"""The HTTP API of ``gitexport-service/1`` (``../shared/canvas/SERVICE.md``) on FastAPI.

Every ``/v1/`` route needs ``Authorization: Bearer <service key>`` (checked against the hashes
in the :class:`~gitexport.service.auth.KeyRing`) and ``X-Canvas-User``; a job belongs to its
user and is a 404 to anyone else. The forge token arrives in ``X-Forge-Token`` and goes
straight into the vault: it is read from the headers by hand (never a declared parameter, so
no validation error can echo it), encrypted, and only the ciphertext reaches the store.

The API process never runs an export: it checks the upload, stores the job and enqueues its id.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import tempfile
import uuid
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from gitexport import api
from gitexport.errors import DocumentError, GitexportError
from gitexport.service import bundles, page
from gitexport.service.auth import (
    KeyRing,
    bearer_key,
    page_signing_keys,
    verify_page_signature,
)
from gitexport.service.config import Settings
from gitexport.service.queue import JobQueue
from gitexport.service.store import STATES, IdempotencyConflict, JobStore
from gitexport.service.uploads import UploadTooLarge, extract_bundle
from gitexport.service.vault import TokenVault
from gitexport.service.views import job_object
from gitexport.service.worker import cached_workdir, repo_key

_log = logging.getLogger("gitexport.service.api")

CLOSING_EVENTS = ("result", "error")
POLL_SECONDS = 0.2
MAX_LIST_LIMIT = 100


class ExportRequest(BaseModel):
    """The ``request`` part of an upload."""

    model_config = ConfigDict(extra="forbid")

    target: api.Target | None = None
    options: api.ExportOptions = api.ExportOptions()

    @field_validator("target")
    @classmethod
    def _no_server_side_credentials(cls, target: api.Target | None) -> api.Target | None:
        # A GitHub App's private key is a file on the *service's* machine: a caller must not
        # make the service read one (the user's token travels in X-Forge-Token instead).
        if target is not None and (target.app_id or target.private_key or target.installation_id):
            raise ValueError(
                "app_id, private_key and installation_id are not accepted by the service; "
                "send the user's token in X-Forge-Token"
            )
        return target


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, problems: list | None = None):
        self.status, self.code, self.message, self.problems = status, code, message, problems or []


def create_app(settings: Settings, store: JobStore, queue: JobQueue) -> FastAPI:
    keyring = KeyRing.from_keys(settings.service_keys)
    vault = TokenVault(settings.secret_keys)
    page_keys = page_signing_keys(settings.secret_keys)
    uploads_dir = Path(settings.state_dir) / "uploads"
    app = FastAPI(title="gitexport-service/1", docs_url=None, redoc_url=None, openapi_url=None)

    # -- plumbing ------------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message, "problems": exc.problems}},
            status_code=exc.status,
            headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None,
        )

    def caller(request: Request) -> str:
        """The canvas user, once the service key is good; 401 tells nothing more."""
        if not keyring.verify(bearer_key(request.headers.get("authorization"))):
            raise ApiError(401, "unauthorized", "unauthorized")
        user = (request.headers.get("x-canvas-user") or "").strip()
        if not user or len(user) > 255:
            raise ApiError(400, "bad_request", "the X-Canvas-User header is required")
        return user

    def base_url(request: Request) -> str:
        return settings.public_url or str(request.base_url)

    def view(request: Request, job: dict) -> dict:
        return job_object(
            job,
            base_url=base_url(request),
            secret_keys=settings.secret_keys,
            page_ttl=settings.page_link_ttl_seconds,
        )

    def own_job(job_id: str, user: str) -> dict:
        job = store.get(job_id)
        if job is None or job["user_id"] != user:
            raise ApiError(404, "not_found", "no such export")
        return job

    async def read_upload(request: Request, work: Path) -> tuple[Path, ExportRequest, str, str]:
        """Check the multipart upload: (bundle root, request, request JSON, body hash)."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_upload_bytes + 1024 * 1024:
            raise ApiError(413, "invalid_document", "the upload is larger than the limit")
        try:
            form = await request.form(max_files=2, max_fields=4)
        except Exception as exc:  # noqa: BLE001 - starlette's parser errors
            raise ApiError(
                400, "bad_request", f"not a multipart upload: {type(exc).__name__}"
            ) from None
        try:
            upload, raw_request = form.get("bundle"), form.get("request")
            if upload is None or isinstance(upload, str):
                raise ApiError(422, "invalid_document", "the upload has no `bundle` file part")
            if raw_request is None:
                text = "{}"
            elif isinstance(raw_request, str):
                text = raw_request
            else:
                text = (await raw_request.read()).decode("utf-8", "replace")
            try:
                parsed = ExportRequest.model_validate_json(text)
            except ValidationError as exc:
                problems = [
                    {
                        "where": "request." + ".".join(str(p) for p in e["loc"]),
                        "message": e["msg"],
                    }
                    for e in exc.errors(include_input=False, include_url=False)
                ]
                raise ApiError(
                    422, "invalid_document", "the `request` part is not valid", problems
                ) from None
            upload.file.seek(0)
            try:
                root = await run_in_threadpool(
                    extract_bundle, upload.file, work / "bundle", settings.upload_limits
                )
                root = bundles.bundle_root(root)
            except UploadTooLarge as exc:
                raise ApiError(413, exc.code, exc.message, exc.to_dict()["problems"]) from None
            except DocumentError as exc:
                d = exc.to_dict()
                raise ApiError(422, d["code"], str(exc), d["problems"]) from None
            # The body for Idempotency-Key: the bundle's content and the request, not the archive's
            # bytes (two archives of one folder differ in timestamps).
            body = hashlib.sha256(
                (await run_in_threadpool(bundles.digest, root)).encode()
                + json.dumps(parsed.model_dump(mode="json"), sort_keys=True).encode()
            ).hexdigest()
        finally:
            await form.close()  # the spooled upload's temporary file
        return root, parsed, text, body

    def new_work_dir() -> Path:
        uploads_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="up-", dir=uploads_dir))

    # -- routes --------------------------------------------------------------------------

    @app.get("/v1/health")
    async def health():
        return {"status": "ok"}

    @app.get("/v1/ready")
    async def ready():
        checks = {}
        for name, probe in (("store", store.ping), ("queue", queue.ping)):
            try:
                await run_in_threadpool(probe)
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001
                checks[name] = f"unreachable ({type(exc).__name__})"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, 200 if ok else 503)

    @app.post("/v1/previews")
    async def previews(request: Request):
        caller(request)
        work = new_work_dir()
        try:
            root, parsed, _, _ = await read_upload(request, work)
            provider = parsed.target.provider if parsed.target else None
            repo_dir = cached_workdir(settings.state_dir, repo_key(parsed.target), store)
            try:
                preview = await run_in_threadpool(
                    api.preview,
                    root,
                    repo_dir=repo_dir,
                    options=parsed.options,
                    target_provider=provider,
                )
            except GitexportError as exc:
                d = exc.to_dict()
                raise ApiError(422, d["code"], d["message"], d["problems"]) from None
            return preview.to_dict()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    @app.post("/v1/exports", status_code=202)
    async def create_export(request: Request):
        user = caller(request)
        token = request.headers.get("x-forge-token") or None
        key = (request.headers.get("idempotency-key") or "").strip() or None
        if key is not None and len(key) > 255:
            raise ApiError(400, "bad_request", "Idempotency-Key is longer than 255 characters")
        work = new_work_dir()
        try:
            root, parsed, _, body_hash = await read_upload(request, work)
            if store.count_queued(user) >= settings.max_queued_per_user:
                raise ApiError(
                    429,
                    "too_many_jobs",
                    f"{settings.max_queued_per_user} exports are already queued for this user",
                )
            packed = await run_in_threadpool(bundles.pack, root)
            # Only the ciphertext goes further; the clear token is dropped here.
            sealed = vault.encrypt(token).encode("ascii") if token else None
            del token
            job_id = uuid.uuid4().hex
            try:
                job, created = await run_in_threadpool(
                    lambda: store.create_job(
                        job_id=job_id,
                        user=user,
                        request=parsed.model_dump(mode="json"),
                        pipeline=_pipeline_ref(root),
                        repo_key=repo_key(parsed.target),
                        token=sealed,
                        bundle=packed,
                        idempotency_key=key,
                        body_hash=body_hash,
                    )
                )
            except IdempotencyConflict:
                raise ApiError(
                    422,
                    "idempotency_conflict",
                    "this Idempotency-Key was used with a different request in the last 24 h",
                ) from None
            if created:
                queue.enqueue(job["id"])
            headers = {"Location": f"/v1/exports/{job['id']}"}
            if not created:
                headers["Idempotent-Replayed"] = "true"
            return JSONResponse(view(request, job), status_code=202, headers=headers)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    @app.get("/v1/exports")
    def list_exports(
        request: Request, state: str | None = None, limit: int = 20, cursor: str | None = None
    ):
        user = caller(request)
        if state is not None and state not in STATES:
            raise ApiError(400, "bad_request", f"state must be one of {', '.join(STATES)}")
        limit = max(1, min(limit, MAX_LIST_LIMIT))
        try:
            items, next_cursor = store.list_jobs(user, state=state, limit=limit, cursor=cursor)
        except ValueError:
            raise ApiError(400, "bad_request", "invalid cursor") from None
        return {"items": [view(request, j) for j in items], "next_cursor": next_cursor}

    @app.get("/v1/exports/{job_id}")
    def get_export(request: Request, job_id: str):
        return view(request, own_job(job_id, caller(request)))

    @app.post("/v1/exports/{job_id}/cancel", status_code=202)
    def cancel_export(request: Request, job_id: str):
        job = own_job(job_id, caller(request))
        if job["state"] in ("queued", "running"):
            # The flag first: a worker that claims the job meanwhile stops at its first step.
            store.request_cancel(job_id)
            # Nobody runs it yet: it ends here (only if still queued; a worker that dequeues
            # it later skips it).
            store.finish(
                job_id,
                "cancelled",
                error={
                    "code": "cancelled",
                    "message": "cancelled before it started",
                    "problems": [],
                },
                expect_state="queued",
            )
        return JSONResponse(view(request, store.get(job_id)), status_code=202)

    @app.get("/v1/exports/{job_id}/archive")
    def get_archive(request: Request, job_id: str):
        job = own_job(job_id, caller(request))
        data = store.archive(job_id) if job["state"] == "succeeded" else None
        if data is None:
            raise ApiError(404, "not_found", "this export has no archive (not finished, or failed)")
        name = (job["pipeline"] or {}).get("name") or job_id
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(name))
        return Response(
            data,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{safe}.zip"'},
        )

    @app.get("/v1/exports/{job_id}/events")
    async def export_events(request: Request, job_id: str, after: int | None = None):
        own_job(job_id, caller(request))
        start = _resume_point(request, after)
        return EventSourceResponse(_stream(request, job_id, start, wrap=False), ping=15)

    # -- the human page (signed link, no key) --------------------------------------------

    def signed_job(job_id: str, request: Request) -> dict:
        q = request.query_params
        if not verify_page_signature(job_id, q.get("expires"), q.get("sig"), page_keys):
            raise ApiError(403, "forbidden", "this link is invalid or has expired")
        job = store.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", "no such export")
        return job

    @app.get("/exports/{job_id}", response_class=HTMLResponse)
    async def human_page(request: Request, job_id: str):
        job = signed_job(job_id, request)
        q = request.query_params
        events_url = f"/exports/{job_id}/events?expires={q['expires']}&sig={q['sig']}"
        nonce = uuid.uuid4().hex
        html = page.render(view(request, job), events_url, nonce)
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": (
                    f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                    "frame-ancestors 'none'"
                ),
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )

    @app.get("/exports/{job_id}/events")
    async def human_page_events(request: Request, job_id: str, after: int | None = None):
        signed_job(job_id, request)
        start = _resume_point(request, after)
        return EventSourceResponse(_stream(request, job_id, start, wrap=True), ping=15)

    async def _stream(request: Request, job_id: str, after: int, *, wrap: bool):
        """Every event after *after*, in order, once; ends after ``result``/``error``."""
        idle = 0
        while True:
            batch = await run_in_threadpool(store.events_after, job_id, after)
            for event in batch:
                after = event.seq
                data = {"at": event.created_at, "data": event.data} if wrap else event.data
                yield {"id": str(event.seq), "event": event.type, "data": json.dumps(data)}
                if event.type in CLOSING_EVENTS:
                    return
            if not batch:
                if await request.is_disconnected():
                    return
                idle += 1
                if idle % 50 == 0 and await run_in_threadpool(store.get, job_id) is None:
                    return  # the job expired while someone was watching
                await asyncio.sleep(POLL_SECONDS)
            else:
                idle = 0

    return app


def _resume_point(request: Request, after: int | None) -> int:
    last = request.headers.get("last-event-id")
    if last is not None and last.strip().isdigit():
        return int(last.strip())
    if after is not None:
        if after < 0:
            raise ApiError(400, "bad_request", "after must be 0 or more")
        return after
    return 0


def _pipeline_ref(root: Path) -> dict | None:
    """The job's ``pipeline`` as the document names it (a broken document fails its job)."""
    try:
        doc = json.loads((root / "pipeline.json").read_text(encoding="utf-8"))
        meta = doc.get("pipeline", {})
        return {"id": meta.get("id"), "name": meta.get("name"), "version": meta.get("version")}
    except (OSError, ValueError, AttributeError):
        return None
