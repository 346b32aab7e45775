"""Jobs, their events and the per-repository leases.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(32)),
        sa.Column("progress", sa.Float, nullable=False),
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
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("event_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_jobs_user_created", "jobs", ["user_id", "created_at"])
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_index("ux_jobs_user_idempotency", "jobs", ["user_id", "idempotency_key"], unique=True)
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("job_id", "seq", name="ux_events_job_seq"),
    )
    op.create_table(
        "repo_leases",
        sa.Column("repo_key", sa.String(1024), primary_key=True),
        sa.Column("job_id", sa.String(40)),
        sa.Column("worker", sa.String(255)),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("last_commit", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("repo_leases")
    op.drop_table("events")
    op.drop_table("jobs")
