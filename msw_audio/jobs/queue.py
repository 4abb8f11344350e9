"""Processing jobs: a queue in the store, a worker that runs the pipeline, resume after a crash.

Why a queue in the database rather than a broker: msw-audio runs on one offline machine,
and the store is already the one durable thing there. A job row goes
``queued -> running (stage, progress, eta) -> done | failed (error)``.

* **Claim** is one atomic ``UPDATE ... WHERE state='queued'`` inside a ``BEGIN IMMEDIATE``
  transaction on SQLite, and ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
  workers never take the same job.
* **Resume**: a running worker refreshes ``heartbeat_at``; a job found ``running`` whose
  worker process is gone (same host, pid dead) or whose heartbeat is older than the lease
  is put back in the queue. The pipeline caches each finished stage under
  ``<data>/cache/<sha256>/``, so the rerun skips them. The session is written to the store
  by one ``Store.ingest`` transaction only after the pipeline finished, so a kill can never
  leave a half-written session, and ingest is idempotent on the audio hash.
* **Uploads** are copied into ``<data>/incoming/<sha256>.<ext>`` (never by their name),
  checked (name, type, size, every audio-stage check) before a job exists.
* **Scale path**: ``run_job(store, job_id)`` is the whole unit of work and is idempotent;
  ``JobRunner`` is the small seam where a distributed engine (Celery, Dask, Ray, a k8s Job)
  can replace the local worker loop (docs/store.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, select, update

from msw_audio.coding.codebook import codebook_for_recording_type
from msw_audio.errors import AudioError, InputError, MswError
from msw_audio.review.auth import User, system_user
from msw_audio.review.db import Job, utcnow
from msw_audio.review.store import Store, safe_ext, safe_name
from msw_audio.speech.audio import AUDIO_EXTENSIONS, check_file, display_name

ProgressFn = Callable[[str, float], None]
#: (audio_path, out_dir, cache_dir, progress) -> None; writes out_dir/session.json. A job
#: whose recording type has its own codebook (supervision) also gets ``codebook_path=``.
Processor = Callable[[Path, Path, Path, ProgressFn], None]

DEFAULT_MAX_UPLOAD_MB = 2048  # ~4 h of WAV at 44.1 kHz stereo is ~2.5 GB; compressed is far less
#: Characters a shell or a path would interpret: refused in uploaded file names.
HOSTILE_CHARS = set(";|&$`<>\"'\\/*?!\x00")


def _max_upload_bytes() -> int:
    return int(float(os.environ.get("MSW_AUDIO_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)) * 2**20)


@dataclass
class JobConfig:
    """Worker and upload settings (the defaults suit one machine)."""

    max_upload_bytes: int = field(default_factory=_max_upload_bytes)
    #: run every audio-stage check (full decode) before accepting an upload
    validate_audio: bool = True
    #: a running job whose heartbeat is older than this is taken back (seconds)
    lease_seconds: float = 120.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 2.0
    #: a job whose worker died this many times is failed, not retried forever
    max_attempts: int = 3
    #: longest recording accepted, seconds (the audio stage's own default)
    max_duration: float = 4 * 3600.0
    #: PipelineConfig to use (None: the pipeline's defaults)
    pipeline_config: Any = None


@dataclass
class JobInfo:
    """What the app and the CLI show about one job."""

    id: str
    state: str
    stage: str
    progress: float
    eta_seconds: float | None
    error: str | None
    source_name: str
    session_id: str | None
    user: str
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _info(j: Job) -> JobInfo:
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    return JobInfo(
        id=j.id,
        state=j.state,
        stage=j.stage,
        progress=j.progress,
        eta_seconds=j.eta_seconds,
        error=j.error,
        source_name=j.source_name,
        session_id=j.session_id,
        user=j.user_name,
        attempts=j.attempts,
        created_at=iso(j.created_at) or "",
        started_at=iso(j.started_at),
        finished_at=iso(j.finished_at),
    )


# ---------------------------------------------------------------------- enqueue
def check_upload_name(name: str) -> str:
    """Refuse names that try to be paths or shell code; returns the display name to keep."""
    shown = display_name(name)
    if not name or name in (".", "..") or any(ch in HOSTILE_CHARS for ch in name):
        raise InputError(
            f"file name {shown} is not accepted: it contains a path or shell character "
            "(/ \\ ; | & $ ` < > quotes * ? !); rename the file and upload it again"
        )
    if ".." in name or name.startswith(("-", ".")):
        raise InputError(f"file name {shown} is not accepted: rename the file and upload it again")
    if any(not ch.isprintable() for ch in name):
        raise InputError(f"file name {shown} contains control characters; rename the file")
    ext = Path(name).suffix.lower()
    if ext not in AUDIO_EXTENSIONS:
        raise InputError(
            f"{shown} is not a supported recording type; use one of {' '.join(AUDIO_EXTENSIONS)}"
        )
    return safe_name(name)


def enqueue(
    store: Store,
    path: Path,
    user: User,
    meta: dict[str, Any] | None = None,
    config: JobConfig | None = None,
) -> str:
    """Accept one recording for processing; returns the job id.

    ``meta`` may hold worker, team, date, family, recording_type, title and ``filename``
    (the name as uploaded, when ``path`` is a temporary file). Identical audio is never
    processed twice: the existing job is returned (a failed one is queued again).
    """
    user.require("job.enqueue")
    config = config or JobConfig()
    meta = dict(meta or {})
    user.require_team(meta.get("team"), "upload recordings for")
    path = Path(path)
    original = check_upload_name(str(meta.pop("filename", "") or path.name))
    if meta.get("people") not in (None, ""):  # refused now, not when the job runs
        from msw_audio.speech.diarize import parse_people

        parse_people(meta["people"])
        meta["people"] = str(meta["people"]).strip()
    check_file(path)
    size = path.stat().st_size
    if size > config.max_upload_bytes:
        raise AudioError(
            f"{display_name(original)} is {size / 2**20:.0f} MB; the upload limit is "
            f"{config.max_upload_bytes / 2**20:.0f} MB (setting MSW_AUDIO_MAX_UPLOAD_MB)"
        )
    ext = safe_ext(original)
    sha, staged = _stage_copy(store, path, config.max_upload_bytes)
    try:
        if config.validate_audio:
            from msw_audio.speech.sandbox import check_media_isolated

            try:  # decoded in a child process with a time and memory limit
                check_media_isolated(staged, max_duration=config.max_duration)
            except AudioError as exc:
                # the staged copy has a random name: say which upload it was
                raise AudioError(
                    str(exc).replace(display_name(staged), display_name(original))
                ) from None
        target = store.paths.incoming / f"{sha}{ext}"
        if not target.exists():
            os.replace(staged, target)
    finally:
        Path(staged).unlink(missing_ok=True)

    with store.tx() as s:
        existing = s.scalar(
            select(Job).where(Job.audio_sha256 == sha).order_by(Job.created_at.desc()).limit(1)
        )
        if existing is not None and existing.state != "failed":
            return existing.id
        if existing is not None:  # failed before: try again with the same job
            existing.state, existing.error, existing.stage = "queued", None, ""
            existing.progress, existing.eta_seconds, existing.attempts = 0.0, None, 0
            existing.ext, existing.source_name = ext, original
            store.audit(s, user, "job.retry", "job", existing.id)
            return existing.id
        session_id = store.session_for_hash(sha)  # the sessions table is the store's
        job = Job(
            id="j" + secrets.token_hex(8),
            state="done" if session_id else "queued",
            stage="already in store" if session_id else "",
            progress=1.0 if session_id else 0.0,
            audio_sha256=sha,
            ext=ext,
            source_name=original,
            meta={k: v for k, v in meta.items() if isinstance(v, (str, int, float))},
            user_name=user.name,
            session_id=session_id,
            finished_at=utcnow() if session_id else None,
        )
        s.add(job)
        store.audit(s, user, "job.enqueue", "job", job.id)
    if session_id:
        (store.paths.incoming / f"{sha}{ext}").unlink(missing_ok=True)
    return job.id


def _stage_copy(store: Store, path: Path, limit: int) -> tuple[str, Path]:
    """Copy into the data folder under a random name, hashing as we go (no TOCTOU)."""
    staged = store.paths.incoming / f".upload-{secrets.token_hex(8)}.partial"
    digest = hashlib.sha256()
    total = 0
    try:
        with open(path, "rb") as src, open(staged, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                total += len(block)
                if total > limit:
                    raise AudioError(f"{display_name(path)} grew past the upload limit")
                digest.update(block)
                dst.write(block)
            dst.flush()
            os.fsync(dst.fileno())
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return digest.hexdigest(), staged


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders expanded to the recordings inside them (recursively, sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(
                    f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS
                )
            )
        else:
            out.append(p)
    return out


def enqueue_many(
    store: Store,
    paths: Iterable[Path],
    user: User,
    meta: dict[str, Any] | None = None,
    config: JobConfig | None = None,
) -> list[tuple[Path, str | None, str | None]]:
    """Enqueue files and folders; returns ``(path, job_id, error)`` per recording found."""
    results = []
    for p in expand_paths(paths):
        try:
            results.append((p, enqueue(store, p, user, meta, config), None))
        except MswError as exc:
            results.append((p, None, str(exc)))
    return results


# ---------------------------------------------------------------------- reading
def list_jobs(store: Store, user: User, limit: int = 200) -> list[JobInfo]:
    """Newest first; an admin sees every job, others the jobs they uploaded."""
    user.require("job.view")
    with store.rtx() as s:
        q = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if user.role != "admin":
            q = q.where(Job.user_name == user.name)
        return [_info(j) for j in s.scalars(q)]


def get_job(store: Store, job_id: str, user: User) -> JobInfo:
    user.require("job.view")
    with store.rtx() as s:
        j = s.get(Job, job_id)
        if j is None or (user.role != "admin" and j.user_name != user.name):
            raise InputError(f"no job {job_id!r}")
        return _info(j)


# ---------------------------------------------------------------------- claiming
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def recover_stale(store: Store, config: JobConfig | None = None) -> list[str]:
    """Put back in the queue the running jobs whose worker is gone; returns their ids."""
    config = config or JobConfig()
    now = utcnow()
    lease = now - timedelta(seconds=config.lease_seconds)
    host = socket.gethostname()
    recovered = []
    with store.tx() as s:
        for j in s.scalars(select(Job).where(Job.state == "running")):
            dead = (j.host == host and j.pid is not None and not _pid_alive(j.pid)) or (
                j.heartbeat_at is None or j.heartbeat_at < lease
            )
            if not dead:
                continue
            if j.attempts >= config.max_attempts:
                j.state, j.finished_at = "failed", now
                j.error = f"the worker stopped {j.attempts} times while processing this recording"
            else:
                j.state, j.stage, j.eta_seconds = "queued", f"resuming after {j.stage}", None
            j.worker_id = j.pid = j.host = None
            recovered.append(j.id)
            store.audit(s, "worker", "job.recover", "job", j.id)
    return recovered


def claim(store: Store, worker_id: str) -> str | None:
    """Atomically move the oldest queued job to running for this worker; its id or None."""
    for _ in range(5):
        now = utcnow()
        with store.tx() as s:
            q = select(Job.id).where(Job.state == "queued").order_by(Job.created_at, Job.id)
            if s.bind.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            job_id = s.scalar(q.limit(1))
            if job_id is None:
                return None
            if _take(s, job_id, worker_id, now):
                return job_id
    return None


def _take(s, job_id: str, worker_id: str, now) -> bool:  # noqa: ANN001 - ORM session, datetime
    """Move one job from queued to running for ``worker_id``, if it is still queued: the one
    conditional UPDATE both the polling claim and a broker's message go through."""
    res = s.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued")
        .values(
            state="running",
            worker_id=worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            heartbeat_at=now,
            started_at=now,
            attempts=Job.attempts + 1,
            error=None,
        )
    )
    return res.rowcount == 1


