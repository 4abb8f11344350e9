"""The distributed engine: Celery workers with Redis as broker, job state still in the store.

Why Celery on top of the store's queue rather than instead of it: the store already holds
each job's state, progress, error and the audit trail, and the review screen and
``msw-audio jobs`` read them there. Celery only carries "job ``j…`` is waiting" from the
app to any worker on any machine, and keeps a dead worker's message for another.

* **Publish**: ``publish(job_id)`` sends the task ``msw_audio.process`` to a queue
  (``cpu`` by default, ``gpu`` for GPU workers). A failed publish is only logged: the job is
  ``queued`` in the store and the workers' sweeper publishes it again.
* **Run**: the task claims *that* job (``jobs.claim_job``, atomic) and calls ``run_job``,
  the same unit of work as the local engine; a duplicate message finds the job running,
  done or failed and returns. The worker uses the solo pool (one process, one job at a time)
  and keeps its models loaded across jobs; start one worker per core pair.
* **Redelivery**: ``acks_late`` + ``reject_on_worker_lost``, prefetch 1, and a Redis
  visibility timeout longer than the longest job: a message is acknowledged only after its
  job ended, so a killed worker's message goes back to the queue. Because that timeout is
  hours, each worker also sweeps the store every ``sweep_seconds``: a running job whose
  worker is gone (pid dead on this host, heartbeat older than the lease elsewhere) is put
  back in the queue by ``recover_stale`` and published again, and when the broker holds no
  waiting message the store's queued jobs are published again (a broker restarted without
  its data). Duplicates are harmless: the claim decides. The per-stage cache makes the
  rerun resume; ``max_attempts`` stops a recording that kills workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from msw_audio.errors import InputError, MswError

TASK_NAME = "msw_audio.process"
DEFAULT_QUEUE = "cpu"
DEFAULT_BROKER = "redis://localhost:6379/0"
#: longer than the longest job: a 4-hour recording at real-time factor 1.5 (a slow CPU)
VISIBILITY_TIMEOUT = 6 * 3600
log = logging.getLogger("msw_audio.jobs.engine_celery")


def broker_url(broker: str | None = None) -> str:
    """``--broker`` or ``$MSW_AUDIO_BROKER`` or Redis on this machine."""
    return broker or os.environ.get("MSW_AUDIO_BROKER") or DEFAULT_BROKER


def queue_name(queue: str | None = None) -> str:
    return queue or os.environ.get("MSW_AUDIO_QUEUE") or DEFAULT_QUEUE


def make_app(broker: str | None = None) -> Any:
    """A Celery app with the delivery settings that make a lost worker lose nothing."""
    from celery import Celery

    app = Celery("msw_audio", broker=broker_url(broker), set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,  # state, progress and errors live in the store
        worker_prefetch_multiplier=1,  # a worker holds only the message it is running
        task_default_queue=DEFAULT_QUEUE,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for Redis to come back
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


@lru_cache(maxsize=4)
def _publisher(broker: str) -> Any:
    """One app (and connection pool) per broker URL in a publishing process (app, CLI)."""
    return make_app(broker)


def publish(job_id: str, broker: str | None = None, queue: str | None = None) -> bool:
    """Send the job to the workers of ``queue``; False (logged) if the broker is unreachable."""
    app = _publisher(broker_url(broker))
    try:
        app.send_task(
            TASK_NAME,
            args=[job_id],
            queue=queue_name(queue),
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as exc:  # noqa: BLE001 - the store keeps the job; the sweeper republishes
        log.warning("job %s is queued in the store but not published (%s)", job_id, exc)
        return False
    return True


@dataclass
class CeleryWorker:
    """One Celery worker process bound to one store: task, sweeper, loaded models."""

    store: Any
    broker: str | None = None
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    config: Any = None  # jobs.JobConfig
    processor: Any = None  # jobs.Processor; default: the real pipeline, loaded once
    sweep_seconds: float = 15.0
    name: str = ""
    say: Callable[[str], None] = print
    busy: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        from msw_audio.jobs.queue import JobConfig, pipeline_processor

        self.config = self.config or JobConfig()
        self.processor = self.processor or pipeline_processor(self.config.pipeline_config,
                                                              self.store.codebook.path)
        self.name = self.name or f"msw@{socket.gethostname()}:{os.getpid()}"
        self.app = make_app(self.broker)
        self.app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)(self.process)

    # ------------------------------------------------------------------ the task
    def process(self, job_id: str) -> str:
        """Run one job if this worker wins its claim; returns the job's state afterwards."""
        from msw_audio.jobs.queue import claim_job, run_job

        worker_id = f"{self.name}:{job_id}"
        if not claim_job(self.store, job_id, worker_id):
            self.say(f"job {job_id}: not queued (running elsewhere or finished); message dropped")
            return "skipped"
        self.busy.set()
        try:
            self.say(f"job {job_id}: running")
            try:
                info = run_job(
                    self.store, job_id, self.processor, self.config, worker_id, self.say
                )
            except MswError as exc:  # erased while it ran
                self.say(f"job {job_id}: {exc}")
                return "erased"
            self.say(
                f"job {job_id}: {info.state}"
                + (f" -> session {info.session_id}" if info.session_id else "")
                + (f" ({info.error})" if info.error else "")
            )
            return info.state
        finally:
            self.busy.clear()

    # ------------------------------------------------------------------ sweeper
    def sweep(self) -> list[str]:
        """Re-publish what the broker may have lost; returns the job ids published."""
        from msw_audio.jobs.queue import queued_job_ids, recover_stale

        published = []
        for jid in recover_stale(self.store, self.config):
            self.say(f"job {jid}: worker gone, back in the queue")
            if publish(jid, self.broker, self.queues[0]):
                published.append(jid)
        if not self.busy.is_set() and self._waiting_messages() == 0:
            for jid in queued_job_ids(self.store, older_than=self.sweep_seconds):
                if jid not in published and publish(jid, self.broker, self.queues[0]):
                    self.say(f"job {jid}: queued in the store, not in the broker; published")
                    published.append(jid)
        return published

    def _waiting_messages(self) -> int:
        """Messages waiting in the broker on any msw-audio queue (-1: broker unreachable)."""
        try:
            with self.app.connection_for_read() as conn:
                channel = conn.default_channel  # kombu's Redis channel: an empty queue is
                # no key at all, so count with its _size (every priority list), not a declare
                return sum(int(channel._size(q)) for q in {*self.queues, "cpu", "gpu"})
        except Exception:  # noqa: BLE001 - no broker now: publish nothing, try next sweep
            return -1

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_seconds):
            try:
                self.sweep()
            except Exception as exc:  # noqa: BLE001 - a failed sweep is retried next time
                self.say(f"sweep failed ({type(exc).__name__}: {exc}); retrying")

    # ------------------------------------------------------------------ run
    def run(self, loglevel: str = "WARNING") -> None:
        """Start the worker (blocks until it is stopped, e.g. SIGTERM: warm shutdown)."""
        for q in self.queues:
            if not q.replace("-", "").replace("_", "").isalnum():
                raise InputError(f"queue name {q!r}: use letters, digits, - and _")
        sweeper = threading.Thread(target=self._sweep_loop, name="msw-sweeper", daemon=True)
        sweeper.start()
        self.say(
            f"celery worker {self.name}: broker {_redact(broker_url(self.broker))}, "
            f"queues {','.join(self.queues)}, data {self.store.data_dir}"
        )
        try:
            self.app.worker_main(
                [
                    "worker",
                    "--pool=solo",
                    "--concurrency=1",
                    f"--queues={','.join(self.queues)}",
                    f"--hostname={self.name}",
                    f"--loglevel={loglevel}",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ]
            )
        finally:
            self._stop.set()


def _redact(url: str) -> str:
    """A broker URL without its password, for logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def run_worker(
    data: Path | None,
    db_url: str | None,
    broker: str | None,
    queues: tuple[str, ...],
    config: Any = None,
    sweep_seconds: float = 15.0,
    codebook: Path | None = None,
) -> None:
    """``msw-audio worker --engine celery``: open the store, load the models, consume."""
    from msw_audio.coding.codebook import load_codebook
    from msw_audio.review.store import Store

    book = load_codebook(Path(codebook).resolve()) if codebook else None
    with Store.open(data, url=db_url, codebook=book) as store:
        CeleryWorker(
            store,
            broker=broker,
            queues=queues,
            config=config,
            sweep_seconds=sweep_seconds,
            say=lambda m: print(m, flush=True),
        ).run()
