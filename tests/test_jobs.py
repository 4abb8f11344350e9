"""Processing jobs: bad uploads refused, atomic claims, resume after SIGKILL, erasure.

The glue tests (queue, claim, progress, ingest) use ``fake_processor_for_glue_test`` in
place of the speech models; the tests marked ``slow`` run the real pipeline on real audio.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import wave
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest

from msw_audio.cli import main as cli
from msw_audio.errors import AudioError, MswError, PermissionDenied
from msw_audio.jobs import queue as jobs
from msw_audio.jobs.queue import JobConfig, claim, enqueue, list_jobs, recover_stale, run_worker
from msw_audio.review.db import Job, utcnow
from msw_audio.review.store import Store
from msw_audio.speech.audio import sha256_file
from tests.store_helpers import (
    DEMO,
    JFK,
    build_session,
    dump_rows_with,
    scan_for,
    write_session_dir,
)


@pytest.fixture()
def evaluator(store: Store):
    return store.add_user("eva", "evaluator", "eva-password")


def fake_processor_for_glue_test(audio: Path, out_dir: Path, cache_dir: Path, progress) -> None:
    """Stands in for the speech pipeline in glue tests: stages, a cache entry, session.json."""
    sha = sha256_file(audio)
    for stage in ("decode", "transcribe", "diarize", "align", "tag", "score", "write"):
        progress(stage, 0.0)
        progress(stage, 1.0)
    (cache_dir / sha).mkdir(parents=True, exist_ok=True)
    (cache_dir / sha / "transcribe-test.json").write_text('{"result": []}')
    write_session_dir(out_dir, build_session(sha, str(audio)))


def _wav(path: Path, seconds: float, amplitude: float = 0.3) -> Path:
    t = np.arange(int(16000 * seconds)) / 16000
    samples = (amplitude * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.tobytes())
    return path


def _video_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _bad_uploads(d: Path) -> list[tuple[Path, dict, str]]:
    """(file, meta, expected message part) for every way an upload can be bad."""
    d.mkdir()
    empty = d / "empty.wav"
    empty.write_bytes(b"")
    text = d / "notes.wav"
    text.write_text("this is not a recording\n" * 50)
    corrupt = d / "corrupt.flac"
    corrupt.write_bytes(JFK.read_bytes()[:3000] + os.urandom(20000))
    good = d / "good.flac"
    shutil.copy(JFK, good)
    return [
        (d / "missing.wav", {}, "not found"),
        (empty, {}, "empty"),
        (text, {}, "not a readable audio"),
        (_video_only(d / "video.mp4"), {}, "no audio track"),
        (_wav(d / "short.wav", 0.4), {}, "at least"),
        (_wav(d / "silent.wav", 3.0, amplitude=0.0), {}, "silent"),
        (corrupt, {}, "corrupt"),
        (d / "agenda.txt", {}, "not a supported recording type"),
        (good, {"filename": "../../x.wav"}, "path or shell character"),
        (good, {"filename": "..\\..\\x.wav"}, "path or shell character"),
        (good, {"filename": "visit;rm -rf ~.flac"}, "path or shell character"),
        (good, {"filename": "$(reboot).flac"}, "path or shell character"),
        (good, {"filename": "`id`.flac"}, "path or shell character"),
        (good, {"filename": "visit\n.flac"}, "control characters"),
        (good, {"filename": "-rf.flac"}, "not accepted"),
    ]


def test_every_bad_upload_is_refused_and_nothing_escapes(store: Store, evaluator, tmp_path: Path):
    uploads = tmp_path / "uploads"
    cases = _bad_uploads(uploads)
    (uploads / "agenda.txt").write_text("not audio")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "data" not in p.parts)
    for path, meta, message in cases:
        with pytest.raises(MswError, match=message) as info:
            enqueue(store, path, evaluator, meta)
        assert "\n" not in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(AudioError, match="upload limit"):
        enqueue(store, JFK, evaluator, config=JobConfig(max_upload_bytes=100_000))
    with pytest.raises(AudioError, match="maximum"):
        enqueue(store, JFK, evaluator, config=JobConfig(max_duration=5.0))
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "data" not in p.parts)
    assert after == before  # nothing written next to the data folder
    assert not (tmp_path.parent / "x.wav").exists() and not Path("x.wav").exists()
    assert list(store.paths.incoming.iterdir()) == []
    assert list_jobs(store, evaluator) == []


def test_upload_is_stored_by_hash_and_identical_audio_is_not_queued_twice(
    store: Store, evaluator, tmp_path: Path
):
    unicode_name = tmp_path / "Zoë 会話 (1).flac"
    shutil.copy(JFK, unicode_name)
    job_id = enqueue(store, unicode_name, evaluator, {"team": "North"})
    sha = sha256_file(JFK)
    assert [p.name for p in store.paths.incoming.iterdir()] == [f"{sha}.flac"]
    assert enqueue(store, JFK, evaluator) == job_id  # same audio, other name
    (info,) = list_jobs(store, evaluator)
    assert (info.id, info.state, info.source_name) == (job_id, "queued", "Zoë 会話 (1).flac")
    with pytest.raises(PermissionDenied):
        enqueue(store, JFK, store.add_user("cora", "coach", "coach-password"))


def test_worker_runs_jobs_to_sessions_with_progress_glue(store: Store, evaluator, tmp_path: Path):
    job_id = enqueue(store, JFK, evaluator, {"team": "North", "worker": "w1"})
    seen: list[tuple[str, float]] = []
    original = jobs._Reporter.__call__

    def spy(self, stage, fraction):
        original(self, stage, fraction)
        info = jobs.get_job(store, job_id, evaluator)
        seen.append((info.stage, info.progress))

    jobs._Reporter.__call__ = spy
    try:
        assert run_worker(store, once=True, processor=fake_processor_for_glue_test) == 1
    finally:
        jobs._Reporter.__call__ = original
    info = jobs.get_job(store, job_id, evaluator)
    assert info.state == "done" and info.progress == 1.0 and info.error is None
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and {"transcribe", "diarize"} <= {s for s, _ in seen}
    session = store.get_session(info.session_id, evaluator)
    assert session.audio.path == "jfk.flac" and len(session.utterances) == 8
    assert store.list_sessions(evaluator)[0].team == "North"
    assert list(store.paths.incoming.iterdir()) == []  # moved into audio/
    assert not store.paths.job_dir(job_id).exists()
    assert store.audio_file(info.session_id, evaluator).name == f"{session.audio.sha256}.flac"
    # the same recording again is recognised, not processed again
    assert (
        jobs.get_job(store, enqueue(store, JFK, evaluator), evaluator).session_id == info.session_id
    )


def test_failed_job_keeps_a_clear_error_and_can_be_retried(store: Store, evaluator):
    def broken_processor_for_glue_test(audio, out_dir, cache_dir, progress):
        progress("transcribe", 0.5)
        raise AudioError("'jfk.flac' is corrupt after 3.0 s of audio (Invalid data)")

    job_id = enqueue(store, JFK, evaluator)
    run_worker(store, once=True, processor=broken_processor_for_glue_test)
    info = jobs.get_job(store, job_id, evaluator)
    assert info.state == "failed" and "corrupt after 3.0 s" in info.error
    assert store.list_sessions(evaluator) == []
    assert enqueue(store, JFK, evaluator) == job_id  # retry re-queues the same job
    assert jobs.get_job(store, job_id, evaluator).state == "queued"
    run_worker(store, once=True, processor=fake_processor_for_glue_test)
    assert jobs.get_job(store, job_id, evaluator).state == "done"


def _add_jobs(store: Store, n: int) -> list[str]:
    with store.tx() as s:
        ids = [f"jtest{i:04d}" for i in range(n)]
        for i, jid in enumerate(ids):
            s.add(Job(id=jid, audio_sha256=f"{i:064x}", ext=".wav", state="queued"))
    return ids


def _claim_all(data_dir: str, worker: str, start_at: float) -> list[str]:
    st = Store.open(Path(data_dir))
    time.sleep(max(0.0, start_at - time.time()))
    got = []
    while (job_id := claim(st, worker)) is not None:
        got.append(job_id)
    st.close()
    return got


def test_two_workers_never_take_the_same_job(store: Store):
    ids = _add_jobs(store, 40)
    start = time.time() + 3.0
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_claim_all, str(store.data_dir), f"w{i}", start) for i in (1, 2)]
        a, b = (f.result(timeout=120) for f in futures)
    assert not set(a) & set(b)
    assert sorted(a + b) == ids
    with store.tx() as s:
        rows = {j.id: j.worker_id for j in s.query(Job)}
    assert {rows[j] for j in a} <= {"w1"} and {rows[j] for j in b} <= {"w2"}


def test_a_job_whose_worker_died_is_requeued_then_given_up(store: Store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ids = _add_jobs(store, 3)
    now = utcnow()
    with store.tx() as s:
        a, b, c = (s.get(Job, i) for i in ids)
        a.state, a.host, a.pid, a.heartbeat_at, a.attempts = (
            "running",
            os.uname().nodename,
            dead.pid,
            now,
            1,
        )
        b.state, b.host, b.pid, b.attempts = "running", "elsewhere", 1, 1
        b.heartbeat_at = now - timedelta(minutes=10)
        c.state, c.host, c.pid, c.heartbeat_at = "running", os.uname().nodename, os.getpid(), now
    assert sorted(recover_stale(store)) == ids[:2]  # c is alive and beating
    assert claim(store, "w") in ids[:2]
    with store.tx() as s:
        s.get(Job, ids[0]).attempts = 3
        s.get(Job, ids[0]).state, s.get(Job, ids[0]).pid = "running", dead.pid
    recover_stale(store, JobConfig(max_attempts=3))
    with store.tx() as s:
        assert s.get(Job, ids[0]).state == "failed"
        assert "stopped 3 times" in s.get(Job, ids[0]).error


def test_erase_removes_the_job_upload_cache_and_session(store: Store, evaluator, tmp_path: Path):
    admin = store.add_user("root", "admin", "admin-password")
    job_id = enqueue(store, JFK, evaluator)
    run_worker(store, once=True, processor=fake_processor_for_glue_test)
    sid = jobs.get_job(store, job_id, evaluator).session_id
    sha = sha256_file(JFK)
    store.erase_session(sid, admin)
    hits = scan_for(store.data_dir, [sha, job_id])
    assert hits[sha] == [] and hits[job_id] in ([], ["msw-audio.db"])
    rows = dump_rows_with(store.paths.db, job_id)  # only "who did what to which id, when"
    assert all(r.startswith('INSERT INTO "audit_log"') for r in rows)
    assert list_jobs(store, admin) == []
    assert store.session_for_hash(sha) is None


def test_cli_enqueue_folder_worker_and_jobs(tmp_path: Path, capsys):
    data = tmp_path / "data"
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(JFK, folder / "sub" / "a.flac")
    (folder / "readme.txt").write_text("not audio")
    assert cli.main(["enqueue", str(folder), "--data", str(data), "--team", "North"]) == 0
    assert "1 queued, 0 refused" in capsys.readouterr().out
    assert cli.main(["jobs", "--data", str(data), "--json"]) == 0
    (job,) = json.loads(capsys.readouterr().out)
    assert job["state"] == "queued" and job["source_name"] == "a.flac"
    bad = tmp_path / "bad;name.wav"
    shutil.copy(JFK, bad)
    assert cli.main(["enqueue", str(bad), "--data", str(data)]) == 1
    assert "refused" in capsys.readouterr().err


# ------------------------------------------------------------------ real pipeline (slow)
def _worker_cmd(data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "msw_audio.cli", "worker", "--data", str(data), *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _comparable(session) -> list[tuple]:
    return [
        (u.speaker, round(u.start, 2), round(u.end, 2), u.text, [c.code for c in u.codes])
        for u in session.utterances
    ]


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """The demo and the JFK clip enqueued and run by one real worker (models loaded once)."""
    data = tmp_path_factory.mktemp("processed") / "data"
    st = Store.open(data)
    admin = st.add_user("root", "admin", "admin-password")
    ids = {
        name: enqueue(st, path, admin, {"team": "North"})
        for name, path in (("demo", DEMO), ("jfk", JFK))
    }
    log: list[str] = []
    assert run_worker(st, once=True, log=log.append) == 2
    yield st, admin, ids, log
    st.close()


@pytest.mark.slow
def test_demo_is_enqueued_processed_and_ingested_end_to_end(processed):
    st, admin, ids, log = processed
    info = jobs.get_job(st, ids["demo"], admin)
    assert info.state == "done" and info.progress == 1.0, info.error
    assert any(line.endswith(": transcribe") for line in log)
    session = st.get_session(info.session_id, admin)
    assert session.audio.path == "demo.ogg" and len(session.utterances) > 10
    assert {s.role for s in session.speakers} & {"practitioner"}
    assert session.utterances[0].codes and set(session.scores["principles"]) >= {"empathy"}
    assert st.audio_file(info.session_id, admin).read_bytes() == DEMO.read_bytes()
    assert st.list_sessions(admin)[0].team == "North"
    assert list(st.paths.incoming.iterdir()) == []


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(processed, tmp_path: Path):
    st, admin, ids, _ = processed
    reference = st.get_session(jobs.get_job(st, ids["jfk"], admin).session_id, admin)

    data = tmp_path / "data"
    assert cli.main(["enqueue", str(JFK), "--data", str(data)]) == 0
    cache = data / "cache" / sha256_file(JFK)
    worker = subprocess.Popen(_worker_cmd(data), env=_env(), stdout=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not list(cache.glob("transcribe-*.json")) and time.time() < deadline:
        assert worker.poll() is None, "worker exited before it was killed"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)  # mid-diarization: transcription is cached, no session
    worker.wait()
    cached = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.json")}
    assert any(n.startswith("transcribe-") for n in cached)
    with Store.open(data) as killed_store:
        user = killed_store.add_user("root", "admin", "admin-password")
        (killed,) = list_jobs(killed_store, user)
        assert killed.state == "running" and killed_store.list_sessions(user) == []

    # two workers restart at once: exactly one takes the recovered job, the other finds none
    restarted = [
        subprocess.Popen(_worker_cmd(data, "--once"), env=_env(), stdout=subprocess.DEVNULL)
        for _ in range(2)
    ]
    assert [w.wait(timeout=900) for w in restarted] == [0, 0]
    with Store.open(data) as resumed_store:
        (resumed,) = list_jobs(resumed_store, user)
        assert resumed.state == "done" and resumed.attempts == 2, resumed.error
        assert len(resumed_store.list_sessions(user)) == 1  # no duplicate session
        again = resumed_store.get_session(resumed.session_id, user)
        actions = [a["action"] for a in resumed_store.audit_log(user)]
        assert actions.count("job.recover") == 1 and actions.count("session.ingest") == 1
    for name, mtime in cached.items():  # finished stages were reused, not recomputed
        assert (cache / name).stat().st_mtime_ns == mtime
    # like with like: both runs used the same recorded thread settings (not the env's)
    for stage in ("asr", "diarization"):
        assert again.models[stage]["threads"] == reference.models[stage]["threads"]
    assert _comparable(again) == _comparable(reference)
    assert again.scores == reference.scores
