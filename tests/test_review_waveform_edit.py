"""Dragging a line's boundary on the waveform, the spectrogram toggle and the search's
regular expressions and cross-session hits, in real Chromium (issue 12).

Real store, server, recording and vendored wavesurfer.js; two sessions (the demo visit
for team North, a copy for team South) so the cross-session search has another team's
session to leave out. Suggestions are fixed by hand (``conftest_app``); the real tagger
re-suggests codes for a re-timed line.
"""

from __future__ import annotations

import pytest

from msw_audio.speech.audio import sha256_file
from tests.conftest_app import (
    DEMO_AUDIO,
    PASSWORD,
    demo_session,
    make_store,
    running_server,
    signed_in_contexts,
    write_session_dir,
)

pytestmark = pytest.mark.browser

SOUTH_ONLY = "The zebra crossing by the school is where we meet."
LINE = "u0004"  # "Mm hmm." 28.26–28.95 s; the next line starts at 29.9 s


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("wave-edit")
    store, sid = make_store(root / "data")
    store.add_user("nora", "evaluator", PASSWORD, teams=("North",))
    copy = root / "south.ogg"  # another recording (one more byte): another session
    copy.write_bytes(DEMO_AUDIO.read_bytes() + b"\0")
    session = demo_session()
    session.audio.path, session.audio.sha256 = str(copy), sha256_file(copy)
    session.utterances[1].text = SOUTH_ONLY
    south = store.ingest(write_session_dir(session, root / "south"),
                         meta={"team": "South", "title": "South visit"}, audio_path=copy)
    with running_server(store) as base:
        yield store, sid, south, base
    store.close()


@pytest.fixture(scope="module")
def browser(served):
    """One signed-in Chromium context per user (``conftest_app.signed_in_contexts``)."""
    _store, sid, _south, base = served
    with signed_in_contexts(base, sid) as context:
        yield context


def _open(browser, base, sid, name="eva", line=None):
    page = browser(name).new_page()
    page.goto(base + f"/ui/?session={sid}" + (f"&line={line}" if line else ""))
    page.wait_for_selector(".msw-utt", timeout=60_000)
    return page


def _wait_regions(page):
    page.wait_for_function(
        "() => { const r = document.querySelector('.msw-review');"
        " return r && r.dataset.wave === 'ready' && +r.dataset.regions > 0; }", timeout=30_000)


def _zoom_to_line(page, uid):
    for _ in range(3):  # ~25 px/s -> ~200 px/s: a 0.4 s drag is ~80 px
        page.click(".msw-zoom-in")
    page.click(f'.msw-utt[data-uid="{uid}"] .msw-time')
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    page.evaluate(f"""() => {{ const r = document.querySelector('.msw-review');
        r._ws.setScrollTime(Math.max(0, +r.querySelector('.msw-utt[data-uid="{uid}"]')
        .dataset.start - 1)); }}""")
    page.wait_for_timeout(300)


def _handle(page, uid, side):
    return page.locator(f'.msw-wave-main [part~="{uid}"] [part~="region-handle-{side}"]')


def test_dragging_a_region_edge_saves_persists_and_is_audited(served, browser):
    store, sid, _south, base = served
    page = _open(browser, base, sid, line=LINE)
    _wait_regions(page)
    _zoom_to_line(page, LINE)
    row = page.locator(f'.msw-utt[data-uid="{LINE}"]')
    end0 = float(row.get_attribute("data-end"))
    box = _handle(page, LINE, "right").bounding_box()
    assert box, "the line's region has a right-hand handle for an evaluator"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for dx in (10, 30, 60, 80):
        page.mouse.move(x + dx, y)
    page.mouse.up()
    page.wait_for_function(
        f"() => {{ const r = document.querySelector('.msw-utt[data-uid=\"{LINE}\"]');"
        f" return r && Math.abs(+r.dataset.end - {end0}) > 0.1; }}", timeout=30_000)
    end1 = float(page.locator(f'.msw-utt[data-uid="{LINE}"]').get_attribute("data-end"))
    assert end0 + 0.1 < end1 < 29.9  # later, and not past the next line's start
    page.reload()
    page.wait_for_selector(".msw-utt")
    assert float(page.locator(f'.msw-utt[data-uid="{LINE}"]').get_attribute("data-end")) == end1
    audit = [a for a in store.audit_log(store.get_user("ada"))
             if a["action"] == "correction.retime"]
    assert audit and audit[0]["detail"]["target"] == LINE and audit[0]["detail"]["end"] == end1
    # Shift+U undoes it (the correction journal)
    _wait_regions(page)
    page.click(f'.msw-utt[data-uid="{LINE}"] .msw-time')
    page.keyboard.press("Shift+U")
    page.wait_for_function(
        f"() => {{ const r = document.querySelector('.msw-utt[data-uid=\"{LINE}\"]');"
        f" return r && Math.abs(+r.dataset.end - {end0}) < 0.002; }}", timeout=30_000)
    page.close()


