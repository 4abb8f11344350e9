"""``msw-audio family import`` / ``erase --family`` / ``family show`` through the real
command line (the Families tab in Chromium is in tests/test_app.py, on its served store)."""

from __future__ import annotations

from msw_audio.cli.main import main


def test_family_cli_import_and_erase(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["family", "add", "F-9", "--team", "North", "--data", str(data)]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("family,record,date,goal,rating\nF-9,rating,2026-09-01,1,5\n")
    assert main(["family", "import", str(bad), "--data", str(data)]) != 0
    err = capsys.readouterr().err
    assert "row 2: family 'F-9' has no goal 1; nothing was imported" in err
    good = tmp_path / "good.csv"
    good.write_text("family,record,date,goal,text,rating\n"
                    "F-9,goal,2026-09-01,,Back to school,\nF-9,rating,2026-09-01,1,,5\n")
    assert main(["family", "import", str(good), "--data", str(data)]) == 0
    assert "1 goal(s), 1 rating(s)" in capsys.readouterr().out
    assert main(["erase", "--family", "F-9", "--data", str(data)]) == 0
    assert "0 session(s), 1 goal(s), 1 rating(s), 0 feedback" in capsys.readouterr().out
    assert main(["family", "show", "F-9", "--data", str(data)]) != 0
    assert "unknown family 'F-9'" in capsys.readouterr().err
