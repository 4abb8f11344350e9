"""Transcript corrections in real Chromium: reassign a line, edit a word, split, merge and
undo, each persisted across a reload and in the audit log; a coach gets no tools and the
server refuses the keys. Real store, server, tagger (fresh suggestions) and browser."""

from __future__ import annotations

import pytest

from tests.conftest_app import PASSWORD, USERS, running_server, write_session_dir
from tests.test_app import _browser_login
from tests.test_corrections import demo_with_words


@pytest.fixture(scope="module")
def served_words(tmp_path_factory):
    from msw_audio.review.store import Store
    from tests.conftest_app import DEMO_AUDIO

    root = tmp_path_factory.mktemp("app-corr")
    store = Store.open(root / "data")
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    sid = store.ingest(write_session_dir(demo_with_words(), root / "out"),
                       meta={"team": "North", "title": "Demo"}, audio_path=DEMO_AUDIO)
    with running_server(store) as base:
        yield store, sid, base
    store.close()


def _row(page, uid):
    return page.locator(f'.msw-utt[data-uid="{uid}"]')


def _saved(page, text):
    page.wait_for_function(
        "t => { const el = document.querySelector('.msw-review .msw-toast');"
        " return el && el.textContent.includes(t); }", arg=text, timeout=60_000)


@pytest.mark.browser
def test_evaluator_corrects_lines_and_each_persists(served_words, browser):  # noqa: F811
    store, sid, base = served_words
    eva = store.get_user("eva")
    page = _browser_login(browser, base, "eva", f"/ui/?session={sid}")
    # reassign u0002 to the child, from the line's tools
    _row(page, "u0002").click()
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    _row(page, "u0002").locator("[data-correct=speaker]").click()
    _row(page, "u0002").locator("select.msw-speaker-pick").select_option("SPEAKER_02")
    _saved(page, "given to SPEAKER_02")
    assert _row(page, "u0002").get_attribute("data-speaker") == "SPEAKER_02"
    # edit a word of u0004 with the keyboard
    _row(page, "u0004").click()
    page.keyboard.press("Shift+T")
    box = _row(page, "u0004").locator("input.msw-edit-text")
    words = box.input_value().split()
    words[0] = "Corrected"
    box.fill(" ".join(words))
    box.press("Enter")
    _saved(page, "Saved: text")
    assert _row(page, "u0004").locator(".msw-words").inner_text().startswith("Corrected")
    # split u0006 at its second word, merge u0008 with the next
    n_before = page.locator(".msw-utt").count()
    _row(page, "u0006").click()
    page.keyboard.press("Shift+S")
    _row(page, "u0006").locator('.msw-split-word[data-word="1"]').click()
    _saved(page, "line split")
    assert page.locator(".msw-utt").count() == n_before + 1
    _row(page, "u0008").click()
    _row(page, "u0008").locator("[data-correct=merge]").click()
    _saved(page, "merged")
    assert page.locator(".msw-utt").count() == n_before
    # reload: all four persisted
    page.reload()
    page.wait_for_selector(".msw-utt", timeout=60_000)
    assert _row(page, "u0002").get_attribute("data-speaker") == "SPEAKER_02"
    assert _row(page, "u0004").locator(".msw-words").inner_text().startswith("Corrected")
    assert _row(page, "u0006.1").count() == 1 and _row(page, "u0009").count() == 0
    actions = [a["action"] for a in store.audit_log(store.get_user("ada"))]
    for kind in ("reassign", "edit", "split", "merge"):
        assert f"correction.{kind}" in actions
    # undo the merge from the toolbar: the next line is back, also after a reload
    page.locator(".msw-undo-correction").click()
    _saved(page, "undone")
    page.reload()
    page.wait_for_selector(".msw-utt", timeout=60_000)
    assert _row(page, "u0009").count() == 1
    assert len(store.corrections(sid, eva)) == 4
    page.context.close()


@pytest.mark.browser
def test_a_coach_has_no_correction_tools_and_keys_are_refused(served_words, browser):  # noqa: F811
    store, sid, base = served_words
    before = store.get_session(sid, store.get_user("eva")).to_dict()["utterances"]
    page = _browser_login(browser, base, "cora", f"/ui/?session={sid}")
    assert page.locator("[data-correct], .msw-undo-correction, .msw-resplit-go").count() == 0
    _row(page, "u0003").click()
    page.evaluate("document.querySelector('audio.msw-audio') && "
                  "document.querySelector('audio.msw-audio').pause()")
    for key in ("Shift+T", "Shift+S", "Shift+M", "Shift+U"):
        page.keyboard.press(key)
    _saved(page, "not correct the transcript")
    status = page.evaluate(
        "sid => fetch('/api/sessions/' + sid + '/utterances/u0003/merge', {method: 'POST',"
        " headers: {'X-MSW': '1', 'Content-Type': 'application/json'}, body: '{}'})"
        ".then(r => r.status)", sid)
    assert status == 403
    assert store.get_session(sid, store.get_user("eva")).to_dict()["utterances"] == before
    page.context.close()
