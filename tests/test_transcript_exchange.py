"""The corrected session as ELAN .eaf and Praat .TextGrid (issue 12, "still behind").

Everything is real: the store (a line corrected through ``edit_text``, a code confirmed
through ``accept_code``), the writers, ``pympi`` reading the files back the way ELAN and
Praat users' scripts do, the served app with its logins, and the CLI.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from pympi import Elan, Praat

from msw_audio.cli.main import main
from msw_audio.errors import InputError, PermissionDenied
from msw_audio.records import AudioInfo, CodeSuggestion, Session, Speaker, Utterance
from msw_audio.speech.annotation_tools import to_eaf, to_textgrid
from msw_audio.speech.writers import write_outputs
from tests.conftest_app import PASSWORD, demo_session, make_store, running_server, write_session_dir
from tests.test_app import _login, _request

EDITED = "So the mornings are the hardest part for you both"
#: XML specials, both quotes, a would-be closing tag, CDATA end, a TextGrid quote run; the
#: newline and tab are collapsed by the store (one line of text), as in STM.
HOSTILE = 'Tom & "Jo" <said> \'no\' </ANNOTATION_VALUE> ]]> ""x"" \n second\tline'
HOSTILE_STORED = " ".join(HOSTILE.split())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("exchange")
    store, north = make_store(root / "data")
    session = demo_session()
    session.audio.sha256, session.audio.path = "ef" * 32, ""
    south = store.ingest(write_session_dir(session, root / "south-out"), meta={"team": "South"})
    store.add_user("eva_s", "evaluator", PASSWORD, teams=("South",))
    eva = store.get_user("eva")
    store.edit_text(north, "u0002", EDITED, eva)
    store.edit_text(north, "u0003", HOSTILE, eva)
    store.accept_code(north, "u0000", eva)
    with running_server(store) as base:
        yield store, north, south, base, root
    store.close()


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def _expected_tiers(session: Session) -> dict[str, list]:
    out: dict[str, list] = {f"{sp.role} {sp.id}": [] for sp in session.speakers}
    for u in sorted(session.utterances, key=lambda u: u.start):
        out[f"{session.role_of(u.speaker)} {u.speaker}"].append(u)
    return out


def _code(u: Utterance) -> str:
    top = u.top_code
    if top.source == "evaluator":
        return top.code
    return f"{top.code} (suggested {top.probability:.2f})"


def test_eaf_round_trip_has_the_corrected_lines_and_codes(served, tmp_path):
    store, north, _south, _base, _root = served
    eva = store.get_user("eva")
    session = store.get_session(north, eva)
    files = store.export_transcript(north, eva, ["eaf", "textgrid"])
    assert set(files) == {"eaf", "textgrid"}
    ET.fromstring(files["eaf"].encode("utf-8"))  # well-formed XML
    eaf = Elan.Eaf(str(_write(tmp_path, "s.eaf", files["eaf"])))
    expected = _expected_tiers(session)
    assert set(eaf.get_tier_names()) == set(expected) | {f"{n} codes" for n in expected}
    total = 0
    for name, utts in expected.items():
        got = sorted(eaf.get_annotation_data_for_tier(name))
        assert len(got) == len(utts)
        total += len(got)
        for (begin, end, value), u in zip(got, utts, strict=True):
            assert abs(begin - u.start * 1000) <= 0.5 and abs(end - u.end * 1000) <= 0.5
            assert value == u.text
        assert eaf.get_parameters_for_tier(f"{name} codes")["PARENT_REF"] == name
        codes = sorted(eaf.get_ref_annotation_data_for_tier(f"{name} codes"))
        assert [(c[0], c[1], c[2]) for c in codes] == [
            (b, e, _code(u)) for (b, e, _v), u in zip(got, utts, strict=True) if u.codes]
    assert total == len(session.utterances)
    values = {v for n in expected for (_b, _e, v) in eaf.get_annotation_data_for_tier(n)}
    assert EDITED in values and HOSTILE_STORED in values
    first = next(iter(eaf.get_ref_annotation_data_for_tier("practitioner SPEAKER_00 codes")))
    assert "suggested" not in first[2]  # u0000's code was confirmed
    assert any("(suggested " in c[2] for c in
               eaf.get_ref_annotation_data_for_tier("practitioner SPEAKER_00 codes"))


def test_textgrid_round_trip_has_the_corrected_lines_and_codes(served, tmp_path):
    store, north, _south, _base, _root = served
    eva = store.get_user("eva")
    session = store.get_session(north, eva)
    grid = Praat.TextGrid(str(_write(tmp_path, "s.TextGrid",
                                     store.export_transcript(north, eva, ["textgrid"])
                                     ["textgrid"])))
    expected = _expected_tiers(session)
    names = [t.name for t in grid.get_tiers()]
    assert names == [n for name in expected for n in (name, f"{name} codes")]
    for name, utts in expected.items():
        lines = [iv for iv in grid.get_tier(names.index(name) + 1).get_intervals() if iv[2]]
        assert len(lines) == len(utts)
        for (begin, end, text), u in zip(lines, utts, strict=True):
            assert abs(begin - u.start) <= 0.0005 and abs(end - u.end) <= 0.0005
            assert text == u.text
        codes = [iv for iv in grid.get_tier(names.index(name) + 2).get_intervals() if iv[2]]
        assert [c[2] for c in codes] == [_code(u) for u in utts if u.codes]
    texts = {iv[2] for t in grid.get_tiers() for iv in t.get_intervals()}
    assert EDITED in texts and HOSTILE_STORED in texts


def _session(texts: list[tuple[str, float, float, str]]) -> Session:
    return Session(
        audio=AudioInfo("x.wav", "0" * 64, 10.0),
        speakers=[Speaker("S1", "practitioner"), Speaker("S2", "parent")],
        utterances=[Utterance(f"u{i}", a, b, sp, t,
                              codes=[CodeSuggestion("open_question", 0.537)])
                    for i, (sp, a, b, t) in enumerate(texts)])


def test_newlines_overlaps_and_zero_length_lines_survive_in_both_formats(tmp_path):
    """Text straight from a session.json (not through the store): a newline becomes a space;
    a speaker's overlapping line goes to a second lane; a zero-length line gets 1 ms."""
    session = _session([("S1", 0.0, 2.0, 'a <b> & "c"\nd'), ("S1", 1.0, 3.0, "overlap"),
                        ("S2", 4.0, 4.0, "instant"), ("S1", 5.0, 6.0, "later")])
    eaf = Elan.Eaf(str(_write(tmp_path, "x.eaf", to_eaf(session))))
    assert sorted(eaf.get_annotation_data_for_tier("practitioner S1")) == [
        (0, 2000, 'a <b> & "c" d'), (5000, 6000, "later")]
    assert eaf.get_annotation_data_for_tier("practitioner S1 (2)") == [(1000, 3000, "overlap")]
    assert eaf.get_annotation_data_for_tier("parent S2") == [(4000, 4001, "instant")]
    assert {c[2] for c in eaf.get_ref_annotation_data_for_tier("parent S2 codes")} == {
        "open_question (suggested 0.54)"}
    grid = Praat.TextGrid(str(_write(tmp_path, "x.TextGrid", to_textgrid(session))))
    got = {t.name: [iv for iv in t.get_intervals() if iv[2]] for t in grid.get_tiers()}
    assert got["practitioner S1"] == [(0.0, 2.0, 'a <b> & "c" d'), (5.0, 6.0, "later")]
    assert got["practitioner S1 (2)"] == [(1.0, 3.0, "overlap")]
    assert got["parent S2"] == [(4.0, 4.001, "instant")]
    assert got["parent S2 codes"] == [(4.0, 4.001, "open_question (suggested 0.54)")]


