"""Undo / redo, review by exception and the reviewed state in real Chromium.

The server, store, audio and browser are real (``tests/conftest_app.py``); the session's
suggested codes are fixed by hand so no model runs here.
"""

from __future__ import annotations

import pytest

from msw_audio.web.render import load_codebook_view
from tests.conftest_app import (
    PASSWORD,
    demo_session,
    make_store,
    running_server,
)


@pytest.fixture()
def served(tmp_path):
    store, sid = make_store(tmp_path / "data")
    with running_server(store) as base:
        yield store, sid, base
    store.close()




def _page(browser, base, sid, name="eva"):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{base}/ui/?session={sid}")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".msw-utt", timeout=60_000)
    return page


def _chip(page, uid):
    chip = page.locator(f'.msw-utt[data-uid="{uid}"] .msw-final .msw-chip')
    return chip.get_attribute("data-code") if chip.count() else None


def _wait_chip(page, uid, code):
    page.wait_for_function(
        "([u, c]) => { const el = document.querySelector("
        "`.msw-utt[data-uid=\"${u}\"] .msw-final .msw-chip`);"
        " return c === null ? !el : el && el.dataset.code === c; }",
        arg=[uid, code], timeout=30_000)


@pytest.mark.browser
def test_ctrl_z_undoes_a_code_a_role_and_a_score_across_a_reload(served, browser):
    store, sid, base = served
    ev = store.get_user("eva")
    page = _page(browser, base, sid)
    book = load_codebook_view()
    key = next(c.hotkey for c in book.groups["practitioner"] if c.id == "affirm")
    row = page.locator('.msw-utt[data-group="practitioner"]').nth(2)
    uid = row.get_attribute("data-uid")
    row.click()
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    page.keyboard.press(key)
    _wait_chip(page, uid, "affirm")
    # a role change and a score
    page.locator('.msw-role-select[data-speaker="SPEAKER_02"]').select_option("other")
    page.wait_for_selector(".msw-toast-on:has-text('SPEAKER_02 is other')", timeout=10_000)
    page.locator(".msw-tab[data-tab=scores]").click()  # the side panel's scores tab
    card = page.locator(".msw-principle").first
    principle = card.locator(".msw-score-confirm").get_attribute("data-principle")
    card.locator(".msw-score-value").select_option("4.5")
    card.locator(".msw-score-confirm").click()
    page.wait_for_selector(".msw-toast-on:has-text('Saved score')", timeout=10_000)
    assert store.get_decisions(sid, ev)["scores"][principle]["value"] == 4.5

    page.locator(".msw-transcript").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+z")  # the score
    page.wait_for_selector(".msw-toast-on:has-text('Undone')", timeout=30_000)
    assert (store.get_decisions(sid, ev)["scores"].get(principle) or {}).get("value") is None
    page.keyboard.press("Control+z")  # the role
    page.wait_for_function(
        "document.querySelector('.msw-role-select[data-speaker=\"SPEAKER_02\"]')"
        "?.value === 'child'", timeout=30_000)
    page.keyboard.press("Control+z")  # the code
    _wait_chip(page, uid, None)
    assert uid not in store.get_decisions(sid, ev)["codes"]

    page.reload()
    page.wait_for_selector(".msw-utt", timeout=60_000)
    page.locator(".msw-transcript").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+Shift+z")  # the code comes back, after a reload
    _wait_chip(page, uid, "affirm")
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function(
        "document.querySelector('.msw-role-select[data-speaker=\"SPEAKER_02\"]')"
        "?.value === 'other'", timeout=30_000)
    page.keyboard.press("Control+Shift+z")
    page.wait_for_selector(".msw-toast-on:has-text('Redone')", timeout=30_000)
    assert store.get_decisions(sid, ev)["scores"][principle]["value"] == 4.5
    # a hotkey meant for the other role says so
    fam = page.locator('.msw-utt[data-group="client"]').nth(1)
    fam.click()
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    page.keyboard.press(key)
    page.wait_for_selector(".msw-toast-error:has-text('practitioner code')",
                           timeout=10_000)
    page.context.close()


@pytest.mark.browser
def test_bulk_accept_then_reviewed_warning_read_only_and_reopen(served, browser):
    store, sid, base = served
    ev = store.get_user("eva")
    page = _page(browser, base, sid)
    n = page.locator(".msw-utt").count()
    page.fill(".msw-bulk-pct", "80")
    page.click(".msw-bulk-accept")
    page.wait_for_selector(".msw-toast-on:has-text('Accepted')", timeout=30_000)
    codes = store.get_decisions(sid, ev)["codes"]
    # exactly the lines whose suggestion is at or above 80 % (the rest stay open)
    high = {u.id for u in demo_session().utterances if u.codes[0].probability >= 0.8}
    assert codes and set(codes) == high
    need = int(page.locator(".msw-nneed").inner_text())
    assert need == n - len(codes)
    # the remaining lines come first (least confident first)
    first = page.locator(".msw-utt").first
    assert first.locator(".msw-final .msw-chip").count() == 0
    page.locator(".msw-transcript").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+z")  # one undo reverts the whole bulk accept
    page.wait_for_selector(".msw-toast-on:has-text('Undone')", timeout=30_000)
    assert store.get_decisions(sid, ev)["codes"] == {}

    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click(".msw-mark-reviewed")
    page.wait_for_selector(".msw-reopen", timeout=30_000)
    assert dialogs and f"{n} of " in dialogs[0] and "have no confirmed code" in dialogs[0]
    assert store.get_decisions(sid, ev)["status"] == "reviewed"
    # read-only: the server refuses, whatever the browser sends
    status = page.evaluate(
        """async (sid) => (await fetch(`/api/sessions/${sid}/utterances/u0001/accept`, {
            method: 'POST', headers: {'Content-Type': 'application/json', 'X-MSW': '1'},
            body: '{}'})).status""", sid)
    assert status == 409
    page.click(".msw-reopen")
    page.wait_for_selector(".msw-mark-reviewed", timeout=30_000)
    assert store.get_decisions(sid, ev)["status"] == "in_progress"
    page.context.close()
