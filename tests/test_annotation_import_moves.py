"""The .eaf / .TextGrid import applying moved boundaries (as retime corrections), the
controlled vocabulary and linked media it writes, and hostile files refused (issue 12).

Real store, real pympi files; the demo session's lines (``conftest_app.demo_session``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from pympi import Elan

from msw_audio.errors import InputError
from tests.conftest_app import make_store


@pytest.fixture
def fresh(tmp_path):
    store, sid = make_store(tmp_path / "data")
    yield store, sid, tmp_path
    store.close()


def move_in_eaf(eaf_text: str, utterance_text: str, start_ms: int | None = None,
                end_ms: int | None = None, new_text: str | None = None) -> str:
    """The .eaf with one line's time slots (and text) changed, as an ELAN user would."""
    root = ET.fromstring(eaf_text.split("\n", 1)[1])
    slots = {t.get("TIME_SLOT_ID"): t for t in root.iter("TIME_SLOT")}
    ann = next(a for a in root.iter("ALIGNABLE_ANNOTATION")
               if a.findtext("ANNOTATION_VALUE") == utterance_text)
    if start_ms is not None:
        slots[ann.get("TIME_SLOT_REF1")].set("TIME_VALUE", str(start_ms))
    if end_ms is not None:
        slots[ann.get("TIME_SLOT_REF2")].set("TIME_VALUE", str(end_ms))
    if new_text is not None:
        ann.find("ANNOTATION_VALUE").text = new_text
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _line(store, sid, user, uid):
    return next(u for u in store.get_session(sid, user).utterances if u.id == uid)


def test_a_moved_boundary_is_applied_as_an_undoable_audited_retime(fresh):
    store, sid, _tmp = fresh
    eva = store.get_user("eva")
    u5, u1 = _line(store, sid, eva, "u0005"), _line(store, sid, eva, "u0001")
    text = store.export_transcript(sid, eva, ["eaf"])["eaf"]
    edited = move_in_eaf(text, u5.text, start_ms=29500, new_text=u5.text + " now")
    edited = move_in_eaf(edited, u1.text, end_ms=16000)  # over the next line: refused
    dry = store.import_annotations(sid, edited.encode(), "eaf", eva, dry_run=True)
    kinds = [(c["utterance_id"], c["kind"]) for c in dry["changes"]]
    assert kinds == [("u0001", "times"), ("u0005", "times"), ("u0005", "text")]
    assert dry["skipped"] == [] and dry["boundaries"]["matched"] < dry["boundaries"]["n_a"]
    assert _line(store, sid, eva, "u0005").start == pytest.approx(u5.start)  # dry run

    report = store.import_annotations(sid, edited.encode(), "eaf", eva)
    assert report["applied"] == 2
    assert {(r["utterance_id"], r["kind"]) for r in report["refused"]} == {("u0001", "times")}
    assert "may span" in report["refused"][0]["reason"]
    after = _line(store, sid, eva, "u0005")
    assert (after.start, after.end, after.text) == (29.5, pytest.approx(u5.end), u5.text + " now")
    assert _line(store, sid, eva, "u0001").end == pytest.approx(u1.end)
    actions = [a["action"] for a in store.audit_log(store.get_user("ada"))
               if a["target_id"] == sid]
    assert "correction.retime" in actions and "import.annotations" in actions
    store.undo_correction(sid, eva)  # the text edit
    store.undo_correction(sid, eva)  # the retime
    assert _line(store, sid, eva, "u0005").start == pytest.approx(u5.start)


def test_the_exported_eaf_has_the_codebook_vocabulary_and_linked_media(fresh, tmp_path):
    store, sid, _tmp = fresh
    eva = store.get_user("eva")
    text = store.export_transcript(sid, eva, ["eaf"])["eaf"]
    path = tmp_path / "x.eaf"
    path.write_text(text, encoding="utf-8")
    eaf = Elan.Eaf(str(path))
    entries = eaf.get_cv_entries("codes")
    assert {v[0][0] for v, _ref in entries.values()} == set(store.codebook.ids)
    assert eaf.linguistic_types["code"]["CONTROLLED_VOCABULARY_REF"] == "codes"
    (media,) = eaf.media_descriptors
    assert media["MEDIA_URL"].startswith(sid + ".") and media["RELATIVE_MEDIA_URL"] == \
        "./" + media["MEDIA_URL"]


@pytest.mark.parametrize(("data", "fmt", "why"), [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
     b"<ANNOTATION_DOCUMENT>&b;</ANNOTATION_DOCUMENT>", "eaf", "document type"),
    (b"\xff\xfe<ANNOTATION_DOCUMENT/>", "eaf", "UTF-8"),
    (b"PK\x03\x04 a zip", "eaf", "not XML"),
    (b'File type = "ooTextFile"\nObject class = "TextGrid"\nxmin = oops', "textgrid",
     "not a readable"),
    (b"<html>hi</html>", "textgrid", "ooTextFile"),
])
def test_hostile_files_are_refused_before_any_change(fresh, data, fmt, why):
    store, sid, _tmp = fresh
    eva = store.get_user("eva")
    store.export_transcript(sid, eva, [fmt])
    before = store.get_session(sid, eva).to_dict()
    with pytest.raises(InputError, match=why):
        store.import_annotations(sid, data, fmt, eva)
    assert store.get_session(sid, eva).to_dict() == before


def test_the_upload_route_limits_size_role_and_content(fresh):
    """Over the size limit: 413 before the body is read; a coach: 403; a hostile file:
    400 with the reason; nothing changed."""
    import http.client

    from msw_audio.review.annotation_import import MAX_IMPORT_BYTES
    from tests.conftest_app import running_server
    from tests.test_app import _login, _request

    store, sid, _tmp = fresh
    eva = store.get_user("eva")
    store.export_transcript(sid, eva, ["eaf"])
    before = store.get_session(sid, eva).to_dict()
    url = f"/api/sessions/{sid}/annotations?format=eaf&dry_run=1"
    head = {"X-MSW": "1", "Content-Type": "application/octet-stream"}
    with running_server(store) as base:
        eva_c, cora_c = _login(base, "eva"), _login(base, "cora")
        # a declared size over the limit: refused before a byte of the body is read
        conn = http.client.HTTPConnection(base.split("/")[2], timeout=30)
        conn.putrequest("POST", url)
        for k, v in {**head, "Cookie": eva_c,
                     "Content-Length": str(MAX_IMPORT_BYTES + 1)}.items():
            conn.putheader(k, v)
        conn.endheaders(b"<ANNOTATION_DOCUMENT")
        assert conn.getresponse().status == 413
        conn.close()
        status, _h, _b = _request(base + url, cookie=cora_c, method="POST",
                                  data=b"<ANNOTATION_DOCUMENT/>", headers=head)
        assert status == 403
        status, _h, body = _request(base + url, cookie=eva_c, method="POST",
                                    data=b'<!DOCTYPE a><ANNOTATION_DOCUMENT/>', headers=head)
        assert status == 400 and b"document type" in body
    assert store.get_session(sid, eva).to_dict() == before