def test_process_outputs_include_eaf_and_textgrid(tmp_path):
    written = {p.name for p in write_outputs(demo_session(), tmp_path)}
    assert {"session.eaf", "session.TextGrid"} <= written
    assert Elan.Eaf(str(tmp_path / "session.eaf")).get_tier_names()
    assert Praat.TextGrid(str(tmp_path / "session.TextGrid")).get_tiers()


def test_downloads_are_checked_like_stm(served):
    """Evaluator: the file; coach: 403; another team's evaluator: 404; researcher: the file
    with names redacted; an unknown extension 404; each download audited with its format."""
    store, north, south, base, _root = served
    eva, cora, rita, eva_s = (_login(base, n) for n in ("eva", "cora", "rita", "eva_s"))
    for ext in ("eaf", "TextGrid"):
        url = base + f"/export/sessions/{north}/transcript.{ext}"
        status, headers, body = _request(url, cookie=eva)
        assert status == 200, ext
        assert headers["content-disposition"] == f'attachment; filename="{north}.{ext}"'
        assert headers["cache-control"] == "no-store"
        assert EDITED in body.decode("utf-8") and "Jade" in body.decode("utf-8")
        assert _request(url, cookie=cora)[0] == 403
        assert _request(url, cookie=eva_s)[0] == 404
        assert _request(base + f"/export/sessions/{south}/transcript.{ext}",
                        cookie=eva_s)[0] == 200
        status, _, body = _request(url, cookie=rita)
        assert status == 200 and "Jade" not in body.decode("utf-8"), ext
        assert _request(url)[0] == 401
    assert _request(base + f"/export/sessions/{north}/transcript.docx", cookie=eva)[0] == 404
    formats = [a["detail"].get("formats") for a in store.audit_log(store.get_user("ada"))
               if a["action"] == "export.transcript" and a["target_id"] == north]
    assert {"eaf", "textgrid"} <= set(formats)
    status, _, html = _request(base + f"/fragment/review/{north}", cookie=eva)
    assert status == 200
    assert f"/export/sessions/{north}/transcript.eaf" in html.decode()
    assert f"/export/sessions/{north}/transcript.TextGrid" in html.decode()


