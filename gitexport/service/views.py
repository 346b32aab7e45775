"""The contract's JSON shapes (``gitexport-service/1``) made from store rows."""

from __future__ import annotations

from datetime import UTC, datetime

from gitexport.service.auth import page_link


def rfc3339(moment: float | None) -> str | None:
    if moment is None:
        return None
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def job_object(job: dict, *, base_url: str, secret_keys, page_ttl: int) -> dict:
    job_id = job["id"]
    return {
        "id": job_id,
        "state": job["state"],
        "created_at": rfc3339(job["created_at"]),
        "started_at": rfc3339(job["started_at"]),
        "finished_at": rfc3339(job["finished_at"]),
        "pipeline": job["pipeline"],
        "target": (job["request"] or {}).get("target"),
        "links": {
            "self": f"/v1/exports/{job_id}",
            "events": f"/v1/exports/{job_id}/events",
            "archive": f"/v1/exports/{job_id}/archive",
            "page": page_link(base_url, job_id, secret_keys, page_ttl),
        },
        "phase": job["phase"] or ("validate" if job["state"] == "queued" else None),
        "progress": float(job["progress"] or 0.0),
        "result": job["result"],
        "error": job["error"],
        "attempts": job["attempts"],
    }