def claim_job(store: Store, job_id: str, worker_id: str) -> bool:
    """Atomically move *this* queued job to running for this worker; False if it is not queued.

    A distributed engine hands a worker one job id (a broker message). The message may be
    delivered twice (redelivery after a lost worker or connection), so the claim, not the
    message, decides who runs it: a job already running, done or failed is left alone.
    """
    with store.tx() as s:
        return _take(s, job_id, worker_id, utcnow())


def queued_job_ids(store: Store, older_than: float = 0.0, limit: int = 100) -> list[str]:
    """Oldest queued jobs (created at least ``older_than`` seconds ago), for re-publishing."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    with store.rtx() as s:
        q = (
            select(Job.id)
            .where(Job.state == "queued", Job.created_at <= cutoff)
            .order_by(Job.created_at, Job.id)
            .limit(limit)
        )
        return list(s.scalars(q))


ENGINES = ("local", "celery")


def submit(
    job_id: str, engine: str | None = None, broker: str | None = None, queue: str | None = None
) -> None:
    """Hand a queued job to the processing engine: the one seam between accepting and running.

    ``local`` (the default, embedded engine) does nothing: a ``LocalRunner`` polls the store.
    ``celery`` publishes a task (``msw_audio.jobs.engine_celery``). The job row in the store stays
    the truth either way, so a publish that fails is not an error here: the Celery workers
    re-publish queued jobs the broker does not hold. Settings: ``MSW_AUDIO_ENGINE``,
    ``MSW_AUDIO_BROKER``, ``MSW_AUDIO_QUEUE``.
    """
    engine = engine or os.environ.get("MSW_AUDIO_ENGINE") or "local"
    if engine == "local":
        return
    if engine != "celery":
        raise InputError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    from msw_audio.jobs.engine_celery import publish

    publish(job_id, broker=broker, queue=queue)


# ---------------------------------------------------------------------- running
class _Reporter:
    """Progress callback + heartbeat thread for one running job (throttled DB writes)."""

    def __init__(
        self,
        store: Store,
        job_id: str,
        worker_id: str,
        config: JobConfig,
        log: Callable[[str], None] | None = None,
    ):
        self.log = log or (lambda _msg: None)
        self.store, self.job_id, self.worker_id, self.config = store, job_id, worker_id, config
        self.t0 = time.monotonic()
        self.last_write = 0.0
        self.stage = ""
        self.t_work: float | None = None  # when model work began (cached stages are instant)
        self.f_work: float | None = None  # overall fraction at that moment
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _write(self, **values: Any) -> None:
        with self.store.tx() as s:
            done = s.execute(
                update(Job)
                .where(Job.id == self.job_id, Job.worker_id == self.worker_id)
                .values(heartbeat_at=utcnow(), **values)
            )
        if done.rowcount == 0 and not _job_exists(self.store, self.job_id):
            # erased while running (``Store.erase_job``): stop the pipeline here
            raise InputError(f"job {self.job_id} was erased while it ran")

    def _beat(self) -> None:
        while not self._stop.wait(self.config.heartbeat_seconds):
            try:
                self._write()
            except Exception:  # noqa: BLE001 - a missed beat is retried; never kill the job
                pass

    def __call__(self, stage: str, fraction: float) -> None:
        """``progress(stage, fraction of stage)`` from the pipeline -> overall progress + eta."""
        now = time.monotonic()
        if stage == self.stage and now - self.last_write < 0.5 and fraction < 1.0:
            return
        if stage != self.stage and self.t_work is None and stage not in ("starting", "decode"):
            self.t_work = now  # measure speed from the first model stage on
        if stage != self.stage:
            self.log(f"job {self.job_id}: {stage}")
        self.stage, self.last_write = stage, now
        overall = overall_fraction(stage, float(fraction))
        if self.f_work is None and self.t_work is not None:
            self.f_work = overall
        eta = None
        if self.t_work is not None and self.f_work is not None and overall - self.f_work >= 0.02:
            rate = (overall - self.f_work) / max(1e-6, now - self.t_work)
            eta = (1.0 - overall) / rate
        self._write(stage=stage[:32], progress=overall, eta_seconds=eta)


def pipeline_processor(config: Any = None, codebook: Path | None = None) -> Processor:
    """The real processor: one loaded ``msw_audio.pipeline.Pipeline`` reused for every job.

    The pipeline's stage cache is pointed at ``<data>/cache`` (``<sha256>/`` per recording),
    so a resumed job reuses finished stages and erasure can remove them. ``codebook`` (the
    store's) codes the sessions unless the pipeline config names one.
    """
    loaded: dict[Path, Any] = {}
    siblings: dict[Path, Any] = {}  # the same speech models with another codebook

    def run(audio: Path, out_dir: Path, cache_dir: Path, progress: ProgressFn,
            speakers: dict[str, int | None] | None = None,
            codebook_path: Path | None = None) -> None:
        from msw_audio.pipeline import Pipeline, PipelineConfig

        if cache_dir not in loaded:
            cfg = config if config is not None else PipelineConfig()
            if cfg.codebook is None and codebook is not None:
                cfg = dataclasses.replace(cfg, codebook=codebook)
            loaded.clear()  # one store per worker: keep one set of models in memory
            siblings.clear()
            loaded[cache_dir] = Pipeline(dataclasses.replace(cfg, cache_dir=cache_dir))
        pipeline = base = loaded[cache_dir]
        if codebook_path is not None and Path(codebook_path) != base.config.codebook:
            if codebook_path not in siblings:  # e.g. supervision: its codebook and rubric
                siblings[codebook_path] = base.with_codebook(codebook_path)
            pipeline = siblings[codebook_path]
        if speakers and any(speakers.values()):  # "people present" of this job
            job_pipeline = pipeline.with_speakers(**speakers)
            job_pipeline.process(audio, out_dir, progress)
            for name in ("_transcriber", "_diarizer", "_tagger", "_codebook"):
                if getattr(pipeline, name) is None:  # keep models loaded for the next job
                    setattr(pipeline, name, getattr(job_pipeline, name))
            for name in ("_transcriber", "_diarizer"):  # the speech models are shared
                if getattr(base, name) is None:
                    setattr(base, name, getattr(job_pipeline, name))
        else:
            pipeline.process(audio, out_dir, progress)

    return run


#: Share of a typical run's time per pipeline stage, to turn the pipeline's per-stage
#: fraction into one overall fraction and a time left (CPU runs: ASR and diarization dominate).
STAGE_WEIGHTS = {  # measured: 288 s demo on 1 CPU thread (decode includes loading Whisper)
    "starting": 0.0,
    "decode": 0.08,
    "transcribe": 0.38,
    "diarize": 0.48,
    "gapfill": 0.04,  # one Whisper decode per empty turn (~0.3 of the wall time at 62 min)
    "align": 0.01,
    "tag": 0.02,
    "score": 0.01,
    "write": 0.01,
    "saving": 0.01,
}


def overall_fraction(stage: str, fraction: float) -> float:
    """Overall progress 0..1 from ``(stage, fraction of that stage)``."""
    names = list(STAGE_WEIGHTS)
    if stage not in STAGE_WEIGHTS:
        return min(1.0, max(0.0, fraction))
    done = sum(STAGE_WEIGHTS[n] for n in names[: names.index(stage)])
    total = sum(STAGE_WEIGHTS.values())
    return min(1.0, (done + STAGE_WEIGHTS[stage] * min(1.0, max(0.0, fraction))) / total)


def speaker_hint(meta: dict[str, Any]) -> dict[str, int | None] | None:
    """The job's "people present" (``meta["people"]``, as typed) as diarization's speaker
    count, or None when not given."""
    from msw_audio.speech.diarize import parse_people

    people = meta.get("people")
    if people in (None, ""):
        return None
    hint = parse_people(people)
    return hint if any(v is not None for v in hint.values()) else None


def run_job(
    store: Store,
    job_id: str,
    processor: Processor | None = None,
    config: JobConfig | None = None,
    worker_id: str | None = None,
    log: Callable[[str], None] | None = None,
) -> JobInfo:
    """Process one claimed job to the end: pipeline, ingest, clean up. Idempotent."""
    config = config or JobConfig()
    processor = processor or pipeline_processor(config.pipeline_config, store.codebook.path)
    with store.tx() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise InputError(f"no job {job_id!r}")
        worker_id = worker_id or job.worker_id or f"{socket.gethostname()}:{os.getpid()}"
        sha, ext, meta = job.audio_sha256, job.ext, dict(job.meta or {})
        meta["filename"] = job.source_name
        user_name = job.user_name
    audio = store.paths.incoming / f"{sha}{ext}"
    job_dir = store.paths.job_dir(job_id)
    out_dir = job_dir / "out"
    try:
        session_id = store.session_for_hash(sha)
        if session_id is None:
            if not audio.is_file():
                raise InputError("the uploaded recording is no longer in the data folder")
            out_dir.mkdir(parents=True, exist_ok=True)
            with _Reporter(store, job_id, worker_id, config, log) as report:
                report("starting", 0.0)
                # only processors that take them get these: "people present" and, by the
                # recording type, its codebook (e.g. supervision: its codebook and rubric)
                extra: dict[str, Any] = {}
                speakers = speaker_hint(meta)
                if speakers:
                    extra["speakers"] = speakers
                by_type = codebook_for_recording_type(meta.get("recording_type"))
                if by_type is not None:
                    extra["codebook_path"] = by_type
                processor(audio, out_dir, store.paths.cache, report, **extra)
                report("saving", 0.99)
            if not _job_exists(store, job_id):  # erased while it ran: leave no trace
                shutil.rmtree(store.paths.cache_for(sha), ignore_errors=True)
                shutil.rmtree(job_dir, ignore_errors=True)
                audio.unlink(missing_ok=True)
                raise InputError(f"job {job_id} was erased while it ran")
            actor = system_user(f"worker:{user_name}")
            session_id = store.ingest(out_dir, actor=actor, meta=meta, audio_path=audio)
    except Exception as exc:  # noqa: BLE001 - any crash becomes a failed job with its reason
        shutil.rmtree(job_dir, ignore_errors=True)  # partial outputs; the stage cache stays
        if not _job_exists(store, job_id) and store.session_for_hash(sha) is None:
            shutil.rmtree(store.paths.cache_for(sha), ignore_errors=True)  # erased: no trace
            audio.unlink(missing_ok=True)
        error = str(exc) if isinstance(exc, MswError) else f"{type(exc).__name__}: {exc}"
        return _finish(store, job_id, worker_id, "failed", error=error, audio=None)
    info = _finish(store, job_id, worker_id, "done", session_id=session_id, audio=audio)
    shutil.rmtree(job_dir, ignore_errors=True)  # the session is in the store now
    return info


def _job_exists(store: Store, job_id: str) -> bool:
    with store.tx() as s:
        return s.get(Job, job_id) is not None


def _finish(
    store: Store,
    job_id: str,
    worker_id: str,
    state: str,
    error: str | None = None,
    session_id: str | None = None,
    audio: Path | None = None,
) -> JobInfo:
    with store.tx() as s:
        j = s.get(Job, job_id)
        if j is None:  # erased while running
            raise InputError(f"job {job_id!r} was removed while it ran")
        j.state, j.error, j.session_id, j.finished_at = state, error, session_id, utcnow()
        j.heartbeat_at = utcnow()
        j.eta_seconds = 0.0 if state == "done" else None
        if state == "done":
            j.stage, j.progress = "done", 1.0
        store.audit(s, "worker", f"job.{state}", "job", job_id)
        info = _info(j)
    if audio is not None:
        audio.unlink(missing_ok=True)  # a copy now lives in <data>/audio/
    return info


class JobRunner(Protocol):
    """What a job engine must do: run ``run_job(store, job_id)`` for queued jobs.

    ``LocalRunner`` polls the store in this process. A distributed engine would claim
    with ``claim`` (or be handed ids by its own scheduler) and call ``run_job`` on any
    machine that mounts the data folder and reaches the database.
    """

    def run(self, once: bool = False) -> int: ...

    def stop(self) -> None: ...


class LocalRunner:
    """The default runner: one worker loop in this process (CLI ``worker``, app thread)."""

    def __init__(
        self,
        store: Store,
        processor: Processor | None = None,
        config: JobConfig | None = None,
        worker_id: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config or JobConfig()
        self.processor = processor or pipeline_processor(self.config.pipeline_config,
                                                         store.codebook.path)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.log = log or (lambda _msg: None)
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, once: bool = False) -> int:
        """Process jobs until stopped (or, with ``once``, until the queue is empty)."""
        done = 0
        while not self._stop.is_set():
            for jid in recover_stale(self.store, self.config):
                self.log(f"job {jid}: worker gone, back in the queue")
            job_id = claim(self.store, self.worker_id)
            if job_id is None:
                if once:
                    break
                self._stop.wait(self.config.poll_seconds)
                continue
            self.log(f"job {job_id}: running")
            try:
                info = run_job(
                    self.store, job_id, self.processor, self.config, self.worker_id, self.log
                )
            except MswError as exc:  # the job vanished (erased) while it ran
                self.log(f"job {job_id}: {exc}")
                continue
            self.log(
                f"job {job_id}: {info.state}"
                + (f" -> session {info.session_id}" if info.session_id else "")
                + (f" ({info.error})" if info.error else "")
            )
            done += 1
        return done


def run_worker(
    store: Store,
    once: bool = False,
    processor: Processor | None = None,
    config: JobConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> int:
    """Run a local worker; returns how many jobs it finished (done or failed)."""
    return LocalRunner(store, processor, config, log=log).run(once=once)


def start_background_worker(
    store: Store, config: JobConfig | None = None, processor: Processor | None = None
) -> LocalRunner:
    """A worker thread for ``msw-audio serve`` (call ``.stop()`` on shutdown)."""
    runner = LocalRunner(store, processor, config)
    threading.Thread(target=runner.run, name="msw-audio-worker", daemon=True).start()
    return runner


# ---------------------------------------------------------------------- retention
def purge_jobs(store: Store, days: float, user: User) -> int:
    """Forget finished (done/failed) jobs older than ``days``; their files go too."""
    user.require("session.erase")
    cutoff: datetime = utcnow() - timedelta(days=days)
    with store.tx() as s:
        old = list(
            s.scalars(select(Job).where(Job.state.in_(("done", "failed")), Job.created_at < cutoff))
        )
        ids = [j.id for j in old]
        files = [(j.audio_sha256, j.ext) for j in old]
        s.execute(delete(Job).where(Job.id.in_(ids)))
        store.audit(s, user, "jobs.purge", "", "", jobs=len(ids))
    for jid in ids:
        shutil.rmtree(store.paths.job_dir(jid), ignore_errors=True)
    for sha, ext in files:
        if store.session_for_hash(sha) is None:
            (store.paths.incoming / f"{sha}{ext}").unlink(missing_ok=True)
    return len(ids)
