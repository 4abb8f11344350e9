"""The review screen's listening tools and layout, in real Chromium (issue 12).

Real store, server, recording (the bundled demo visit), wavesurfer.js (the vendored files)
and browser; only the session's suggested codes are fixed by hand (``conftest_app``), so no
model runs. One server and one browser serve the whole module.
"""

from __future__ import annotations

import re

import pytest

from msw_audio.web.render import SPEEDS, load_codebook_view, review_html
from tests.conftest_app import (
    demo_session,
    make_store,
    running_server,
    signed_in_contexts,
)

pytestmark = pytest.mark.browser

VISIBLE_ROWS = """() => {
  const box = document.querySelector('.msw-transcript').getBoundingClientRect();
  return [...document.querySelectorAll('.msw-utt')].filter((r) => {
    const b = r.getBoundingClientRect();
    return b.height > 0 && b.top >= Math.max(0, box.top)
      && b.bottom <= Math.min(innerHeight, box.bottom) + 0.5;
  }).map((r) => r.dataset.uid);
}"""
PLAYING = "[...document.querySelectorAll('.msw-utt.msw-playing')].map((r) => r.dataset.uid)"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("listen")
    store, sid = make_store(root / "data")
    with running_server(store) as base:
        yield store, sid, base
    store.close()


@pytest.fixture(scope="module")
def browser(served):
    """One signed-in Chromium context per user (``conftest_app.signed_in_contexts``)."""
    _store, sid, base = served
    with signed_in_contexts(base, sid) as context:
        yield context


def _open(browser, base, sid, name="eva", *, width=1280, height=720, only_app=False):
    """A new page of ``name``'s signed-in context on the session, at ``width``×``height``;
    with ``only_app`` every request to another host than the app's is aborted (and kept)."""
    page = browser(name).new_page()
    page.set_viewport_size({"width": width, "height": height})
    host = base.split("/")[2]
    page.msw_foreign = []
    if only_app:
        def gate(route):
            if route.request.url.split("/")[2] == host:
                route.continue_()
            else:
                page.msw_foreign.append(route.request.url)
                route.abort()

        page.route("**/*", gate)
    page.goto(base + f"/ui/?session={sid}")
    page.wait_for_selector(".msw-utt", timeout=60_000)
    return page


def _wait_wave(page, n_rows):
    page.wait_for_function(
        f"() => {{ const r = document.querySelector('.msw-review');"
        f" return r && r.dataset.wave === 'ready' && r.dataset.regions === '{n_rows}'; }}",
        timeout=30_000,
    )


def _pause(page):
    page.evaluate("document.querySelector('audio.msw-audio').pause()")


# ------------------------------------------------------------------------------ no browser
def test_the_pane_carries_the_listening_tools_and_no_download_control():
    session = demo_session()
    book = load_codebook_view()
    html = review_html("s1", session, {}, {"title": "T"}, book, editable=True, can_listen=True)
    assert 'controlslist="nodownload' in html and 'data-peaks="/media/s1/peaks"' in html
    assert [float(x) for x in re.findall(r'data-rate="([\d.]+)"', html)] == list(SPEEDS)
    assert 'class="msw-search"' in html and 'class="msw-loop"' in html
    # scores and MITI are tabs, not one long column; the keys tab comes first for editors
    assert re.findall(r'role="tab" class="msw-tab" data-tab="(\w+)"', html) == [
        "keys", "scores", "miti"]
    assert 'data-tab="scores" hidden' in html and 'data-tab="miti" hidden' in html
    ro = review_html("s1", session, {}, {}, book, editable=False, can_listen=False)
    assert "<audio" not in ro and "msw-wave" not in ro and 'class="msw-search"' in ro
    assert 'data-tab="keys" hidden' in ro, "read-only roles open on the scores"