def test_cli_transcript_writes_eaf_and_textgrid(served, tmp_path, capsys):
    _store, north, _south, _base, root = served
    eaf, grid = tmp_path / "c.eaf", tmp_path / "c.TextGrid"
    assert main(["transcript", "--data", str(root / "data"), "--session", north,
                 "--eaf", str(eaf), "--textgrid", str(grid)]) == 0
    out = capsys.readouterr().out
    assert f"EAF -> {eaf}" in out and f"TextGrid -> {grid}" in out
    assert EDITED in {v for n in Elan.Eaf(str(eaf)).get_tier_names()
                      for (*_t, v) in Elan.Eaf(str(eaf)).get_annotation_data_for_tier(n)}
    assert EDITED in {iv[2] for t in Praat.TextGrid(str(grid)).get_tiers()
                      for iv in t.get_intervals()}


# --------------------------------------------------------------------------- import
@pytest.fixture
def fresh(tmp_path):
    store, sid = make_store(tmp_path / "data")
    store.add_user("eva_s", "evaluator", PASSWORD, teams=("South",))
    yield store, sid, tmp_path
    store.close()


def _line(session: Session, uid: str) -> Utterance:
    return next(u for u in session.utterances if u.id == uid)


def test_an_eaf_edited_in_elan_comes_back_as_corrections(fresh):
    """New text and a bare code are applied through the store (journaled: undo restores
    the text); a line at new times is reported, not created; a second import is a no-op."""
    store, sid, tmp = fresh
    eva = store.get_user("eva")
    before = store.get_session(sid, eva)
    u2, u0 = _line(before, "u0002"), _line(before, "u0000")
    eaf_text = store.export_transcript(sid, eva, ["eaf"])["eaf"]
    new_text = 'And the mornings & "school" run <are> hard'
    edited = eaf_text.replace(f"<ANNOTATION_VALUE>{escape(u2.text)}</ANNOTATION_VALUE>",
                              f"<ANNOTATION_VALUE>{escape(new_text)}</ANNOTATION_VALUE>", 1)
    top = u0.top_code
    suggested = f"{top.code} (suggested {top.probability:.2f})"
    edited = edited.replace(f"<ANNOTATION_VALUE>{suggested}</ANNOTATION_VALUE>",
                            f"<ANNOTATION_VALUE>{top.code}</ANNOTATION_VALUE>", 1)
    assert edited.count(escape(new_text)) == 1
    eaf = Elan.Eaf(str(_write(tmp, "e.eaf", edited)))
    eaf.add_annotation("parent SPEAKER_01", 1, 900, "a line ELAN added")
    data = Elan.to_string(eaf).encode("utf-8")

    dry = store.import_annotations(sid, data, "eaf", eva, dry_run=True)
    assert [(c["utterance_id"], c["kind"]) for c in dry["changes"]] == [
        ("u0000", "code"), ("u0002", "text")]
    assert [k["text"] for k in dry["skipped"]] == ["a line ELAN added"]
    assert store.get_session(sid, eva).to_dict() == before.to_dict()  # nothing applied

    report = store.import_annotations(sid, data, "eaf", eva)
    assert report["applied"] == 2 and report["refused"] == []
    after = store.get_session(sid, eva)
    assert _line(after, "u0002").text == new_text
    assert _line(after, "u0000").top_code.code == top.code
    assert _line(after, "u0000").top_code.source == "evaluator"
    assert len(after.utterances) == len(before.utterances)
    assert store.import_annotations(sid, data, "eaf", eva)["changes"] == []
    actions = [a["action"] for a in store.audit_log(store.get_user("ada"))]
    assert "import.annotations" in actions
    store.undo_correction(sid, eva)
    assert _line(store.get_session(sid, eva), "u0002").text == u2.text


