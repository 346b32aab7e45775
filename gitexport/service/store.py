"""The job store: jobs, their events and the per-repository leases, on SQLAlchemy 2.

Embedded, it is one SQLite file in the state folder; scaled out, a PostgreSQL server named by
``GITEXPORT_DATABASE_URL``. The schema belongs to the alembic migrations in
:mod:`gitexport.service.migrations`, run by :meth:`JobStore.migrate` when a process starts.

Everything a worker or the API needs to agree on lives here and nowhere else (not in a process):

* a job row carries the request, the forge token *encrypted* (see :mod:`.vault`; the store
  never sees it in clear), the uploaded bundle and, at the end, the result or error and the
  project ZIP, so any API process on any machine can answer for any job;
* events are numbered per job from the job row's ``event_seq`` counter, bumped in the same
  transaction that inserts the event, so ``seq`` is strictly increasing without gaps;
* a repository lease is a row taken with a compare-and-swap ``UPDATE … WHERE expired or
  mine`` (or an ``INSERT`` for a repository never seen), renewed by heartbeats: one running
  job per target repository across every worker, surviving nothing but its expiry.

Times are seconds since the epoch (floats), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

TERMINAL = ("succeeded", "failed", "cancelled")
STATES = ("queued", "running", *TERMINAL)
IDEMPOTENCY_SECONDS = 24 * 3600

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("phase", sa.String(32)),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("pipeline", sa.JSON),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("repo_key", sa.String(1024)),
    sa.Column("token", sa.LargeBinary),
    sa.Column("bundle", sa.LargeBinary),
    sa.Column("archive", sa.LargeBinary),
    sa.Column("idempotency_key", sa.String(255)),
    sa.Column("body_hash", sa.String(64)),
    sa.Column("result", sa.JSON),
    sa.Column("error", sa.JSON),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("worker", sa.String(255)),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("event_seq", sa.Integer, nullable=False, default=0),
    sa.Index("ix_jobs_user_created", "user_id", "created_at"),
    sa.Index("ix_jobs_state", "state"),
    # Two identical requests at once: only one gets the key (see create_job).
    sa.Index("ux_jobs_user_idempotency", "user_id", "idempotency_key", unique=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(40), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("job_id", "seq", name="ux_events_job_seq"),
)

repo_leases = sa.Table(
    "repo_leases",
    metadata,
    sa.Column("repo_key", sa.String(1024), primary_key=True),
    sa.Column("job_id", sa.String(40)),
    sa.Column("worker", sa.String(255)),
    sa.Column("expires_at", sa.Float, nullable=False),
    # The commit the last successful job left on the remote: a worker's cached working copy
    # that did not produce it is stale (another worker pushed since) and is re-seeded.
    sa.Column("last_commit", sa.String(64)),
)

_PUBLIC = [c for c in jobs.c if c.name not in ("token", "bundle", "archive")]


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    data: dict
    created_at: float


class IdempotencyConflict(Exception):
    """The same Idempotency-Key was used within 24 h with a different request body."""


def engine_url(database_url: str | None, state_dir: Path) -> str:
    """The SQLAlchemy URL: embedded SQLite by default; psycopg 3 for ``postgresql://``."""
    if not database_url:
        return f"sqlite:///{Path(state_dir) / 'jobs.sqlite3'}"
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers (the API's event streams) never block the workers' writes.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class JobStore:
    def __init__(self, database_url: str | None, state_dir: Path):
        self.state_dir = Path(state_dir)
        self.url = engine_url(database_url, self.state_dir)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(
                self.url, connect_args={"timeout": 30, "check_same_thread": False}
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=10)

    # -- schema --------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest migration (concurrent starters wait in turn)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self._migration_lock() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()

    @contextmanager
    def _migration_lock(self) -> Iterator[sa.Connection]:
        if self.is_sqlite:
            lock = self.state_dir / "migrate.lock"
            with lock.open("a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                with self.engine.connect() as conn:
                    yield conn
            return
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(7412093)"))
            conn.commit()
            try:
                yield conn
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(7412093)"))
                conn.commit()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    # -- jobs ----------------------------------------------------------------------------

    def create_job(
        self,
        *,
        job_id: str,
        user: str,
        request: dict,
        pipeline: dict,
        repo_key: str | None,
        token: bytes | None,
        bundle: bytes,
        idempotency_key: str | None,
        body_hash: str,
    ) -> tuple[dict, bool]:
        """Insert a queued job; with an Idempotency-Key seen in the last 24 h with the same
        body, return that first job instead (``created`` False)."""
        now = time.time()
        for _ in range(3):
            with self.engine.begin() as conn:
                if idempotency_key:
                    first = conn.execute(
                        sa.select(*_PUBLIC).where(
                            jobs.c.user_id == user, jobs.c.idempotency_key == idempotency_key
                        )
                    ).first()
                    if first is not None:
                        if first.created_at >= now - IDEMPOTENCY_SECONDS:
                            if first.body_hash != body_hash:
                                raise IdempotencyConflict(idempotency_key)
                            return dict(first._mapping), False
                        # Older than 24 h: the key is free again.
                        conn.execute(
                            jobs.update().where(jobs.c.id == first.id).values(idempotency_key=None)
                        )
                try:
                    conn.execute(
                        jobs.insert().values(
                            id=job_id,
                            user_id=user,
                            state="queued",
                            phase=None,
                            progress=0.0,
                            pipeline=pipeline,
                            request=request,
                            repo_key=repo_key,
                            token=token,
                            bundle=bundle,
                            idempotency_key=idempotency_key,
                            body_hash=body_hash,
                            created_at=now,
                            attempts=0,
                            cancel_requested=False,
                            event_seq=0,
                        )
                    )
                    _append(conn, job_id, "state", {"state": "queued"})
                except IntegrityError:
                    # Two identical requests at once: the unique (user, key) index let one
                    # through; the loser answers with the winner's job.
                    conn.rollback()
                    continue
            return self.get(job_id), True
        raise RuntimeError("could not create the job")  # pragma: no cover

    def get(self, job_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*_PUBLIC).where(jobs.c.id == job_id)).first()
        return dict(row._mapping) if row is not None else None

    def secrets(self, job_id: str) -> tuple[bytes | None, bytes | None]:
        """The job's encrypted token and its uploaded bundle (for the worker only)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(jobs.c.token, jobs.c.bundle).where(jobs.c.id == job_id)
            ).first()
        return (row.token, row.bundle) if row is not None else (None, None)

    def archive(self, job_id: str) -> bytes | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(jobs.c.archive).where(jobs.c.id == job_id)
            ).scalar_one_or_none()

    def list_jobs(
        self, user: str, *, state: str | None, limit: int, cursor: str | None
    ) -> tuple[list[dict], str | None]:
        """The user's jobs, newest first; ``cursor`` is the opaque position after a page."""
        query = sa.select(*_PUBLIC).where(jobs.c.user_id == user)
        if state:
            query = query.where(jobs.c.state == state)
        if cursor:
            created, last_id = _decode_cursor(cursor)
            query = query.where(
                sa.or_(
                    jobs.c.created_at < created,
                    sa.and_(jobs.c.created_at == created, jobs.c.id < last_id),
                )
            )
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
        return rows, next_cursor

    def count_queued(self, user: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(jobs)
                .where(jobs.c.user_id == user, jobs.c.state == "queued")
            ).scalar_one()

    def jobs_in(self, states: tuple[str, ...]) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(sa.select(jobs.c.id).where(jobs.c.state.in_(states))).scalars()
            )

    # -- running a job -------------------------------------------------------------------

    def claim(self, job_id: str, worker: str, lease_seconds: float) -> bool:
        """Compare-and-swap: queued (or running with a dead worker) → running on *worker*."""
        now = time.time()
        with self.engine.begin() as conn:
            claimed = conn.execute(
                jobs.update()
                .where(
                    jobs.c.id == job_id,
                    sa.or_(
                        jobs.c.state == "queued",
                        sa.and_(
                            jobs.c.state == "running",
                            jobs.c.heartbeat_at < now - lease_seconds,
                        ),
                    ),
                )
                .values(
                    state="running",
                    worker=worker,
                    heartbeat_at=now,
                    started_at=sa.func.coalesce(jobs.c.started_at, now),
                    attempts=jobs.c.attempts + 1,
                )
            ).rowcount
            if claimed:
                _append(conn, job_id, "state", {"state": "running"})
        return bool(claimed)

    def heartbeat(self, job_id: str, worker: str) -> tuple[bool, bool]:
        """Renew the job's heartbeat; (still ours, cancel requested)."""
        with self.engine.begin() as conn:
            ours = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.state == "running")
                .values(heartbeat_at=time.time())
            ).rowcount
            cancel = conn.execute(
                sa.select(jobs.c.cancel_requested).where(jobs.c.id == job_id)
            ).scalar_one_or_none()
        return bool(ours), bool(cancel)

    def cancel_requested(self, job_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(
                conn.execute(
                    sa.select(jobs.c.cancel_requested).where(jobs.c.id == job_id)
                ).scalar_one_or_none()
            )

    def record_phase(self, job_id: str, phase: str, progress: float, message: str) -> None:
        """A ``phase`` event (and the job's phase/progress); progress never goes down."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(jobs.c.phase, jobs.c.progress, jobs.c.state).where(jobs.c.id == job_id)
            ).first()
            if row is None or row.state in TERMINAL:
                return
            progress = max(float(row.progress or 0.0), float(progress))
            conn.execute(
                jobs.update().where(jobs.c.id == job_id).values(phase=phase, progress=progress)
            )
            if phase != row.phase:
                _append(conn, job_id, "phase", {"phase": phase, "progress": progress})
            if message:
                _append(conn, job_id, "log", {"level": "info", "message": message})

    def log(self, job_id: str, level: str, message: str) -> None:
        with self.engine.begin() as conn:
            _append(conn, job_id, "log", {"level": level, "message": message})

    def set_pipeline(self, job_id: str, pipeline: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(pipeline=pipeline))

    def finish(
        self,
        job_id: str,
        state: str,
        *,
        result: dict | None = None,
        error: dict | None = None,
        archive: bytes | None = None,
        worker: str | None = None,
        expect_state: str | None = None,
    ) -> bool:
        """The terminal transition, once: state, result/error, the token and bundle erased,
        then the ``state`` event and the closing ``result``/``error`` event."""
        assert state in TERMINAL
        with self.engine.begin() as conn:
            values: dict[str, Any] = dict(
                state=state,
                finished_at=time.time(),
                result=result,
                error=error,
                token=None,
                bundle=None,
                archive=archive,
            )
            if state == "succeeded":
                values.update(progress=1.0, phase="done")
            query = jobs.update().where(jobs.c.id == job_id, jobs.c.state.notin_(TERMINAL))
            if worker is not None:
                # Only the worker that holds the job answers for it (not one it was taken from).
                query = query.where(jobs.c.worker == worker)
            if expect_state is not None:
                query = query.where(jobs.c.state == expect_state)
            done = conn.execute(query.values(**values)).rowcount
            if not done:
                return False
            if state == "succeeded":
                _append(conn, job_id, "phase", {"phase": "done", "progress": 1.0})
            _append(conn, job_id, "state", {"state": state})
            if result is not None:
                _append(conn, job_id, "result", result)
            else:
                _append(conn, job_id, "error", error or {})
        return True

    def request_cancel(self, job_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.state.notin_(TERMINAL))
                .values(cancel_requested=True)
            )

    def requeue(self, job_id: str, reason: str) -> bool:
        """running → queued (its worker stopped beating); the attempt is run again."""
        with self.engine.begin() as conn:
            done = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.state == "running")
                .values(state="queued", worker=None)
            ).rowcount
            if done:
                _append(conn, job_id, "state", {"state": "queued"})
                _append(conn, job_id, "log", {"level": "warning", "message": reason})
        return bool(done)

    def stale_running(self, lease_seconds: float) -> list[str]:
        """Running jobs whose worker has not beaten for *lease_seconds*."""
        limit = time.time() - lease_seconds
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(jobs.c.id).where(
                        jobs.c.state == "running", jobs.c.heartbeat_at < limit
                    )
                ).scalars()
            )

    # -- events --------------------------------------------------------------------------

    def events_after(self, job_id: str, after: int, limit: int = 500) -> list[Event]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(events.c.seq, events.c.type, events.c.data, events.c.created_at)
                .where(events.c.job_id == job_id, events.c.seq > after)
                .order_by(events.c.seq)
                .limit(limit)
            )
            return [Event(r.seq, r.type, r.data, r.created_at) for r in rows]

    # -- repository leases ---------------------------------------------------------------

    def acquire_lease(self, repo_key: str, job_id: str, worker: str, seconds: float) -> bool:
        """Take (or keep) the lease of *repo_key* for *job_id*: only when nobody holds it,
        its holder's lease expired, or it is already this job's."""
        now = time.time()
        values = dict(job_id=job_id, worker=worker, expires_at=now + seconds)
        with self.engine.begin() as conn:
            taken = conn.execute(
                repo_leases.update()
                .where(
                    repo_leases.c.repo_key == repo_key,
                    sa.or_(
                        repo_leases.c.job_id.is_(None),
                        repo_leases.c.expires_at < now,
                        repo_leases.c.job_id == job_id,
                    ),
                )
                .values(**values)
            ).rowcount
            if taken:
                return True
            exists = conn.execute(
                sa.select(repo_leases.c.repo_key).where(repo_leases.c.repo_key == repo_key)
            ).first()
            if exists is not None:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(repo_leases.insert().values(repo_key=repo_key, **values))
            return True
        except IntegrityError:  # another worker inserted it first
            return False

    def renew_lease(self, repo_key: str, job_id: str, seconds: float) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    repo_leases.update()
                    .where(repo_leases.c.repo_key == repo_key, repo_leases.c.job_id == job_id)
                    .values(expires_at=time.time() + seconds)
                ).rowcount
            )

    def release_lease(self, repo_key: str, job_id: str, last_commit: str | None = None) -> None:
        values: dict[str, Any] = dict(job_id=None, worker=None, expires_at=0.0)
        if last_commit:
            values["last_commit"] = last_commit
        with self.engine.begin() as conn:
            conn.execute(
                repo_leases.update()
                .where(repo_leases.c.repo_key == repo_key, repo_leases.c.job_id == job_id)
                .values(**values)
            )

    def last_commit(self, repo_key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(repo_leases.c.last_commit).where(repo_leases.c.repo_key == repo_key)
            ).scalar_one_or_none()

    def last_result(self, repo_key: str) -> dict | None:
        """The result of the newest succeeded job of the repository."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(jobs.c.result)
                .where(jobs.c.repo_key == repo_key, jobs.c.state == "succeeded")
                .order_by(jobs.c.finished_at.desc())
                .limit(1)
            ).scalar_one_or_none()

    # -- housekeeping --------------------------------------------------------------------

    def expire(self, ttl_seconds: float) -> list[str]:
        """Delete finished jobs (their events and ZIPs with them) older than the TTL."""
        limit = time.time() - ttl_seconds
        with self.engine.begin() as conn:
            ids = list(
                conn.execute(
                    sa.select(jobs.c.id).where(
                        jobs.c.state.in_(TERMINAL), jobs.c.finished_at < limit
                    )
                ).scalars()
            )
            if ids:
                conn.execute(events.delete().where(events.c.job_id.in_(ids)))
                conn.execute(jobs.delete().where(jobs.c.id.in_(ids)))
        return ids

    def tokens(self) -> list[tuple[str, str]]:
        """(job id, ciphertext) of every stored token (waiting or running jobs)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs.c.id, jobs.c.token).where(jobs.c.token.is_not(None))
            ).all()
        return [(r.id, r.token.decode("ascii")) for r in rows]

    def replace_tokens(self, updates: list[tuple[str, str]]) -> None:
        """Write re-encrypted tokens back, in one transaction; an erased one stays erased."""
        with self.engine.begin() as conn:
            for job_id, ciphertext in updates:
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id, jobs.c.token.is_not(None))
                    .values(token=ciphertext.encode("ascii"))
                )


def _append(conn: sa.Connection, job_id: str, type_: str, data: dict) -> int:
    """Insert the job's next event; the counter bump locks the job row until commit."""
    seq = conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id)
        .values(event_seq=jobs.c.event_seq + 1)
        .returning(jobs.c.event_seq)
    ).scalar_one()
    conn.execute(
        events.insert().values(
            job_id=job_id, seq=seq, type=type_, data=data, created_at=time.time()
        )
    )
    return seq


def _encode_cursor(created_at: float, job_id: str) -> str:
    raw = json.dumps([repr(created_at), job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        return float(created), str(job_id)
    except (ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc
