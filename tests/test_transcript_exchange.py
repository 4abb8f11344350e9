"""The corrected session as ELAN .eaf and Praat .TextGrid (issue 12, "still behind").

Everything is real: the store (a line corrected through ``edit_text``, a code confirmed
through ``accept_code``), the writers, ``pympi`` reading the files back the way ELAN and
Praat users' scripts do, the served app with its logins, and the CLI.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pympi import Elan, Praat

from msw_audio.cli.main import main
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
