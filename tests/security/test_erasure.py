"""Complete erasure: every copy of a session goes, even while a reader holds the database
open; queued and running jobs are stopped and leave nothing; the audit row names only
who erased which id. Real store, real SQLite in WAL mode, real recordings."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from msw_audio.errors import InputError
from msw_audio.jobs.queue import claim, enqueue, run_job
from msw_audio.review.auth import system_user
from tests.conftest_app import DEMO_AUDIO, make_store

THREE = Path(__file__).resolve().parents[1] / "data" / "three_speakers" / "three_speakers.ogg"


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [f for f in root.rglob("*") if f.is_file() and needle in f.read_bytes()]


def test_erase_under_an_open_read_transaction_leaves_no_trace(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    store, sid = make_store(tmp_path / "data")
    admin = system_user("test")
    data = store.data_dir
    with store.rtx() as s:
        from msw_audio.review.db import SessionRow

        row = s.get(SessionRow, sid)
        sha, family = row.recording_sha256, row.family
        phrase = max((u.text for u in row.utterances), key=len)[:60]
    store.set_code(sid, "u0002", "complex_reflection", store.get_user("eva"))
    # copies that live outside the rows: an upload waiting in Gradio's folder, a handout,
    # a half-written export, `msw-audio process`'s per-user cache of the same recording
    (data / "uploads" / "tmp1").mkdir(parents=True)
    shutil.copy(DEMO_AUDIO, data / "uploads" / "tmp1" / "visit.ogg")
    (data / "handouts" / sid).mkdir(parents=True)
    (data / "handouts" / sid / "handout.txt").write_text(phrase)
    (data / "cache" / "exports").mkdir(parents=True, exist_ok=True)
    (data / "cache" / "exports" / "x-labels.csv.partial").write_text(phrase)
    (tmp_path / "user-cache" / "msw-audio" / sha).mkdir(parents=True)
    (tmp_path / "user-cache" / "msw-audio" / sha / "transcribe.json").write_text(phrase)
    job = enqueue(store, THREE, admin)  # an unrelated queued job must survive

    reader = sqlite3.connect(data / "msw-audio.db", check_same_thread=False)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM utterances").fetchone()[0] > 0  # snapshot held
    threading.Timer(1.5, reader.rollback).start()  # the reader finishes while erase waits
    t0 = time.monotonic()
    report = store.erase_session(sid, admin)
    reader.close()
    assert time.monotonic() - t0 >= 1.0  # it waited for the reader instead of giving up
    assert report.complete, (report.checkpointed, report.traces)
    wal = data / "msw-audio.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    for needle in (sha.encode(), family.encode(), phrase.encode()):
        assert _files_holding(data, needle) == [], needle
        assert _files_holding(tmp_path / "user-cache", needle) == []
    assert not (data / "uploads" / "tmp1").exists()
    assert not (data / "handouts" / sid).exists()
    assert not list(data.rglob("*.partial"))
    assert not (tmp_path / "user-cache" / "msw-audio" / sha).exists()
    entry = next(a for a in store.audit_log(admin) if a["action"] == "session.erase")
    assert entry["target_id"] == sid and entry["user"] == "cli:test" and entry["detail"] == {}
    assert entry["at"]
    assert store.erase_job(job, admin).complete  # the queued job: row and upload copy gone
    assert not list((data / "incoming").iterdir())
    with pytest.raises(InputError):
        store.erase_job(job, admin)
    store.close()


def test_a_running_job_is_stopped_by_erasure_and_leaves_nothing(tmp_path):
    store, _ = make_store(tmp_path / "data")
    admin = system_user("test")
    job = enqueue(store, THREE, admin)
    assert claim(store, "w1") == job
    stopped = threading.Event()
    steps: list[int] = []

    def slow_fake_processor(audio, out_dir, cache_dir, progress):  # glue test: a fake stage
        sha_dir = cache_dir / audio.stem
        sha_dir.mkdir(parents=True, exist_ok=True)
        (sha_dir / "stage.json").write_text("partial")
        try:
            for i in range(200):
                steps.append(i)
                progress("transcribe", i / 200)
                time.sleep(0.05)
        finally:
            stopped.set()

    worker = threading.Thread(target=lambda: _quiet(run_job, store, job, slow_fake_processor,
                                                    worker_id="w1"))
    worker.start()
    while len(steps) < 5:
        time.sleep(0.05)
    report = store.erase_job(job, admin)
    worker.join(timeout=30)
    assert stopped.is_set() and len(steps) < 200  # stopped at a progress report
    assert report.checkpointed
    data = store.data_dir
    assert not list((data / "incoming").iterdir())
    assert not any(p.name != "exports" for p in (data / "cache").iterdir()
                   if p.is_dir() and len(p.name) == 64)
    assert not list((data / "jobs").iterdir())
    assert store.list_sessions(admin) and len(store.list_sessions(admin)) == 1  # no new one
    store.close()


def _quiet(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    try:
        return fn(*args, **kwargs)
    except InputError:
        return None
