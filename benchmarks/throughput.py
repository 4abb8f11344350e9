"""Throughput: recordings per hour with 1 and 2 worker processes, local engine and Celery.

The same 6 recordings every run (the demo, JFK, the three-speaker test session, pyannote's
sample, two AMI clips), real models, a fresh data folder per run (no stage cache carried
over), wall time from the workers' start (model loading included) to the last job done.
Celery runs start their own redis-server on a free port unless ``--broker`` is given; both
engines use the SQLite store of one data folder (``--db-url`` for PostgreSQL).

    nice -n 10 .venv/bin/python benchmarks/throughput.py --markdown
    .venv/bin/python benchmarks/throughput.py --device cuda --model DIR   # a GPU worker's RTF

Cost per recording-hour = machine price per hour / recording-hours processed per hour
(``--price-per-hour``, default 0.10: an on-demand 2-vCPU cloud VM, an assumption).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def recordings() -> list[Path]:
    shared = Path(os.environ.get("MSW_SHARED", REPO.parent / "shared")).resolve()
    sample = Path(importlib.util.find_spec("pyannote.audio").origin).parent / "sample"
    return [
        REPO / "msw_audio" / "demo" / "demo.ogg",
        shared / "data" / "audio" / "jfk.flac",
        REPO / "tests" / "data" / "three_speakers" / "three_speakers.ogg",
        sample / "sample.wav",
        shared / "data" / "audio" / "ami-clips" / "trn00.wav",
        shared / "data" / "audio" / "ami-clips" / "trn01.wav",
    ]


def duration(path: Path) -> float:
    from msw_audio.speech.audio import SAMPLE_RATE, load_audio

    return len(load_audio(path)) / SAMPLE_RATE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(root: Path) -> tuple[subprocess.Popen, str]:
    import redis

    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root),
         "--appendonly", "yes", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            redis.Redis(port=port).ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def run_once(engine: str, workers: int, args: argparse.Namespace, work: Path) -> dict:
    """Enqueue the recordings in a fresh data folder, run ``workers`` workers, time them."""
    from msw_audio.jobs.queue import enqueue, list_jobs, submit
    from msw_audio.review.auth import system_user
    from msw_audio.review.store import Store

    data = work / f"{engine}-{workers}" / "data"
    store = Store.open(data, url=args.db_url)
    admin = system_user("bench")
    redis_proc, broker = None, args.broker
    if engine == "celery" and broker is None:
        redis_proc, broker = start_redis(data.parent)
    ids = [enqueue(store, p, admin) for p in recordings()]
    cmd = [sys.executable, "-m", "msw_audio.cli", "worker", "--data", str(data)]
    cmd += ["--db-url", args.db_url] if args.db_url else []
    cmd += ["--device", args.device] if args.device != "cpu" else []
    cmd += ["--model", args.model] if args.model else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    if engine == "celery":
        cmd += ["--engine", "celery", "--broker", broker]
    else:
        cmd += ["--once"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"}
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    if engine == "celery":
        for jid in ids:
            submit(jid, "celery", broker)
    try:
        while True:
            states = [j.state for j in list_jobs(store, admin)]
            if all(s in ("done", "failed") for s in states):
                break
            if engine == "local" and all(p.poll() is not None for p in procs):
                break
            time.sleep(0.5)
        wall = time.monotonic() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=120)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=30)
    jobs = list_jobs(store, admin)
    store.close()
    failed = [j.error for j in jobs if j.state != "done"]
    if failed:
        raise RuntimeError(f"{engine}/{workers}: jobs not done: {failed}")
    return {"engine": engine, "workers": workers, "wall": wall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="local,celery")
    ap.add_argument("--workers", default="1,2", help="worker process counts to run")
    ap.add_argument("--broker", default=None, help="an existing broker (default: start one)")
    ap.add_argument("--db-url", default=None, help="PostgreSQL instead of SQLite")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (transcription)")
    ap.add_argument("--model", default=None, help="Whisper model name or CTranslate2 folder")
    ap.add_argument("--threads", type=int, default=None, help="threads per model stage")
    ap.add_argument("--price-per-hour", type=float, default=0.10, help="machine cost per hour")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    if args.device != "cpu":  # a GPU worker: one local worker, its real-time factor
        args.engines, args.workers = "local", "1"

    audio_s = sum(duration(p) for p in recordings())
    n = len(recordings())
    print(f"{n} recordings, {audio_s / 60:.1f} min of audio; {os.cpu_count()} CPU cores; "
          f"device {args.device}, model {args.model or 'tiny.en'}", flush=True)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="msw-throughput-"))
    try:
        for engine in args.engines.split(","):
            for workers in map(int, args.workers.split(",")):
                r = run_once(engine, workers, args, work)
                r["rec_per_h"] = n / r["wall"] * 3600
                r["audio_h_per_h"] = audio_s / r["wall"]
                r["rtf"] = r["wall"] / audio_s
                r["cost"] = args.price_per_hour / r["audio_h_per_h"]
                rows.append(r)
                print(f"{engine} x{workers}: {r['wall']:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    head = ("engine", "workers", "wall s", "recordings/h", "recording-h/h", "RTF",
            f"cost/recording-h (at {args.price_per_hour:.2f}/machine-h)")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print("  ".join(head))
    for r in rows:
        cells = (r["engine"], str(r["workers"]), f"{r['wall']:.1f}", f"{r['rec_per_h']:.0f}",
                 f"{r['audio_h_per_h']:.2f}", f"{r['rtf']:.3f}", f"{r['cost']:.3f}")
        print(("| " + " | ".join(cells) + " |") if args.markdown else "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
