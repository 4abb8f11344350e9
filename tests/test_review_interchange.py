"""ELAN / Praat import, each login's own keys and overlapping talk on the review screen, in
real Chromium (issue 12, "still behind ELAN / Label Studio").

Real store, server and browser; the .eaf is the one the server exports, edited the way an
ELAN user's change shows in the file (one word changed, one boundary moved).
"""

from __future__ import annotations

import pytest

from tests.conftest_app import (
    PASSWORD,
    make_store,
    running_server,
    signed_in_contexts,
)
from tests.test_annotation_import_moves import move_in_eaf

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("interchange")
    store, sid = make_store(root / "data")
    store.add_user("bo", "evaluator", PASSWORD)
    with running_server(store) as base:
        yield store, sid, base
    store.close()


@pytest.fixture(scope="module")
def browser(served):
    """One signed-in Chromium context per user (``conftest_app.signed_in_contexts``)."""
    _store, sid, base = served
    with signed_in_contexts(base, sid) as context:
        yield context


def _open(browser, base, sid, name):
    page = browser(name).new_page()
    page.goto(base + f"/ui/?session={sid}")
    page.wait_for_selector(".msw-utt", timeout=60_000)
    return page


def _row(page, uid):
    return page.locator(f'.msw-utt[data-uid="{uid}"]')


def test_upload_an_eaf_preview_apply_reload_persisted_and_audited(served, browser):
    store, sid, base = served
    eva = store.get_user("eva")
    u5 = next(u for u in store.get_session(sid, eva).utterances if u.id == "u0005")
    page = _open(browser, base, sid, "eva")
    res = page.request.get(base + f"/export/sessions/{sid}/transcript.eaf")  # as eva
    assert res.ok
    changed = u5.text.replace("shifts", "rotas")
    assert changed != u5.text
    data = move_in_eaf(res.text(), u5.text, start_ms=29500, new_text=changed).encode()

    page.click(".msw-import-btn")
    page.set_input_files(".msw-import-file", files=[
        {"name": "visit.eaf", "mimeType": "application/xml", "buffer": data}])
    page.wait_for_selector(".msw-imp-change", timeout=20_000)
    preview = page.locator(".msw-import-out").inner_text()
    assert "Preview: 2 change(s)" in preview
    assert "u0005 · new times: 29.90–33.61 s → 29.50–33.61 s" in preview
    assert "u0005 · new text" in preview and "rotas" in preview
    assert _row(page, "u0005").get_attribute("data-start") == f"{u5.start:.3f}"  # not yet
    page.click(".msw-import-apply")
    page.wait_for_function("() => { const r = document.querySelector("
                           "'.msw-utt[data-uid=\"u0005\"]');"
                           " return r && r.dataset.start === '29.500'; }", timeout=20_000)
    assert "rotas" in _row(page, "u0005").inner_text()
    page.reload()
    page.wait_for_selector(".msw-utt", timeout=60_000)
    assert _row(page, "u0005").get_attribute("data-start") == "29.500"
    assert "rotas" in _row(page, "u0005").inner_text()
    actions = [a["action"] for a in store.audit_log(store.get_user("ada"))
               if a["target_id"] == sid]
    assert {"correction.retime", "correction.edit", "import.annotations"} <= set(actions)
    # a file that is no .eaf: a clear message, nothing changed
    before = store.get_session(sid, eva).to_dict()
    page.click(".msw-import-btn")
    page.set_input_files(".msw-import-file", files=[
        {"name": "evil.eaf", "mimeType": "application/xml",
         "buffer": b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><ANNOTATION_DOCUMENT/>'}])
    page.wait_for_selector(".msw-import-error", timeout=20_000)
    assert "document type" in page.locator(".msw-import-out").inner_text()
    assert store.get_session(sid, eva).to_dict() == before
    page.close()


def test_a_coach_has_no_import_and_the_server_refuses_one(served, browser):
    _store, sid, base = served
    page = _open(browser, base, sid, "cora")
    assert page.locator(".msw-import-btn").count() == 0
    assert page.locator(".msw-keys-btn").count() == 1  # a coach listens with keys too
    res = page.request.post(base + f"/api/sessions/{sid}/annotations?format=eaf",
                            headers={"X-MSW": "1", "Content-Type": "application/octet-stream"},
                            data=b"<ANNOTATION_DOCUMENT/>")
    assert res.status == 403
    page.close()


def test_remap_a_key_use_it_and_a_conflict_is_refused(served, browser):
    store, sid, base = served
    page = _open(browser, base, sid, "bo")
    page.click(".msw-keys-btn")
    pick = page.locator('.msw-key-pick[data-action="next"]')
    pick.click()
    page.keyboard.press("n")
    assert pick.inner_text() == "n"
    page.click(".msw-keys-save")
    page.wait_for_function("() => (document.querySelector('.msw-keys-msg') || {}).textContent"
                           ".startsWith('Saved')")
    page.click(".msw-keys-close")
    page.locator('.msw-utt[data-uid="u0000"]').click()
    page.evaluate("() => { const a = document.querySelector('audio.msw-audio');"
                  " if (a) a.pause(); }")
    sel = "() => document.querySelector('.msw-utt.msw-selected').dataset.uid"
    assert page.evaluate(sel) == "u0000"
    page.keyboard.press("n")
    assert page.evaluate(sel) == "u0001"
    page.keyboard.press("j")  # the default, given away: nothing
    assert page.evaluate(sel) == "u0001"
    page.keyboard.press("k")
    assert page.evaluate(sel) == "u0000"
    assert store.key_map(store.get_user("bo"))["actions"][0]["key"] == "n"  # on the server
    # a codebook hotkey cannot be taken: refused with the reason, nothing saved
    page.click(".msw-keys-btn")
    page.locator('.msw-key-pick[data-action="loop"]').click()
    page.keyboard.press("q")
    page.click(".msw-keys-save")
    page.wait_for_selector(".msw-keys-error")
    assert "codebook's key for" in page.locator(".msw-keys-msg").inner_text()
    assert store.key_map(store.get_user("bo"))["actions"][8]["key"] == "l"
    # another login keeps the defaults
    assert store.key_map(store.get_user("eva"))["actions"][0]["key"] == "j"
    page.close()


def test_overlapping_talk_shows_both_lines_side_by_side(served, browser):
    _store, sid, base = served
    page = _open(browser, base, sid, "cora")
    row = _row(page, "u0004")  # "Mm hmm." while the parent (u0003) still talks
    assert "msw-overlap" in (row.get_attribute("class") or "")
    lanes = row.locator(".msw-lane")
    assert lanes.count() == 2
    assert "SPEAKER_01" in lanes.nth(1).inner_text() and "Work, mostly" in lanes.nth(1).inner_text()
    box0, box1 = lanes.nth(0).bounding_box(), lanes.nth(1).bounding_box()
    assert abs(box0["y"] - box1["y"]) < 2 and box1["x"] > box0["x"]  # side by side
    assert _row(page, "u0000").locator(".msw-lane").count() == 0
    page.close()