# ------------------------------------------------------------------------------ browser
def test_header_stays_in_view_after_scrolling_to_the_last_line(served, browser):
    store, sid, base = served
    page = _open(browser, base, sid)
    last = page.locator(".msw-utt").last
    box = page.locator(".msw-transcript").bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 100)
    for _ in range(60):  # the wheel, as a person scrolls: the list, then the page
        page.mouse.wheel(0, 400)
        if last.bounding_box() and last.bounding_box()["y"] + 30 < 720:
            break
    page.wait_for_timeout(200)
    assert page.evaluate("document.querySelector('.msw-transcript').scrollTop") > 0
    bar = page.locator(".msw-toolbar").bounding_box()
    assert bar["y"] >= -0.5 and bar["y"] + bar["height"] <= 720, bar
    lb = last.bounding_box()
    assert lb["y"] >= bar["y"] + bar["height"] and lb["y"] + lb["height"] <= 720.5, lb
    # a save deep in the session: its note shows in view, covering no header control
    uid = last.get_attribute("data-uid")
    last.click()
    _pause(page)
    page.keyboard.press("Enter")
    page.locator(".msw-toast.msw-toast-on").wait_for(timeout=10_000)
    note = page.locator(".msw-toast").bounding_box()
    assert 0 <= note["y"] and note["y"] + note["height"] <= 720
    for control in page.locator(".msw-toolbar button, .msw-toolbar input").all():
        box = control.bounding_box()
        if box:  # no overlap with any button or field of the header
            assert (note["x"] >= box["x"] + box["width"] or box["x"] >= note["x"] + note["width"]
                    or note["y"] >= box["y"] + box["height"]
                    or box["y"] >= note["y"] + note["height"]), (note, box)
    assert "Saved" in page.locator(".msw-toast").inner_text()
    assert uid in store.get_decisions(sid, store.get_user("eva"))["codes"]
    page.close()


def test_one_line_highlighted_while_playing_and_the_list_follows(served, browser):
    _store, sid, base = served
    page = _open(browser, base, sid)
    shown = page.evaluate(VISIBLE_ROWS)
    start_uid = shown[-2]  # near the bottom of the list: playback soon runs past it
    # measured before the click: the line is in view, so selecting it scrolls nothing, and
    # following may move the list as soon as it plays (the playing line, taller with its
    # tools, is already in the bottom third)
    before = page.evaluate("document.querySelector('.msw-transcript').scrollTop")
    page.locator(f'.msw-utt[data-uid="{start_uid}"]').click()
    page.keyboard.press("]")
    page.keyboard.press("]")
    page.keyboard.press("]")  # 2×: the test waits half as long
    seen = []
    for _ in range(80):
        page.wait_for_timeout(250)
        playing = page.evaluate(PLAYING)
        assert len(playing) <= 1, f"more than one line highlighted: {playing}"
        if playing and (not seen or seen[-1] != playing[0]):
            seen.append(playing[0])
        if len(seen) >= 3:
            break
    assert len(seen) >= 3 and seen[0] == start_uid, seen
    assert page.evaluate(PLAYING) == [seen[-1]]
    assert page.evaluate("document.querySelector('.msw-transcript').scrollTop") > before
    assert seen[-1] in page.evaluate(VISIBLE_ROWS), "the line being heard is in view"
    _pause(page)
    page.close()


def test_speed_keys_replay_and_loop(served, browser):
    _store, sid, base = served
    page = _open(browser, base, sid)
    rate = "document.querySelector('audio.msw-audio').playbackRate"
    row = page.locator('.msw-utt[data-group="practitioner"]').nth(2)
    row.click()
    _pause(page)
    page.keyboard.press("]")
    assert page.evaluate(rate) == 1.25
    page.keyboard.press("]")
    assert page.evaluate(rate) == 1.5
    page.keyboard.press("[")
    assert page.evaluate(rate) == 1.25
    page.locator(".msw-speed[data-rate='2']").click()
    assert page.evaluate(rate) == 2
    assert page.locator(".msw-speed[aria-pressed=true]").get_attribute("data-rate") == "2"
    page.locator(".msw-speed[data-rate='0.75']").click()
    assert page.evaluate(rate) == 0.75
    page.locator(".msw-speed[data-rate='1']").click()
    # ← replays the last 5 s
    page.evaluate("document.querySelector('audio.msw-audio').currentTime = 30")
    page.keyboard.press("ArrowLeft")
    t = page.evaluate("document.querySelector('audio.msw-audio').currentTime")
    assert 24.5 <= t <= 26.5, t
    _pause(page)
    # l loops the selected line: playback stays inside it past its end
    short = page.evaluate("""() => [...document.querySelectorAll('.msw-utt')]
        .find((r) => r.dataset.end - r.dataset.start < 1.6 && r.dataset.start > 5).dataset.uid""")
    line = page.locator(f'.msw-utt[data-uid="{short}"]')
    start, end = float(line.get_attribute("data-start")), float(line.get_attribute("data-end"))
    line.click()
    page.keyboard.press("l")
    assert page.locator(".msw-loop").get_attribute("aria-pressed") == "true"
    times = []
    for _ in range(14):  # ~3.5 s: more than twice the line
        page.wait_for_timeout(250)
        times.append(page.evaluate("document.querySelector('audio.msw-audio').currentTime"))
    assert all(start - 0.6 <= x <= end + 0.35 for x in times), (start, end, times)
    assert any(b < a for a, b in zip(times, times[1:], strict=False)), "it went round at least once"
    page.keyboard.press("l")
    _pause(page)
    page.close()


