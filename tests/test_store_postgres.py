"""The store and the job queue on a real, throw-away PostgreSQL server.

Skipped when PostgreSQL's ``initdb`` or the ``psycopg`` driver is not installed. As root,
the server runs as the ``postgres`` system user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
from sqlalchemy import text

from msw_audio.errors import InputError, PermissionDenied
from msw_audio.jobs.queue import claim
from msw_audio.review.db import Job
from msw_audio.review.store import Store
from tests.store_helpers import JFK, build_session, migration_head, scan_for, write_session_dir


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="module")
def pg_url():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl) or importlib.util.find_spec("psycopg") is None:
        pytest.skip("PostgreSQL (initdb) or psycopg not installed")
    root = Path(tempfile.mkdtemp(prefix="msw-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data, sock = root / "data", root
    run = lambda *cmd: subprocess.run(  # noqa: E731
        [*prefix, *cmd], check=True, capture_output=True, timeout=120
    )
    try:
        run(initdb, "-D", str(data), "-A", "trust", "-U", "msw", "--no-sync")
        run(
            pg_ctl,
            "-D",
            str(data),
            "-w",
            "-l",
            str(root / "log"),
            "-o",
            f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off",
            "start",
        )
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {exc}")
    try:
        yield f"postgresql+psycopg://msw@/postgres?host={sock}&port={port}"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_store_on_postgresql(pg_url: str, tmp_path: Path):
    from msw_audio.speech.audio import sha256_file

    with Store.open(tmp_path / "data", url=pg_url) as st:
        with st.engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert version == migration_head()
        ev = st.add_user("eva", "evaluator", "eva-password")
        admin = st.add_user("ada", "admin", "ada-password")
        coach = st.add_user("cora", "coach", "cora-password")
        sha = sha256_file(JFK)
        out = write_session_dir(tmp_path / "out", build_session(sha, str(JFK)))
        sid = st.ingest(out, ev, {"team": "North", "date": "2026-02-01"})
        assert st.ingest(out, ev) == sid
        st.set_code(sid, "u0000", "complex_reflection", ev)
        st.set_role(sid, "SPEAKER_01", "child", ev)
        st.confirm_score(sid, "empathy", 4.5, "warm", ev)
        with pytest.raises(PermissionDenied):
            st.set_code(sid, "u0000", "affirm", coach)
        session = st.get_session(sid, coach)
        assert session.utterances[0].codes[0].code == "complex_reflection"
        assert st.get_decisions(sid, coach)["scores"]["empathy"]["value"] == 4.5
        assert st.agreement(admin)["codes"]["n"] == 1
        with pytest.raises(Exception, match="append-only"):
            with st.engine.begin() as conn:
                conn.execute(text("DELETE FROM audit_log"))
        st.erase_session(sid, admin)
        with st.engine.connect() as conn:
            for table in ("sessions", "utterances", "suggestions", "decisions", "recordings"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        assert scan_for(st.data_dir, [sha])[sha] == []


def test_family_outcomes_on_postgresql(pg_url: str, tmp_path: Path):
    from msw_audio.review.auth import User

    ev, admin = User(name="eva", role="evaluator"), User(name="ada", role="admin")
    with Store.open(tmp_path / "data", url=pg_url) as st:
        st.add_family("Family P", "North", ev)
        st.add_goal("Family P", "Calmer bedtimes", "2026-09-01", ev)
        st.rate_goal("Family P", 1, 2, "2026-09-01", ev)
        bad = tmp_path / "bad.csv"
        bad.write_text("family,record,date,goal,rating\n"
                       "Family P,rating,2026-10-01,1,6\nFamily P,rating,2026-10-02,1,12\n")
        with pytest.raises(InputError, match="row 3: GBO rating 12"):
            st.import_family_csv(bad, ev)
        assert st.family_view("Family P", ev)["goals"][0]["latest"] == 2  # rolled back
        st.add_feedback("Family P", {"helpfulness": 5, "comment": "Kind"}, "2026-10-01", ev)
        assert st.erase_family("Family P", admin)["ratings"] == 1
        with st.engine.connect() as conn:
            for table in ("families", "family_goals", "goal_ratings", "family_feedback"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0


def _claim_all_pg(data_dir: str, url: str, worker: str, start_at: float) -> list[str]:
    st = Store.open(Path(data_dir), url=url)
    time.sleep(max(0.0, start_at - time.time()))
    got = []
    while (job_id := claim(st, worker)) is not None:
        got.append(job_id)
    st.close()
    return got


def test_two_workers_claim_distinct_jobs_on_postgresql(pg_url: str, tmp_path: Path):
    with Store.open(tmp_path / "data", url=pg_url) as st:
        with st.tx() as s:
            s.execute(text("DELETE FROM jobs"))
            ids = [f"jpg{i:04d}" for i in range(40)]
            for i, jid in enumerate(ids):
                s.add(Job(id=jid, audio_sha256=f"{i:064x}", ext=".wav", state="queued"))
    start = time.time() + 3.0
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_claim_all_pg, str(tmp_path / "data"), pg_url, f"w{i}", start)
            for i in (1, 2)
        ]
        a, b = (f.result(timeout=120) for f in futures)
    assert not set(a) & set(b)
    assert sorted(a + b) == ids


def test_pseudonyms_erasure_vacuum_and_pg_dump_backup_on_postgresql(pg_url: str, tmp_path: Path):
    """Migration 0007 on PostgreSQL: settings and pseudonyms work, erasure VACUUMs, and a
    pg_dump backup restores into an empty database with matching counts."""
    from msw_audio.review.auth import system_user
    from msw_audio.review.backup import backup, restore
    from msw_audio.speech.audio import sha256_file

    admin = system_user("test")
    with Store.open(tmp_path / "data", url=pg_url) as st:
        rex = st.add_user("rex", "researcher", "rex-password")
        st.add_user("pia", "practitioner", "pia-password", worker="Pia")
        out = write_session_dir(tmp_path / "out", build_session(sha256_file(JFK), str(JFK)))
        sid = st.ingest(out, admin, {"team": "North", "worker": "Pia", "family": "F-pg"})
        assert st.session_meta(sid, rex)["worker"].startswith("worker-")
        assert [x.id for x in st.list_sessions(st.get_user("pia"))] == [sid]
        assert st.set_setting("retention_days", "400", admin) == "400"
        backup(st, tmp_path / "b.tar")
        report = st.erase_session(sid, admin)
        assert report.checkpointed and st.list_sessions(admin) == []
        with st.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("CREATE DATABASE restored"))
    restored_url = pg_url.replace("/postgres?", "/restored?")
    result = restore(tmp_path / "b.tar", tmp_path / "restored", url=restored_url)
    assert result["ok"], result["problems"]
    assert result["counts"]["sessions"] == 1