def test_a_coach_cannot_drag_and_the_server_refuses(served, browser):
    store, sid, _south, base = served
    page = _open(browser, base, sid, name="cora")
    _wait_regions(page)
    assert _handle(page, LINE, "right").count() == 0, "no handles for a coach"
    status = page.evaluate(f"""async () => (await fetch(
        '/api/sessions/{sid}/utterances/{LINE}/times', {{method: 'POST',
        credentials: 'same-origin', headers: {{'Content-Type': 'application/json',
        'X-MSW': '1'}}, body: JSON.stringify({{start: 28.2, end: 29.5}})}})).status""")
    assert status == 403
    page.close()


def test_regex_search_finds_a_line_and_bad_patterns_say_why(served, browser):
    _store, sid, _south, base = served
    page = _open(browser, base, sid)
    page.fill(".msw-search", r"/^busy,\s+same/")
    page.keyboard.press("Enter")
    shown = page.eval_on_selector_all(".msw-utt:not(.msw-hide)", "rs => rs.map(r => r.dataset.uid)")
    assert shown == ["u0002"]
    page.fill(".msw-search", "/(unclosed/")
    page.keyboard.press("Enter")
    assert "not a valid regular expression" in page.inner_text(".msw-search-count")
    page.fill(".msw-search", "/(e|.)*x$/")
    page.keyboard.press("Enter")
    assert "can hang the page" in page.inner_text(".msw-search-count")
    page.close()


def test_cross_session_search_links_to_lines_of_the_logins_teams_only(served, browser):
    store, sid, south, base = served
    page = _open(browser, base, sid, name="nora")  # team North only
    page.fill(".msw-search", "busy")
    page.click(".msw-search-all")
    page.wait_for_selector(".msw-search-results .msw-search-head")
    links = page.eval_on_selector_all(".msw-search-hit", "as => as.map(a => a.dataset.session)")
    assert links and set(links) == {sid}
    page.fill(".msw-search", "zebra")
    page.click(".msw-search-all")
    page.wait_for_function("() => /^0 lines/.test(document.querySelector('.msw-search-head')"
                           "?.textContent || '')")
    # the JSON route too: never another team's session
    out = page.evaluate("async () => (await fetch('/api/search?q=zebra')).json()")
    assert out["hits"] == []
    # an admin finds the South line; the link opens that session at that line
    page.close()
    page = _open(browser, base, sid, name="ada")
    page.fill(".msw-search", "/zebra cross/")
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector(".msw-search-hit")
    hit = page.locator(".msw-search-hit").first
    assert hit.get_attribute("data-session") == south
    hit.click()
    page.wait_for_function(
        "() => { const r = document.querySelector('.msw-utt.msw-selected');"
        " return r && r.dataset.uid === 'u0001'; }", timeout=60_000)
    assert south in page.url
    page.close()


def test_spectrogram_toggle_draws_from_the_server(served, browser):
    _store, sid, _south, base = served
    page = _open(browser, base, sid)
    _wait_regions(page)
    page.click(".msw-spectrogram-toggle")
    page.wait_for_function(
        "() => document.querySelector('.msw-review').dataset.spectrogram === 'ready'",
        timeout=90_000)
    assert page.get_attribute(".msw-spectrogram-toggle", "aria-pressed") == "true"
    page.click(".msw-spectrogram-toggle")
    assert page.get_attribute(".msw-spectrogram-toggle", "aria-pressed") == "false"
    page.close()