def test_search_finds_a_word_a_code_and_a_speaker(served, browser):
    _store, sid, base = served
    page = _open(browser, base, sid)
    shown = ".msw-utt:not(.msw-hide)"
    total = page.locator(".msw-utt").count()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.classList.contains('msw-search')")
    page.keyboard.type("depot")
    page.wait_for_function(f"document.querySelectorAll('{shown}').length === 1")
    assert "depot" in page.locator(shown).inner_text()
    assert page.locator(".msw-search-count").inner_text() == f"1 of {total} lines"
    search = page.locator(".msw-search")
    search.fill("speaker:child")
    page.wait_for_function(
        f"[...document.querySelectorAll('{shown}')].every((r) => r.dataset.role === 'child')"
        f" && document.querySelectorAll('{shown}').length > 0")
    search.fill("open question")  # a code's label
    page.wait_for_function(
        f"[...document.querySelectorAll('{shown}')].every("
        "(r) => r.dataset.suggested === 'open_question' || r.dataset.seen === 'open_question'"
        f" || /open question/i.test(r.textContent)) && document.querySelectorAll('{shown}').length")
    search.fill("zzzz-nothing")
    page.wait_for_selector(".msw-nomatch:not([hidden])")
    search.press("Escape")
    page.wait_for_function(f"document.querySelectorAll('{shown}').length === {total}")
    page.close()


def test_waveform_renders_with_the_network_limited_to_the_app(served, browser):
    _store, sid, base = served
    page = _open(browser, base, sid, only_app=True)
    n = page.locator(".msw-utt").count()
    _wait_wave(page, n)
    canvases = page.evaluate("""() => {
        const host = document.querySelector('.msw-wave-main > div');
        return host && host.shadowRoot ? host.shadowRoot.querySelectorAll('canvas').length : 0;
    }""")
    assert canvases > 0
    assert page.msw_foreign == [], f"requests to other hosts: {page.msw_foreign}"
    scripts = page.evaluate("[...document.scripts].map((s) => s.src).filter(Boolean)")
    assert any(s.endswith("/static/vendor/wavesurfer.min.js") for s in scripts)
    assert all(s.startswith(base) for s in scripts), scripts
    # click on the waveform: playback jumps there and the line heard there is selected
    wave = page.locator(".msw-wave-main").bounding_box()
    page.mouse.click(wave["x"] + wave["width"] * 0.6, wave["y"] + wave["height"] / 2)
    page.wait_for_function("!document.querySelector('audio.msw-audio').paused")
    t = page.evaluate("document.querySelector('audio.msw-audio').currentTime")
    _pause(page)
    sel = page.locator(".msw-utt.msw-selected")
    assert float(sel.get_attribute("data-start")) - 0.1 <= t, (t, sel.get_attribute("data-start"))
    page.close()


