"""Backup and restore: a backup taken while the store runs, then one session erased; the
backup restored elsewhere passes the integrity check and has the backup's counts; a
tampered backup is refused. Real store, real recordings, the real CLI."""

from __future__ import annotations

import tarfile

import pytest

from msw_audio.cli.main import main
from msw_audio.errors import InputError
from msw_audio.review.auth import system_user
from msw_audio.review.backup import counts, integrity, restore
from tests.conftest_app import demo_session, make_store, write_session_dir


def test_backup_erase_one_restore_elsewhere_passes_integrity(tmp_path, capsys):
    store, sid = make_store(tmp_path / "data")
    other = demo_session()
    other.audio.sha256, other.audio.path = "ef" * 32, ""
    second = store.ingest(write_session_dir(other, tmp_path / "o"), meta={"team": "North"})
    store.set_code(sid, "u0002", "complex_reflection", store.get_user("eva"))
    before = counts(store)
    store.close()
    out = tmp_path / "backup.tar"
    assert main(["backup", "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o077 == 0  # owner only
    assert main(["erase", "--data", str(tmp_path / "data"), "--session", second]) == 0

    assert main(["restore", str(out), "--data", str(tmp_path / "restored")]) == 0
    assert "integrity ok" in capsys.readouterr().out
    from msw_audio.review.store import Store

    with Store.open(tmp_path / "restored") as back:
        report = integrity(back, before)
        assert report["ok"], report["problems"]
        assert report["recordings_checked"] == 1  # the demo's audio, checked by sha256
        assert {s.id for s in back.list_sessions(system_user())} == {sid, second}
    with Store.open(tmp_path / "data") as live:
        assert counts(live)["sessions"] == before["sessions"] - 1


def test_a_tampered_or_foreign_backup_is_refused(tmp_path):
    store, _ = make_store(tmp_path / "data")
    from msw_audio.review.backup import backup

    good = tmp_path / "b.tar"
    backup(store, good)
    store.close()
    bad = tmp_path / "bad.tar"
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.startswith("audio/"):
                data = data[:-1] + bytes([data[-1] ^ 1])  # one bit flipped in a recording
            import io

            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(InputError, match="checksum"):
        restore(bad, tmp_path / "r1")
    (tmp_path / "r2").mkdir()
    (tmp_path / "r2" / "x").write_text("in use")
    with pytest.raises(InputError, match="not empty"):
        restore(good, tmp_path / "r2")
