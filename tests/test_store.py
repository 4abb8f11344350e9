"""Review store: schema and migrations, users and permissions, decisions, exports, erasure."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from msw_audio.cli import main as cli
from msw_audio.errors import InputError, PermissionDenied
from msw_audio.records import PRINCIPLES
from msw_audio.review.auth import PERMISSIONS, USER_ROLES, User
from msw_audio.review.store import Store, safe_name
from msw_audio.speech.audio import sha256_file
from tests.store_helpers import (
    JFK,
    build_session,
    dump_rows_with,
    fake_sha,
    migration_head,
    scan_for,
    write_session_dir,
)


@pytest.fixture()
def users(store: Store) -> dict[str, User]:
    return {role: store.add_user(f"{role}1", role, f"{role}-password") for role in USER_ROLES}


@pytest.fixture()
def jfk_session(store: Store, users, tmp_path: Path) -> tuple[str, str]:
    """A session whose recording is the real 11 s JFK clip; returns (session id, sha256)."""
    sha = sha256_file(JFK)
    out = write_session_dir(tmp_path / "out", build_session(sha, str(JFK)))
    sid = store.ingest(
        out,
        users["evaluator"],
        {
            "worker": "w1",
            "team": "North",
            "date": "2026-01-10",
            "family": "F-017",
            "recording_type": "home visit",
        },
    )
    return sid, sha


def _ingest_plain(store: Store, user: User, tmp_path: Path, label: str, **meta) -> str:
    out = write_session_dir(tmp_path / f"out-{label}", build_session(fake_sha(label)))
    return store.ingest(out, user, meta)


def test_open_gives_migrated_sqlite_in_wal_with_foreign_keys(tmp_path: Path):
    data = tmp_path / "data"
    with Store.open(data) as st:
        with st.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == migration_head()
    assert (data / "msw-audio.db").is_file()
    for folder in ("audio", "incoming", "cache", "jobs"):
        assert (data / folder).is_dir()
    with Store.open(data):  # reopening an up-to-date store is a no-op
        pass


def test_passwords_are_hashed_and_checked(store: Store):
    store.add_user("eva", "evaluator", "correct horse")
    con = sqlite3.connect(store.paths.db)
    stored = con.execute("SELECT password_hash FROM users WHERE name='eva'").fetchone()[0]
    con.close()
    assert "correct horse" not in stored and stored.startswith("scrypt$")
    assert store.authenticate("eva", "correct horse").role == "evaluator"
    assert store.authenticate("eva", "wrong horse") is None
    assert store.authenticate("nobody", "correct horse") is None
    with pytest.raises(InputError, match="already exists"):
        store.add_user("eva", "coach", "another password")
    with pytest.raises(InputError, match="too short"):
        store.add_user("short", "coach", "abc")
    with pytest.raises(InputError, match="unknown role"):
        store.add_user("x", "superuser", "long enough pw")
    with pytest.raises(InputError, match="user name"):
        store.add_user("../etc", "coach", "long enough pw")


def test_role_permissions_are_enforced_on_the_server(store: Store, users, jfk_session):
    sid, _ = jfk_session
    coach, researcher = users["coach"], users["researcher"]
    evaluator, admin = users["evaluator"], users["admin"]
    for call in (
        lambda u: store.set_code(sid, "u0000", "affirm", u),
        lambda u: store.accept_code(sid, "u0000", u),
        lambda u: store.set_role(sid, "SPEAKER_01", "child", u),
        lambda u: store.confirm_score(sid, "empathy", 4, "", u),
        lambda u: store.mark_reviewed(sid, u),
    ):
        for u in (coach, researcher):
            with pytest.raises(PermissionDenied):
                call(u)
        call(evaluator)
    # researchers see exports, not audio, unless granted
    with pytest.raises(PermissionDenied):
        store.audio_file(sid, researcher)
    assert store.audio_file(sid, coach).is_file()
    granted = store.grant(researcher.name, "audio.listen", admin)
    assert store.audio_file(sid, granted).is_file()
    with pytest.raises(PermissionDenied):
        store.grant(coach.name, "audio.listen", evaluator)
    # only admins erase, manage users, read the audit log; coaches don't export
    for u in (evaluator, coach, researcher):
        with pytest.raises(PermissionDenied):
            store.erase_session(sid, u)
        with pytest.raises(PermissionDenied):
            store.audit_log(u)
    with pytest.raises(PermissionDenied):
        store.export_labels(Path("never.csv"), coach)
    assert not Path("never.csv").exists()
    # every action in the table is allowed for admin
    assert all(admin.can(a) for a in PERMISSIONS)


def test_ingest_is_content_addressed_and_idempotent(store: Store, users, tmp_path: Path):
    sha = sha256_file(JFK)
    hostile = tmp_path / "up" / "..;rm -rf ~ ＆ Zoë.flac"
    hostile.parent.mkdir()
    shutil.copy(JFK, hostile)
    out = write_session_dir(tmp_path / "out", build_session(sha, str(hostile)))
    sid = store.ingest(out, users["evaluator"], {"filename": "../../x.flac"})
    assert store.ingest(out, users["evaluator"]) == sid  # same audio -> same session
    files = list((store.data_dir / "audio").iterdir())
    assert [f.name for f in files] == [f"{sha}.flac"]
    session = store.get_session(sid, users["coach"])
    assert session.audio.path == "x.flac"  # metadata only, no folders
    assert safe_name("../../x.wav") == "x.wav" and safe_name("a\x00b\n.wav") == "ab.wav"
    assert len(store.list_sessions(users["coach"])) == 1


def test_ingest_rejects_mismatched_audio_and_bad_folders(store: Store, users, tmp_path: Path):
    out = write_session_dir(tmp_path / "out", build_session(fake_sha("other")))
    with pytest.raises(InputError, match="does not match"):
        store.ingest(out, users["evaluator"], audio_path=JFK)
    with pytest.raises(InputError, match="no session.json"):
        store.ingest(tmp_path / "empty", users["evaluator"])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "session.json").write_text("{not json")
    with pytest.raises(InputError, match="not a valid session.json"):
        store.ingest(tmp_path / "broken", users["evaluator"])


def test_every_decision_is_saved_at_once_audited_and_survives_reopen(
    store: Store, users, jfk_session
):
    sid, _ = jfk_session
    ev = users["evaluator"]
    assert store.list_sessions(ev)[0].status == "unreviewed"
    store.set_code(sid, "u0000", "closed_question", ev)
    store.set_code(sid, "u0000", "open_question", ev)  # changed again: old -> new kept
    assert store.accept_code(sid, "u0001", ev) == "neutral"
    store.set_role(sid, "SPEAKER_01", "child", ev)
    store.confirm_score(sid, "empathy", 4.5, "warm reflections", ev)
    summary = store.list_sessions(ev)[0]
    assert (summary.status, summary.n_confirmed, summary.n_utterances) == ("in_progress", 2, 8)

    data_dir = store.data_dir
    store.close()
    with Store.open(data_dir) as again:  # a fresh process sees everything
        session = again.get_session(sid, ev)
        u0 = session.utterances[0]
        assert (u0.codes[0].code, u0.codes[0].source) == ("open_question", "evaluator")
        assert [c.code for c in u0.codes].count("open_question") == 1
        assert session.role_of("SPEAKER_01") == "child"
        assert session.scores["principles"]["empathy"]["confirmed"] == 4.5
        assert session.scores["principles"]["empathy"]["note"] == "warm reflections"
        assert session.turns and session.turns[0].speaker == "SPEAKER_00"
        decisions = again.get_decisions(sid, ev)
        assert decisions["codes"]["u0000"]["code"] == "open_question"
        assert decisions["codes"]["u0000"]["suggested"] == "open_question"
        assert 0.0 < decisions["codes"]["u0000"]["suggested_probability"] <= 1.0
        assert decisions["codes"]["u0000"]["by"] == ev.name
        assert decisions["roles"]["SPEAKER_01"] == {
            "role": "child",
            "suggested": "parent",
            "by": ev.name,
            "at": decisions["roles"]["SPEAKER_01"]["at"],
        }
        assert decisions["scores"]["empathy"]["value"] == 4.5
        history = again.decision_history(sid, ev)
        codes = [(h["old"], h["new"]) for h in history if h["target"] == "u0000"]
        assert codes == [(None, "closed_question"), ("closed_question", "open_question")]
        again.mark_reviewed(sid, ev)
        assert again.get_decisions(sid, ev)["status"] == "reviewed"
        actions = [a["action"] for a in again.audit_log(users["admin"])]
        assert actions.count("code.set") == 3 and "role.set" in actions
        assert "score.set" in actions and "status.set" in actions


def test_invalid_decisions_are_refused(store: Store, users, jfk_session):
    sid, _ = jfk_session
    ev = users["evaluator"]
    with pytest.raises(InputError, match="unknown code"):
        store.set_code(sid, "u0000", "made_up", ev)
    with pytest.raises(InputError, match="no utterance"):
        store.set_code(sid, "u9999", "affirm", ev)
    with pytest.raises(InputError, match="no session"):
        store.set_code("s000000000000", "u0000", "affirm", ev)
    with pytest.raises(InputError, match="speaker role"):
        store.set_role(sid, "SPEAKER_01", "grandmother", ev)
    for bad in (0.5, 5.5, 3.3, "high"):
        with pytest.raises(InputError):
            store.confirm_score(sid, "empathy", bad, None, ev)
    with pytest.raises(InputError, match="unknown principle"):
        store.confirm_score(sid, "charisma", 3, None, ev)
    assert store.get_decisions(sid, ev)["codes"] == {}


def test_queue_order_unreviewed_first(store: Store, users, tmp_path: Path):
    ev = users["evaluator"]
    a = _ingest_plain(store, ev, tmp_path, "a")
    b = _ingest_plain(store, ev, tmp_path, "b")
    c = _ingest_plain(store, ev, tmp_path, "c")
    store.mark_reviewed(a, ev)
    store.accept_code(b, "u0000", ev)
    assert [s.id for s in store.list_sessions(ev)] == [c, b, a]
    assert [s.status for s in store.list_sessions(ev)] == ["unreviewed", "in_progress", "reviewed"]


def test_audit_log_is_append_only_in_the_database(store: Store, users):
    with pytest.raises(Exception, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET user_name='someone else'"))
    with pytest.raises(Exception, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log"))
    assert not hasattr(store, "delete_audit") and not hasattr(store, "update_audit")
    assert store.audit_log(users["admin"])


def test_exemplars_team_summary_and_agreement(store: Store, users, tmp_path: Path):
    ev, coach = users["evaluator"], users["coach"]
    ids = []
    for i in range(4):
        team = "North" if i < 3 else "South"
        sid = _ingest_plain(
            store,
            ev,
            tmp_path,
            f"t{i}",
            team=team,
            worker=f"w{int(i == 3)}",
            date=f"2026-0{i + 1}-15",
        )
        store.set_code(sid, "u0002", "complex_reflection", ev)
        store.accept_code(sid, "u0000", ev)
        store.set_code(sid, "u0004", "simple_reflection", ev)  # suggested affirm
        store.confirm_score(sid, "empathy", 4.0 + 0.5 * (i % 2), None, ev)
        store.confirm_score(sid, "autonomy", 3.5, None, ev)
        ids.append(sid)

    ex = store.exemplars(coach, code="complex_reflection")
    assert len(ex) == 4 and all(e["code"] == "complex_reflection" for e in ex)
    first = ex[0]
    assert [c["utterance_id"] for c in first["context"]] == [
        "u0000",
        "u0001",
        "u0002",
        "u0003",
        "u0004",
    ]
    assert first["context"][2]["is_exemplar"] and first["role"] == "practitioner"
    assert len(store.exemplars(coach, code="complex_reflection", team="South")) == 1
    assert (
        len(
            store.exemplars(
                coach, code="complex_reflection", date_from="2026-02-01", date_to="2026-03-31"
            )
        )
        == 2
    )
    by_principle = store.exemplars(coach, principle="empathy")
    assert {e["utterance_id"] for e in by_principle} == {"u0002"} and len(by_principle) == 4
    assert store.exemplars(coach, principle="autonomy") == []  # confirmed 3.5 < 4
    with pytest.raises(PermissionDenied):
        store.exemplars(users["researcher"])

    df = store.team_summary(coach)
    assert set(df["group"]) == {"team:North", "service"}  # South has 1 session: not shown
    assert (df["n_sessions"] >= 3).all()
    north = df[(df.group == "team:North") & (df.period == "all") & (df.measure == "empathy")]
    assert north.iloc[0]["n_sessions"] == 3 and north.iloc[0]["mean"] == pytest.approx(
        (4.0 + 4.5 + 4.0) / 3
    )
    # MITI measures follow the confirmed codes (recomputed on each decision), not only the
    # one measure the hand-made ingest scores carried
    from msw_audio.review.store import TEAM_MITI_MEASURES

    miti_measures = set(df[df.kind == "miti"]["measure"])
    assert "reflection_to_question" in miti_measures <= set(TEAM_MITI_MEASURES)
    assert store.team_summary(coach, team="South").empty
    assert set(store.team_summary(coach, worker="w0")["group"]) == {"worker:w0"}  # 3 sessions
    assert store.team_summary(coach, worker="w1").empty  # 1 session: not shown

    agree = store.agreement(users["researcher"])
    assert agree["codes"]["n"] == 12
    assert agree["codes"]["accuracy"] == pytest.approx(8 / 12)
    assert agree["codes"]["per_code"]["simple_reflection"]["n_suggested"] == 0
    assert agree["model_versions"]["msw-tagger 0.1"]["n"] == 12
    assert agree["principles"]["autonomy"]["mae"] == 0.0
    assert agree["principles"]["empathy"]["n"] == 4


def test_exports_match_the_training_formats(store: Store, users, tmp_path: Path):
    ev, researcher = users["evaluator"], users["researcher"]
    sid = _ingest_plain(store, ev, tmp_path, "exp")
    store.set_role(sid, "SPEAKER_01", "child", ev)
    store.accept_code(sid, "u0001", ev)
    store.set_code(sid, "u0002", "complex_reflection", ev)
    store.confirm_score(sid, "clarity_about_concerns", 2.5, "vague", ev)

    labels = tmp_path / "labels.csv"
    assert store.export_labels(labels, researcher) == 2
    with open(labels, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "session_id",
        "utterance_id",
        "role",
        "text",
        "prev_text",
        "code",
        "evaluator",
        "confirmed_at",
        "model_version",
    ]
    assert rows[0]["role"] == "child" and rows[0]["code"] == "neutral"
    assert rows[0]["prev_text"] == "How have the mornings been since we last met?"
    assert rows[1]["code"] == "complex_reflection" and rows[1]["role"] == "practitioner"
    # a researcher reads evaluators as stable pseudonyms (review/pseudonyms.py)
    assert rows[1]["evaluator"] == store.person_token("user", ev.name)
    assert rows[1]["model_version"] == "msw-tagger 0.1"

    scores = tmp_path / "scores.jsonl"
    assert store.export_scores(scores, researcher) == 1
    lines = [json.loads(x) for x in scores.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["session_id"] == sid
    assert lines[0]["confirmed"] == {"clarity_about_concerns": 2.5}
    assert lines[0]["session"]["utterances"][2]["codes"][0]["code"] == "complex_reflection"
    assert set(PRINCIPLES) == set(lines[0]["session"]["scores"]["principles"])


def test_erase_leaves_no_trace_in_database_or_data_folder(store: Store, users, jfk_session):
    sid, sha = jfk_session
    ev, admin = users["evaluator"], users["admin"]
    keep = _ingest_plain(store, ev, store.data_dir.parent, "keep")
    store.set_code(sid, "u0000", "affirm", ev)
    store.confirm_score(sid, "empathy", 4, "a note about the family", ev)
    store.audio_file(sid, users["coach"])
    # cached pipeline stages and a leftover job folder for this recording
    cache = store.paths.cache_for(sha)
    cache.mkdir(parents=True)
    (cache / "transcribe-abc.json").write_text('{"result": ["Ask not what your country"]}')
    assert scan_for(store.data_dir, [sha])[sha]

    store.erase_session(sid, admin)

    hits = scan_for(store.data_dir, [sha, "a note about the family", "F-017"])
    assert hits == {sha: [], "a note about the family": [], "F-017": []}
    assert dump_rows_with(store.paths.db, sha) == []
    id_rows = dump_rows_with(store.paths.db, sid)
    assert id_rows and all(row.startswith('INSERT INTO "audit_log"') for row in id_rows)
    erasure = [a for a in store.audit_log(admin) if a["action"] == "session.erase"]
    assert erasure == [{**erasure[0], "user": admin.name, "target_id": sid, "detail": {}}]
    assert [s.id for s in store.list_sessions(ev)] == [keep]
    with pytest.raises(InputError):
        store.get_session(sid, ev)


def test_retention_erases_old_sessions(store: Store, users, tmp_path: Path):
    ev, admin = users["evaluator"], users["admin"]
    old = _ingest_plain(store, ev, tmp_path, "old", date="2020-01-01")
    new = _ingest_plain(store, ev, tmp_path, "new")
    assert store.erase_older_than(365, admin) == [old]
    assert [s.id for s in store.list_sessions(ev)] == [new]


def test_cli_user_add_reads_password_from_stdin_not_argv(tmp_path: Path, monkeypatch, capsys):
    data = tmp_path / "cli-data"
    monkeypatch.setattr(sys, "stdin", _Stdin("s3cret-password\n"))
    assert (
        cli.main(
            ["user", "add", "coach7", "--role", "coach", "--password-stdin", "--data", str(data)]
        )
        == 0
    )
    assert "coach7" in capsys.readouterr().out
    with Store.open(data) as st:
        assert st.authenticate("coach7", "s3cret-password").role == "coach"
    with pytest.raises(SystemExit):  # there is no way to put a password on the command line
        cli.main(["user", "add", "x", "--role", "coach", "--password", "p", "--data", str(data)])


def test_cli_ingest_export_erase_with_data_folder(tmp_path: Path, capsys):
    data = tmp_path / "cli-data"
    sha = sha256_file(JFK)
    out = write_session_dir(tmp_path / "out", build_session(sha, str(JFK)))
    assert cli.main(["ingest", str(out), "--data", str(data), "--team", "North"]) == 0
    sid = capsys.readouterr().out.split()[-1]
    assert cli.main(["ingest", str(out), "--data", str(data)]) == 0
    assert capsys.readouterr().out.split()[-1] == sid
    assert (
        cli.main(["export", "labels", "--out", str(tmp_path / "l.csv"), "--data", str(data)]) == 0
    )
    assert "0 confirmed labels" in capsys.readouterr().out
    assert cli.main(["erase", "--session", sid, "--data", str(data)]) == 0
    assert scan_for(data, [sha])[sha] == []
    assert cli.main(["erase", "--session", sid, "--data", str(data)]) == 2  # one-line error
    assert "no session" in capsys.readouterr().err


class _Stdin:
    def __init__(self, text: str):
        self._lines = text.splitlines(keepends=True)

    def readline(self) -> str:
        return self._lines.pop(0) if self._lines else ""

    def isatty(self) -> bool:
        return False
