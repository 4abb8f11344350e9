"""Review app: rendering, login on every route, role checks, and the screen in real Chromium.

The server, store, audio file and browser are real; only the session's suggested codes
are fixed by hand (see ``conftest_app.demo_session``) so no model runs here.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from msw_audio.web.render import (
    LOW_CONFIDENCE,
    load_codebook_view,
    order_rows,
    review_html,
    transcript_rows,
)
from tests.conftest_app import (
    PASSWORD,
    demo_session,
    make_store,
    running_server,
)


# ------------------------------------------------------------------------------ rendering
def test_review_html_escapes_marks_low_confidence_and_sorts():
    session = demo_session()
    session.utterances[0].text = "<script>alert(1)</script> & more"
    book = load_codebook_view()
    decisions = {
        "codes": {session.utterances[1].id: {"code": "change_talk", "suggested": "neutral"}}
    }
    html = review_html(
        "s1", session, decisions, {"title": "T"}, book, editable=True, can_listen=True
    )
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert html.count('class="msw-utt') == len(session.utterances)
    assert 'src="/media/s1"' in html
    n_low = sum(
        1 for u in session.utterances[2:] if u.codes and u.codes[0].probability < LOW_CONFIDENCE
    )
    assert html.count("msw-low") - html.count("msw-conf-low") == 0  # one marker per low row
    assert html.count("msw-conf-low") >= n_low > 0

    rows = order_rows(transcript_rows(session, decisions), "confidence")
    probs = [r.probability for r in rows if r.confirmed is None]
    assert probs == sorted(probs), "least confident first"
    assert rows[-1].confirmed == "change_talk", "confirmed rows go last"

    ro = review_html("s1", session, {}, {}, book, editable=False, can_listen=False)
    assert "msw-score-confirm" not in ro and "msw-role-select" not in ro and "<audio" not in ro


def test_an_accepted_code_still_shows_the_model_confidence():
    from msw_audio.records import CodeSuggestion

    session = demo_session()
    u = session.utterances[2]
    top = u.codes[0]
    u.codes = [CodeSuggestion(top.code, 1.0, "evaluator"), *u.codes[1:]]  # as get_session
    decisions = {"codes": {u.id: {"code": top.code, "suggested": top.code,
                                  "suggested_probability": top.probability}}}
    row = transcript_rows(session, decisions)[2]
    assert row.confirmed == top.code and row.probability == top.probability
    html = review_html("s1", session, decisions, {}, load_codebook_view(), editable=True,
                       can_listen=True)
    assert f"{round(100 * top.probability)}%" in html


# ------------------------------------------------------------------------------ server
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    store, sid = make_store(root / "data")
    with running_server(store) as base:
        yield store, sid, base
    store.close()


def _request(url, *, cookie=None, method="GET", data=None, headers=None):
    req = urllib.request.Request(url, method=method, data=data, headers=dict(headers or {}))
    if cookie:
        req.add_header("Cookie", cookie)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


def _login(base, name):
    body = f"username={name}&password={PASSWORD}&next=/".encode()
    status, headers, _ = _request(
        base + "/login",
        method="POST",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 303, status
    cookie = headers["set-cookie"].split(";")[0]
    assert "httponly" in headers["set-cookie"].lower()
    return cookie


def test_logged_out_requests_are_refused(served):
    _store, sid, base = served
    for path in (
        f"/media/{sid}",
        f"/api/sessions/{sid}",
        "/api/sessions",
        "/export/labels.csv",
        "/ui/config",
        "/ui/gradio_api/info",
        "/static/review.js",
    ):
        status, _, _ = _request(base + path)
        assert status == 401, (path, status)
    status, headers, _ = _request(base + "/ui/", headers={"Accept": "text/html"})
    assert status == 303 and headers["location"].startswith("/login")
    status, _, _ = _request(
        base + f"/api/sessions/{sid}/utterances/u0001/code",
        method="POST",
        data=b'{"code": "affirm"}',
        headers={"Content-Type": "application/json", "X-MSW": "1"},
    )
    assert status == 401
    # a forged cookie is no login
    status, _, _ = _request(base + f"/media/{sid}", cookie="msw_session=forged")
    assert status == 401


def test_login_rejects_wrong_password_and_open_redirects(served):
    _store, _sid, base = served
    status, headers, _ = _request(
        base + "/login",
        method="POST",
        data=b"username=eva&password=wrong-password&next=/",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 303 and "error=1" in headers["location"] and "set-cookie" not in headers
    status, headers, _ = _request(
        base + "/login",
        method="POST",
        data=f"username=eva&password={PASSWORD}&next=//evil.example/".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 303 and headers["location"] == "/"


def test_audio_supports_range_and_roles(served):
    store, sid, base = served
    eva = _login(base, "eva")
    size = store.audio_file(sid, store.get_user("eva")).stat().st_size
    status, headers, body = _request(
        base + f"/media/{sid}", cookie=eva, headers={"Range": "bytes=100-199"}
    )
    assert status == 206 and len(body) == 100
    assert headers["content-range"] == f"bytes 100-199/{size}"
    status, _, _ = _request(base + f"/media/{sid}", cookie=_login(base, "rita"))
    assert status == 403, "a researcher sees exports, not audio"
    status, _, _ = _request(base + "/media/snotasession", cookie=eva)
    assert status == 404


def test_roles_enforced_on_json_routes(served):
    store, sid, base = served
    url = base + f"/api/sessions/{sid}/utterances/u0003/code"  # a parent's line
    body = b'{"code": "change_talk"}'
    json_headers = {"Content-Type": "application/json", "X-MSW": "1"}
    status, _, _ = _request(
        url, method="POST", data=body, headers=json_headers, cookie=_login(base, "cora")
    )
    assert status == 403, "a coach cannot edit codes"
    eva = _login(base, "eva")
    status, _, _ = _request(
        url, method="POST", data=body, headers={"Content-Type": "application/json"}, cookie=eva
    )
    assert status == 403, "state changes need the X-MSW header (CSRF)"
    status, _, _ = _request(url, method="POST", data=body, headers=json_headers, cookie=eva)
    assert status == 200
    assert (
        store.get_decisions(sid, store.get_user("eva"))["codes"]["u0003"]["code"] == "change_talk"
    )
    rita = _login(base, "rita")
    status, _, csv_body = _request(base + "/export/labels.csv", cookie=rita)
    assert status == 200
    assert csv_body.decode().splitlines()[0] == (
        "session_id,utterance_id,role,text,prev_text,code,evaluator,confirmed_at,model_version"
    )
    status, _, _ = _request(base + "/export/labels.csv", cookie=eva)
    assert status == 403


# ------------------------------------------------------------------------------ browser


def _browser_login(browser, base, name, target):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    hosts = set()
    page.on("request", lambda r: hosts.add(r.url.split("/")[2] if "://" in r.url else r.url))
    page.msw_hosts = hosts  # every host the page contacted (checked: loopback only)
    page.goto(base + target)
    assert "/login" in page.url, "every page asks for a login first"
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".msw-utt", timeout=60_000)
    return page


@pytest.mark.browser
def test_evaluator_seeks_codes_with_hotkey_and_it_persists(served, browser, tmp_path):
    store, sid, base = served
    page = _browser_login(browser, base, "eva", f"/ui/?session={sid}")
    rows = page.locator(".msw-utt")
    # click an utterance: the audio element jumps to its start
    target = rows.nth(6)
    start = float(target.get_attribute("data-start"))
    target.click()
    page.wait_for_function(
        "s => { const a = document.querySelector('audio.msw-audio');"
        " return a && a.readyState >= 1 && Math.abs(a.currentTime - s) < 0.75; }",
        arg=start,
        timeout=20_000,
    )
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    assert "msw-selected" in target.get_attribute("class")

    # the codebook's hotkey for complex reflection, on a practitioner row
    book = load_codebook_view()
    key = next(c.hotkey for c in book.groups["practitioner"] if c.id == "complex_reflection")
    prac = page.locator('.msw-utt[data-group="practitioner"]').nth(3)
    uid = prac.get_attribute("data-uid")
    prac.click()
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    page.keyboard.press(key)
    chip = page.locator(f'.msw-utt[data-uid="{uid}"] .msw-final .msw-chip')
    chip.wait_for(timeout=10_000)
    assert chip.get_attribute("data-code") == "complex_reflection"
    assert (
        store.get_decisions(sid, store.get_user("eva"))["codes"][uid]["code"]
        == "complex_reflection"
    )
    # the selection moved on, Enter accepts the next suggestion
    nxt = page.locator(".msw-utt.msw-selected")
    nxt_uid = nxt.get_attribute("data-uid")
    suggested = nxt.get_attribute("data-suggested")
    page.keyboard.press("Enter")
    page.locator(f'.msw-utt[data-uid="{nxt_uid}"] .msw-final .msw-chip').wait_for(timeout=10_000)

    page.screenshot(path=str(tmp_path / "evaluator.png"))
    assert page.msw_hosts == {base.split("/")[2]}, f"nothing leaves the machine: {page.msw_hosts}"
    page.reload()
    page.wait_for_selector(".msw-utt", timeout=60_000)
    after = page.locator(f'.msw-utt[data-uid="{uid}"] .msw-final .msw-chip')
    assert after.get_attribute("data-code") == "complex_reflection", "saved across a reload"
    again = page.locator(f'.msw-utt[data-uid="{nxt_uid}"] .msw-final .msw-chip')
    assert again.get_attribute("data-code") == suggested
    page.context.close()


@pytest.mark.browser
def test_coach_cannot_change_codes_in_the_browser(served, browser):
    store, sid, base = served
    page = _browser_login(browser, base, "cora", f"/ui/?session={sid}")
    assert page.locator(".msw-role-select").count() == 0
    assert page.locator(".msw-score-confirm").count() == 0
    row = page.locator('.msw-utt[data-group="practitioner"]').nth(8)
    uid = row.get_attribute("data-uid")
    row.click()
    page.keyboard.press("e")
    page.keyboard.press("Enter")
    page.wait_for_selector(".msw-toast.msw-toast-error", timeout=10_000)
    assert page.locator(f'.msw-utt[data-uid="{uid}"] .msw-final .msw-chip').count() == 0
    assert uid not in store.get_decisions(sid, store.get_user("cora"))["codes"]
    # the server refuses too, whatever the browser does
    status = page.evaluate(
        """async ([sid, uid]) => (await fetch(`/api/sessions/${sid}/utterances/${uid}/code`, {
            method: 'POST', headers: {'Content-Type': 'application/json', 'X-MSW': '1'},
            body: JSON.stringify({code: 'affirm'})})).status""",
        [sid, uid],
    )
    assert status == 403
    page.context.close()


@pytest.mark.browser
def test_evaluator_uploads_a_recording_for_processing(served, browser):
    from tests.conftest import shared_dir

    store, sid, base = served
    jfk = shared_dir() / "data" / "audio" / "jfk.flac"
    if not jfk.is_file():
        pytest.skip(f"needs {jfk}")
    page = _browser_login(browser, base, "eva", f"/ui/?session={sid}")
    page.get_by_text("Upload a recording for processing").click()
    page.locator("#msw-upload input[type=file]").set_input_files(str(jfk))
    page.wait_for_selector("text=jfk.flac", timeout=60_000)  # upload finished
    page.get_by_role("button", name="Upload and process").click()
    page.wait_for_selector("text=Queued as job", timeout=60_000)
    from msw_audio.jobs.queue import list_jobs

    jobs = list_jobs(store, store.get_user("eva"))
    assert any(j.source_name == "jfk.flac" and j.state == "queued" for j in jobs)
    page.context.close()


@pytest.mark.browser
def test_queue_and_jobs_follow_the_store_without_a_refresh_click(served, browser):
    from msw_audio.jobs.queue import enqueue
    from tests.conftest import REPO

    store, sid, base = served
    page = _browser_login(browser, base, "eva", f"/ui/?session={sid}")
    page.get_by_text("Upload a recording for processing").click()
    recording = REPO / "tests" / "data" / "three_speakers" / "three_speakers.ogg"
    assert "three_speakers.ogg" not in page.content()  # the page was open before the job
    enqueue(store, recording, store.get_user("eva"), meta={"title": "Live check"})
    # no button is pressed: the next tick brings the job into the table
    page.wait_for_function(
        "document.body.innerHTML.includes('three_speakers.ogg')", timeout=30_000
    )
    page.context.close()


# ------------------------------------------------------------------------------ families
# the Families tab (web/tab_family.py) on the same served store and browser
def _open_families(browser, base, name):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(base + "/ui/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("tab", name="Families").click(timeout=60_000)
    return page


def _view_has(page, text: str) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#msw-family-view')?.innerText || '').includes(t)",
        arg=text, timeout=30_000,
    )


def _result_has(page, text: str) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#msw-family-result')?.innerText || '').includes(t)",
        arg=text, timeout=30_000,
    )


@pytest.mark.browser
def test_goals_and_gbo_ratings_entered_in_the_browser(served, browser, tmp_path):
    store, _sid, base = served
    page = _open_families(browser, base, "eva")
    page.get_by_text("Add a family").click()
    page.get_by_label("New family pseudonym").fill("Family B")
    page.get_by_label("Family's team").fill("North")
    page.get_by_role("button", name="Add family").click()
    _result_has(page, "Family Family B added.")

    page.get_by_label("Goal (the family's words)").fill("Tea time without arguments")
    page.get_by_label("Date set (YYYY-MM-DD)").fill("2026-10-01")
    page.get_by_role("button", name="Add goal").click()
    _view_has(page, "Tea time without arguments")

    page.get_by_label("Goal number").fill("1")
    page.get_by_label("Rating (0–10)").fill("3")
    page.get_by_label("Rated on (YYYY-MM-DD)").fill("2026-10-01")
    page.get_by_role("button", name="Save rating").click()
    _view_has(page, "3 (start 2026-10-01)")

    # a bad date: a clear message, and the start rating is still there
    page.get_by_label("Rating (0–10)").fill("8")
    page.get_by_label("Rated on (YYYY-MM-DD)").fill("20/11/2026")
    page.get_by_role("button", name="Save rating").click()
    _result_has(page, "is not YYYY-MM-DD")
    page.get_by_label("Rated on (YYYY-MM-DD)").fill("2026-11-20")
    page.get_by_role("button", name="Save rating").click()
    _view_has(page, "8 (review 2026-11-20)")

    eva = store.get_user("eva")
    goal = store.family_view("Family B", eva)["goals"][0]
    assert [(r["occasion"], r["score"]) for r in goal["ratings"]] == [("start", 3),
                                                                      ("review", 8)]
    assert goal["change"] == 5
    page.screenshot(path=str(tmp_path / "families.png"), full_page=True)
    assert page.evaluate("location.host") == base.split("/")[2]
    page.context.close()

    # a coach reads the family but has no entry controls (the store refuses anyway)
    page = _open_families(browser, base, "cora")
    page.get_by_label("Family (pseudonym)").fill("Family B")
    page.get_by_role("button", name="Show family").click()
    _view_has(page, "Tea time without arguments")
    assert page.get_by_role("button", name="Save rating").count() == 0
    page.context.close()


def _supervision_session():
    """The demo supervision recording's reference transcript as a Session, with fixed
    glue suggestions (no model runs here) and rubric scores computed from them."""
    from msw_audio.coding.codebook import codebook_for_recording_type, load_codebook
    from msw_audio.records import AudioInfo, CodeSuggestion, Session, Speaker, Utterance
    from msw_audio.scoring.supervision import score_supervision
    from msw_audio.speech.audio import sha256_file
    from tests.test_supervision import DEMO

    book = load_codebook(codebook_for_recording_type("supervision"))
    ids = {"supervisor": "SPEAKER_00", "practitioner": "SPEAKER_01"}
    utts = []
    for i, line in enumerate((DEMO / "supervision.stm").read_text().splitlines()):
        _u, _c, spk, start, end, text = line.split(maxsplit=5)
        code = ("open_question" if text.endswith("?") else "directive") \
            if spk == "supervisor" else "case_report"
        utts.append(Utterance(id=f"u{i:04d}", start=float(start), end=float(end),
                              speaker=ids[spk], text=text, codes=[CodeSuggestion(code, 0.6)]))
    audio = DEMO / "supervision.ogg"
    session = Session(
        audio=AudioInfo(path=str(audio), sha256=sha256_file(audio), duration=utts[-1].end + 1),
        speakers=[Speaker("SPEAKER_00", "practitioner", 0.8, 50.0),
                  Speaker("SPEAKER_01", "other", 0.5, 45.0)],
        utterances=utts, models={"codebook": book.to_record()})
    session.scores = {"supervision": score_supervision(session, book)}
    return session, audio


@pytest.mark.browser
def test_supervision_codes_by_hotkey_and_rubric_confirmed_in_the_browser(served, browser,
                                                                        tmp_path):
    from tests.conftest_app import write_session_dir

    store, _sid, base = served
    session, audio = _supervision_session()
    sid = store.ingest(write_session_dir(session, tmp_path / "sup"), audio_path=audio,
                       meta={"worker": "Sam", "team": "North", "date": "2026-11-03",
                             "recording_type": "supervision", "title": "Supervision demo"})
    page = _browser_login(browser, base, "eva", f"/ui/?session={sid}")
    assert page.locator(".msw-role-select option:checked").first.inner_text() == "supervisor"
    row = page.locator('.msw-utt[data-group="practitioner"]').nth(5)
    uid = row.get_attribute("data-uid")
    row.click()
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    page.keyboard.press("p")  # the supervision codebook's hotkey for a purpose question
    chip = page.locator(f'.msw-utt[data-uid="{uid}"] .msw-final .msw-chip')
    chip.wait_for(timeout=10_000)
    assert chip.get_attribute("data-code") == "purpose_question"
    assert store.get_decisions(sid, store.get_user("eva"))["codes"][uid]["code"] == \
        "purpose_question"

    page.get_by_role("tab", name="Supervision").click()
    page.get_by_label("Supervision session").click()
    page.get_by_role("option", name="Supervision demo").first.click()
    page.wait_for_function(
        "() => (document.querySelector('#msw-supervision-scores')?.innerText || '')"
        ".includes('Reflective vs directive balance')", timeout=30_000)
    page.get_by_label("Dimension").click()
    page.get_by_role("option", name="Child focus").click()
    page.get_by_label("Score (1–5, halves)").fill("4.5")
    page.get_by_role("button", name="Confirm score").click()
    page.wait_for_function(
        "() => (document.querySelector('#msw-supervision-result')?.innerText || '')"
        ".includes('Score confirmed')", timeout=30_000)
    dims = store.supervision_scores(sid, store.get_user("eva"))["dimensions"]
    assert dims["child_focus"]["confirmed"] == 4.5
    page.context.close()


# ------------------------------------------------------------------------------ other views
def test_cli_registers_serve_and_demo_on_loopback():
    from msw_audio.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["serve", "--data", "/tmp/x", "--port", "8123"])
    assert (args.port, args.host, str(args.data)) == (8123, "127.0.0.1", "/tmp/x")
    args = parser.parse_args(["demo", "--port", "8124"])
    assert args.func.__name__ == "cmd_demo" and args.host == "127.0.0.1"


def test_team_view_and_exemplars_from_a_real_store(tmp_path):
    import hashlib

    from msw_audio.review.auth import system_user
    from msw_audio.review.store import Store
    from msw_audio.web.render import exemplars_html, shortlist_markdown
    from msw_audio.web.team import distribution_figure, reflection_prompts, trend_figure
    from tests.conftest_app import PRINCIPLES, write_session_dir

    store = Store.open(tmp_path / "data")
    admin = system_user("test")
    workers = ["Sam", "Alex", "Jo"]
    for k in range(3):
        s = demo_session()
        s.audio.path = ""
        s.audio.sha256 = hashlib.sha256(f"visit{k}".encode()).hexdigest()
        sid = store.ingest(
            write_session_dir(s, tmp_path / f"out{k}"),
            actor=admin,
            meta={"worker": workers[k], "team": "North", "date": f"2026-10-0{k + 1}"},
        )
        for i, p in enumerate(PRINCIPLES):
            store.confirm_score(sid, p, 2.0 + (i % 3) + 0.5 * k, "", admin)
        store.set_code(sid, s.utterances[2].id, "complex_reflection", admin)

    df = store.team_summary(admin, team="North")
    df = df[df["kind"] == "principle"]
    text = reflection_prompts(df, "principle")
    assert "Prompts for reflection" in text and "3 reviewed sessions" in text
    assert not any(w in text for w in workers), "prompts never name or rank a worker"
    assert trend_figure(df, "principle").axes[0].lines, "one line per principle"
    assert distribution_figure(df, "principle").axes
    lonely = store.team_summary(admin, worker="Sam")
    assert lonely.empty, "a group with fewer than 3 sessions is not shown"
    assert "Not enough" in reflection_prompts(lonely, "principle")

    items = store.exemplars(admin, code="complex_reflection")
    assert len(items) == 3
    book = load_codebook_view()
    html = exemplars_html(items, book, can_listen=True)
    assert html.count('class="msw-exemplar ') == 3 and "msw-play-clip" in html
    assert 'data-media="/media/' in html
    assert "msw-play-clip" not in exemplars_html(items, book, can_listen=False)
    md = shortlist_markdown(items[:1], book)
    assert md.startswith("# Coaching shortlist") and "**" in md
    store.close()


def test_login_throttle_locks_a_name_after_repeated_failures_then_forgives():
    from msw_audio.web.server import LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(limit=3, window=60.0, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.wait_seconds("Eva") == 0
        throttle.failed("eva")
    assert throttle.wait_seconds("EVA") == pytest.approx(60.0)
    assert throttle.wait_seconds("cora") == 0  # other names are not affected
    now[0] += 61
    assert throttle.wait_seconds("eva") == 0
    throttle.failed("eva")
    throttle.succeeded("eva")
    assert throttle.wait_seconds("eva") == 0


def test_repeated_wrong_passwords_lock_the_login_even_for_the_right_one(tmp_path):
    from fastapi.testclient import TestClient

    from msw_audio.web.server import create_app

    store, _sid = make_store(tmp_path / "data")
    with TestClient(create_app(store, mount_ui=False), follow_redirects=False) as client:
        for _ in range(5):
            r = client.post("/login", data={"username": "eva", "password": "wrong"})
            assert r.headers["location"].startswith("/login?error=1")
        r = client.post("/login", data={"username": "eva", "password": PASSWORD})
        assert r.headers["location"].startswith("/login?error=locked")
        assert "msw_session" not in r.cookies
        assert "Too many failed attempts" in client.get("/login?error=locked").text
        r = client.post("/login", data={"username": "cora", "password": PASSWORD})
        assert r.status_code == 303 and "msw_session" in r.cookies
    store.close()
