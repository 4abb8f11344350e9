"""Is any worker processing the queue? (the upload form's banner)

Why from the ``jobs`` table and not a new heartbeat row: a running job's worker already
refreshes ``heartbeat_at`` (``queue._Reporter``) and an idle worker claims a queued job
within ``poll_seconds``; so a job left ``queued`` well past that, with no running job whose
heartbeat is fresh, means no worker (local or Celery) is taking work — the case of an app
started without one, where an upload would otherwise sit at "queued 0 %" for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from msw_audio.jobs.queue import JobConfig
from msw_audio.review.db import Job, utcnow
from msw_audio.review.store import Store

#: a queued job older than this with nothing running means no worker is taking work
STUCK_SECONDS = 30.0


@dataclass
class WorkerStatus:
    queued: int
    oldest_queued_seconds: float
    running_live: int

    @property
    def no_worker(self) -> bool:
        return self.queued > 0 and self.running_live == 0 and \
            self.oldest_queued_seconds > STUCK_SECONDS

    @property
    def banner(self) -> str:
        """Markdown for the upload form ("" when all is well)."""
        if not self.no_worker:
            return ""
        return (f"⚠ **No worker is processing uploads**: {self.queued} recording"
                f"{'s wait' if self.queued != 1 else ' waits'} in the queue (the oldest for "
                f"{self.oldest_queued_seconds / 60:.0f} min). Start one with `msw-audio worker` "
                "(or `msw-audio serve` without `--no-worker`); nothing is lost meanwhile.")


def worker_status(store: Store, config: JobConfig | None = None) -> WorkerStatus:
    config = config or JobConfig()
    now = utcnow()
    fresh = now - timedelta(seconds=max(config.lease_seconds, 3 * config.heartbeat_seconds))
    with store.rtx() as s:
        queued, oldest = s.execute(
            select(func.count(Job.id), func.min(Job.created_at)).where(Job.state == "queued")
        ).one()
        live = s.scalar(select(func.count(Job.id)).where(
            Job.state == "running", Job.heartbeat_at >= fresh)) or 0
    age = (now - oldest).total_seconds() if oldest else 0.0
    return WorkerStatus(int(queued or 0), age, int(live))
