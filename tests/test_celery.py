"""The Celery engine on real services: Redis, PostgreSQL, Celery worker processes, real models.

Each test starts its own throw-away redis-server (or uses ``$MSW_TEST_REDIS_URL``) and
PostgreSQL server (``tests.test_store_postgres.pg_url``) on free ports, one fresh database
and data folder per test, and real ``msw-audio worker --engine celery`` processes. Skipped
only when celery/redis (Python) or redis-server are missing; ``scripts/install.sh``
installs them so CI never skips.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from msw_audio.jobs.queue import JobConfig, enqueue, list_jobs, run_worker, submit
from msw_audio.review.db import Job
from msw_audio.review.store import Store
from tests import test_store_postgres
from tests.store_helpers import DEMO, JFK, REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("celery") is None or importlib.util.find_spec("redis") is None,
        reason="celery/redis not installed (scripts/install.sh installs them)",
    ),
]

_pg_url = test_store_postgres.pg_url  # the throw-away PostgreSQL server fixture
THREE = REPO / "tests" / "data" / "three_speakers" / "three_speakers.ogg"
SAMPLE = Path(importlib.util.find_spec("pyannote.audio").origin).parent / "sample" / "sample.wav"
THREADS = 1  # per model stage, the same for the local reference and the Celery workers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of our own with an append-only file, so a restart keeps its queue."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, _free_port()
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        import redis

        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if os.environ.get("MSW_TEST_REDIS_URL"):
        yield os.environ["MSW_TEST_REDIS_URL"]
        return
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (scripts/install.sh installs it)")
    root = Path(tempfile.mkdtemp(prefix="msw-redis-"))
    server = RedisServer(root)
    server.start()
    server_holder.append(server)
    try:
        yield server.url
    finally:
        server.stop()
        server_holder.remove(server)
        shutil.rmtree(root, ignore_errors=True)


server_holder: list[RedisServer] = []  # the module's own server, for the restart test


def _fresh_db(pg_url: str, name: str) -> str:
    eng = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    eng.dispose()
    return pg_url.replace("/postgres?", f"/{name}?")


def _flush(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


class Cluster:
    """One data folder + one database + N Celery worker processes on one broker."""

    def __init__(self, tmp: Path, db_url: str, broker: str, workers: int) -> None:
        self.data, self.db_url, self.broker = tmp / "data", db_url, broker
        self.store = Store.open(self.data, url=db_url)
        self.admin = self.store.add_user("root", "admin", "admin-password")
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.procs = [self.start_worker(i) for i in range(workers)]

    def start_worker(self, i: int) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "msw_audio.cli", "worker", "--engine", "celery",
               "--broker", self.broker, "--db-url", self.db_url, "--data", str(self.data),
               "--threads", str(THREADS), "--sweep-seconds", "2"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"}
        out = open(self.logs / f"worker{i}.log", "ab")  # noqa: SIM115 - closed with the proc
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def enqueue(self, path: Path, config: JobConfig | None = None) -> str:
        job_id = enqueue(self.store, path, self.admin, {"team": "North"}, config)
        submit(job_id, "celery", self.broker)
        return job_id

    def wait(self, ids: list[str], timeout: float = 900) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            states = {j.id: j.state for j in list_jobs(self.store, self.admin)}
            if all(states.get(i) in ("done", "failed") for i in ids):
                return
            for p in self.procs:
                if p.poll() is not None and p.returncode != -signal.SIGKILL:
                    raise AssertionError(f"a worker exited: {self.log_text()}")
            time.sleep(0.5)
        raise AssertionError(f"jobs not finished in {timeout} s: {states}\n{self.log_text()}")

    def log_text(self, tail: int = 3000) -> str:
        """The workers' logs (the last ``tail`` characters of each, 0: all of it)."""
        return "\n".join(
            p.read_text(errors="replace")[-tail:] for p in sorted(self.logs.glob("*.log"))
        )

    def runs(self) -> int:
        """How many times a worker started running a job (from the full logs)."""
        return self.log_text(tail=0).count(": running\n")

    def actions(self) -> list[str]:
        return [a["action"] for a in self.store.audit_log(self.admin, limit=100000)]

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        self.store.close()


@pytest.fixture()
def cluster(request, _pg_url: str, redis_url: str, tmp_path: Path):
    made: list[Cluster] = []

    def make(workers: int = 2) -> Cluster:
        _flush(redis_url)
        db = _fresh_db(_pg_url, f"msw_{request.node.name[5:40].lower()}")
        made.append(Cluster(tmp_path, db, redis_url, workers))
        return made[-1]

    yield make
    for c in made:
        c.close()


def _comparable(session) -> list[tuple]:
    return [
        (u.speaker, round(u.start, 2), round(u.end, 2), u.text, [c.code for c in u.codes])
        for u in session.utterances
    ]