def test_layout_at_1280x720(served, browser):
    store, sid, base = served
    # the longest label on a confirmed chip must stay inside its column
    store.set_code(sid, "u0004", "persuade_with_permission", store.get_user("eva"))
    page = _open(browser, base, sid, width=1280, height=720)
    page.wait_for_timeout(400)
    assert len(page.evaluate(VISIBLE_ROWS)) >= 8
    fits = page.evaluate("""() => [...document.querySelectorAll('.msw-final .msw-chip')]
        .concat([...document.querySelectorAll('.msw-sugg .msw-chip')])
        .every((c) => c.getBoundingClientRect().right
                      <= c.parentElement.getBoundingClientRect().right + 0.5)""")
    assert fits, "a code chip overflows its column"
    # scores and MITI are tabs of the side panel
    assert page.locator(".msw-tabpanel[data-tab=miti]").is_hidden()
    page.locator(".msw-tab[data-tab=miti]").click()
    assert page.locator(".msw-tabpanel[data-tab=miti]").is_visible()
    assert page.locator(".msw-tabpanel[data-tab=scores]").is_hidden()
    side = page.locator(".msw-side").bounding_box()
    assert side["y"] + side["height"] <= 720.5, "the side panel scrolls inside the window"
    page.screenshot(path=str(store.paths.root / "layout-1280x720.png"))
    page.close()


def test_keys_say_why_and_leave_page_scrolling_alone(served, browser):
    store, sid, base = served
    page = _open(browser, base, sid)
    parent = page.locator('.msw-utt[data-role="parent"]').nth(3)
    uid = parent.get_attribute("data-uid")
    parent.click()
    _pause(page)
    page.keyboard.press("q")  # open question: a practitioner code, on the parent's line
    page.locator(".msw-toast.msw-toast-error").wait_for(timeout=5_000)
    text = page.locator(".msw-toast").inner_text()
    assert "practitioner code" in text and "parent" in text and "Neutral" in text, text
    assert uid not in store.get_decisions(sid, store.get_user("eva"))["codes"]
    # ↑/↓ move the line only while the transcript has the focus; elsewhere they scroll
    page.keyboard.press("ArrowDown")
    moved = page.locator(".msw-utt.msw-selected").get_attribute("data-uid")
    assert moved != uid
    page.locator(".msw-title").click()  # focus leaves the list
    page.keyboard.press("ArrowDown")
    assert page.locator(".msw-utt.msw-selected").get_attribute("data-uid") == moved
    page.close()


def test_mark_reviewed_warns_with_the_number_of_unconfirmed_lines(served, browser):
    store, sid, base = served
    page = _open(browser, base, sid)
    messages = []

    def answer(dialog):
        messages.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", answer)
    done = page.locator(".msw-utt.msw-done").count()
    total = page.locator(".msw-utt").count()
    page.locator(".msw-mark-reviewed").click()
    page.wait_for_selector(".msw-toast.msw-toast-on")
    assert messages and messages[0].startswith(f"{total - done} of {total} lines have no confirmed")
    assert store.get_decisions(sid, store.get_user("eva"))["status"] != "reviewed"
    assert page.locator(".msw-mark-reviewed").count() == 1
    page.close()


def test_audio_plays_in_the_app_only(served, browser):
    _store, sid, base = served
    page = _open(browser, base, sid)
    audio = page.locator("audio.msw-audio")
    assert "nodownload" in audio.get_attribute("controlslist")
    blocked = page.evaluate("""() => {
        const ev = new MouseEvent('contextmenu', {bubbles: true, cancelable: true});
        const a = !document.querySelector('audio.msw-audio').dispatchEvent(ev);
        const w = !document.querySelector('.msw-wave').dispatchEvent(
            new MouseEvent('contextmenu', {bubbles: true, cancelable: true}));
        return a && w;
    }""")
    assert blocked, "no context menu (Save audio as…) on the player or the waveform"
    page.close()
    # a researcher without the audio grant: no player, and the server refuses the audio
    page = _open(browser, base, sid, "rita")
    assert page.locator("audio").count() == 0 and page.locator(".msw-wave").count() == 0
    statuses = page.evaluate(
        """async (sid) => [(await fetch(`/media/${sid}`)).status,
                           (await fetch(`/media/${sid}/peaks`)).status]""", sid)
    assert statuses == [403, 403]
    page.close()