def test_a_textgrid_line_moved_to_another_speaker_tier_is_reassigned(fresh):
    store, sid, tmp = fresh
    eva = store.get_user("eva")
    session = store.get_session(sid, eva)
    grid = Praat.TextGrid(str(_write(tmp, "g.TextGrid",
                                     store.export_transcript(sid, eva, ["textgrid"])
                                     ["textgrid"])))
    tiers = {t.name: t for t in grid.get_tiers()}
    child = next(u for u in session.utterances if u.speaker == "SPEAKER_02")
    moved = next(iv for iv in tiers["child SPEAKER_02"].intervals
                 if abs(iv[0] - child.start) < 0.001)
    tiers["child SPEAKER_02"].intervals.remove(moved)
    parent = tiers["parent SPEAKER_01"]
    parent.intervals = [iv for iv in parent.intervals if iv[2]]  # the gaps Praat fills in
    parent.add_interval(*moved)
    out = tmp / "moved.TextGrid"
    grid.to_file(str(out))
    report = store.import_annotations(sid, out.read_bytes(), "textgrid", eva)
    assert [(c["utterance_id"], c["kind"], c["new"]) for c in report["changes"]] == [
        (child.id, "speaker", "SPEAKER_01")]
    assert report["applied"] == 1
    assert _line(store.get_session(sid, eva), child.id).speaker == "SPEAKER_01"


def test_import_is_refused_for_coaches_other_teams_stale_and_broken_files(fresh):
    store, sid, _tmp = fresh
    eva = store.get_user("eva")
    data = store.export_transcript(sid, eva, ["eaf"])["eaf"]
    u2 = _line(store.get_session(sid, eva), "u0002")
    mine = data.replace(f">{escape(u2.text)}<", ">My version of the line<", 1).encode()
    with pytest.raises(PermissionDenied):
        store.import_annotations(sid, mine, "eaf", store.get_user("cora"))
    with pytest.raises(PermissionDenied):
        store.import_annotations(sid, mine, "eaf", store.get_user("rita"))
    with pytest.raises(InputError, match="no session"):
        store.import_annotations(sid, mine, "eaf", store.get_user("eva_s"))
    for junk in (b"<ANNOTATION_DOCUMENT", b"\x00\xff not xml", b""):
        with pytest.raises(InputError, match="not a readable"):
            store.import_annotations(sid, junk, "eaf", eva)
    with pytest.raises(InputError, match="import formats"):
        store.import_annotations(sid, mine, "docx", eva)
    store.edit_text(sid, "u0002", "Someone else's edit since the export", eva)
    report = store.import_annotations(sid, mine, "eaf", eva)
    assert report["applied"] == 0
    (refused,) = report["refused"]
    assert refused["utterance_id"] == "u0002" and "edited since" in refused["reason"]
    assert _line(store.get_session(sid, eva), "u0002").text == \
        "Someone else's edit since the export"


def test_cli_transcript_import_dry_run_then_apply(fresh, capsys):
    store, sid, tmp = fresh
    u2 = _line(store.get_session(sid, store.get_user("eva")), "u0002")
    store.close()
    path = tmp / "cli.eaf"
    assert main(["transcript", "--data", str(tmp / "data"), "--session", sid,
                 "--eaf", str(path)]) == 0
    path.write_text(path.read_text("utf-8").replace(f">{escape(u2.text)}<", ">Fixed in ELAN<",
                                                    1), encoding="utf-8")
    args = ["transcript-import", str(path), "--data", str(tmp / "data"), "--session", sid]
    assert main([*args, "--dry-run"]) == 0
    assert "would change 1" in capsys.readouterr().out
    assert main(args) == 0
    assert "changed 1" in capsys.readouterr().out
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []
    assert "Fixed in ELAN" in path.read_text("utf-8")