def _threads_config() -> JobConfig:
    from msw_audio.pipeline import PipelineConfig

    base = PipelineConfig()
    return JobConfig(
        pipeline_config=replace(
            base,
            transcribe=replace(base.transcribe, threads=THREADS),
            diarize=replace(base.diarize, threads=THREADS),
        )
    )


def test_two_celery_workers_process_four_recordings_once_like_the_local_runner(
    cluster, tmp_path: Path
):
    recordings = {"demo": DEMO, "jfk": JFK, "three": THREE, "sample": SAMPLE}
    c = cluster(2)
    ids = {name: c.enqueue(path) for name, path in recordings.items()}

    # the embedded engine on SQLite, same recordings and settings, while Celery works
    local = Store.open(tmp_path / "local")
    admin = local.add_user("root", "admin", "admin-password")
    local_ids = {n: enqueue(local, p, admin, {"team": "North"}) for n, p in recordings.items()}
    assert run_worker(local, once=True, config=_threads_config()) == 4

    c.wait(list(ids.values()))
    infos = {j.id: j for j in list_jobs(c.store, c.admin)}
    for name, jid in ids.items():
        info = infos[jid]
        assert info.state == "done" and info.attempts == 1, (name, info.error, c.log_text())
        ref = local.get_session(jobs_session(local, admin, local_ids[name]), admin)
        got = c.store.get_session(info.session_id, c.admin)
        assert _comparable(got) == _comparable(ref), name
        assert got.scores == ref.scores, name
    actions = c.actions()
    assert actions.count("session.ingest") == 4 and actions.count("job.done") == 4
    assert len(c.store.list_sessions(c.admin)) == 4
    # both workers took jobs (the broker spread them), each job ran on one
    with c.store.rtx() as s:
        assert s.scalar(select(Job.id).where(Job.state == "running")) is None
    assert c.runs() == 4
    local.close()


def jobs_session(store: Store, user, job_id: str) -> str:
    from msw_audio.jobs.queue import get_job

    sid = get_job(store, job_id, user).session_id
    assert sid
    return sid


def test_sigkill_a_worker_in_a_model_stage_the_other_finishes_the_job_once(cluster):
    c = cluster(2)
    job_id = c.enqueue(SAMPLE)
    deadline, pid = time.time() + 600, None
    while time.time() < deadline:
        with c.store.rtx() as s:
            j = s.get(Job, job_id)
            if j.state == "running" and j.stage in ("transcribe", "diarize"):
                pid = j.pid
                break
        time.sleep(0.1)
    assert pid in {p.pid for p in c.procs}, c.log_text()
    os.kill(pid, signal.SIGKILL)
    c.wait([job_id], timeout=600)
    (info,) = list_jobs(c.store, c.admin)
    assert info.state == "done" and info.attempts == 2, (info.error, c.log_text())
    assert len(c.store.list_sessions(c.admin)) == 1
    actions = c.actions()
    assert actions.count("job.recover") == 1 and actions.count("session.ingest") == 1
    with c.store.rtx() as s:
        finished_by = s.get(Job, job_id).worker_id
        assert s.scalar(select(Job.id).where(Job.state == "running")) is None
    survivor = next(p.pid for p in c.procs if p.pid != pid)
    assert f":{survivor}:" in finished_by


def test_redis_stopped_mid_queue_and_restarted_loses_and_duplicates_nothing(cluster, redis_url):
    if not server_holder:
        pytest.skip("the broker is not ours to stop ($MSW_TEST_REDIS_URL)")
    server = server_holder[0]
    c = cluster(1)
    ids = [c.enqueue(p) for p in (JFK, SAMPLE, THREE)]
    deadline = time.time() + 600
    while time.time() < deadline:  # the first job is running, the others wait in Redis
        if any(j.state == "running" for j in list_jobs(c.store, c.admin)):
            break
        time.sleep(0.1)
    server.stop()
    time.sleep(5)
    server.start()
    c.wait(ids, timeout=900)
    infos = list_jobs(c.store, c.admin)
    assert [j.state for j in infos] == ["done"] * 3, [j.error for j in infos]
    actions = c.actions()
    assert actions.count("session.ingest") == 3 and actions.count("job.done") == 3
    assert len(c.store.list_sessions(c.admin)) == 3


def test_a_failing_recording_ends_failed_with_its_error_once(cluster, tmp_path: Path):
    c = cluster(1)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF" + os.urandom(4000))  # not audio; only the worker decodes it
    job_id = c.enqueue(broken, JobConfig(validate_audio=False))
    c.wait([job_id], timeout=300)
    time.sleep(6)  # three sweeps: a failed job is never published or run again
    (info,) = list_jobs(c.store, c.admin)
    assert info.state == "failed" and info.attempts == 1
    assert "is not a readable audio or video file" in info.error, info.error
    assert c.actions().count("job.failed") == 1
    assert c.runs() == 1
