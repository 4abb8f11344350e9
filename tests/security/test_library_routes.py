"""The coach library and double-coding routes: login, CSRF, role and team on the server,
and a blind second coder who never receives the first coder's codes from any route."""

from __future__ import annotations

import json

import pytest

from tests.conftest_app import PASSWORD, demo_session, make_store, running_server
from tests.test_app import _login, _request

JSON = {"Content-Type": "application/json", "X-MSW": "1"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("library-routes")
    store, sid = make_store(root / "data")
    store.add_user("bo", "evaluator", PASSWORD)
    store.add_user("cora_s", "coach", PASSWORD, teams=("South",))
    eva = store.get_user("eva")
    for u in demo_session().utterances[:12]:
        store.accept_code(sid, u.id, eva)
    store.confirm_score(sid, "empathy", 4.5, "first coder's note", eva)
    store.assign_blind(sid, "bo", eva)
    store.set_code(sid, "u0002", "closed_question", store.get_user("bo"))
    with running_server(store) as base:
        yield store, sid, base
    store.close()


def _post(base, path, body, cookie, headers=JSON):
    return _request(base + path, method="POST", data=json.dumps(body).encode(),
                    headers=headers, cookie=cookie)


def test_library_routes_need_login_csrf_role_and_team(served):
    store, sid, base = served
    for path in ("/api/library", "/api/double-coding", "/api/blind",
                 "/export/double-coding.csv"):
        assert _request(base + path)[0] == 401, path
    star = {"session_id": sid, "utterance_id": "u0005", "note": "clear reflection"}
    assert _post(base, "/api/library/star", star, None)[0] == 401
    cora = _login(base, "cora")
    assert _post(base, "/api/library/star", star, cora,
                 headers={"Content-Type": "application/json"})[0] == 403, "CSRF header"
    assert _post(base, "/api/library/star", star, _login(base, "rita"))[0] == 403
    assert _post(base, "/api/library/star", star, _login(base, "cora_s"))[0] == 404
    assert _post(base, "/api/library/star", star, cora)[0] == 200
    status, _, body = _request(base + "/api/library", cookie=cora)
    assert status == 200 and json.loads(body)[0]["utterance_id"] == "u0005"
    status, _, body = _request(base + "/api/library?q=nothing-like-this", cookie=cora)
    assert json.loads(body) == []
    # an empty shortlist exports nothing and says so
    status, _, body = _post(base, "/api/library/handout", {"items": [], "format": "pdf"}, cora)
    assert status == 400 and "nothing is shortlisted" in body.decode()
    status, headers, body = _post(base, "/api/library/handout", {
        "items": [{"session_id": sid, "utterance_id": "u0000"}], "format": "md"}, cora)
    assert status == 200 and "attachment" in headers["content-disposition"]
    assert b"Jade" not in body and b"Family D" not in body
    assert b"[CHILD]" in body or b"[NAME]" in body
    status, _, _ = _post(base, "/api/library/handout", {
        "items": [{"session_id": sid, "utterance_id": "u0000"}], "format": "md"},
        _login(base, "cora_s"))
    assert status == 404, "another team's lines are not found"
    assert _post(base, "/api/library/unstar", star, cora)[0] == 200
    assert _post(base, "/api/library/unstar", star, cora)[0] == 404


def test_assign_and_report_routes_check_roles(served):
    store, sid, base = served
    assert _post(base, f"/api/sessions/{sid}/blind", {"coder": "bo"},
                 _login(base, "cora"))[0] == 403
    status, _, body = _post(base, f"/api/sessions/{sid}/blind", {"coder": "eva"},
                            _login(base, "ada"))
    assert status == 400 and "already coded" in body.decode()
    eva = _login(base, "eva")
    status, _, body = _request(base + f"/api/double-coding?session={sid}", cookie=eva)
    report = json.loads(body)
    assert status == 200 and report["codes"]["n"] == 1
    assert report["disagreements"][0]["link"] == f"/ui/?session={sid}&line=u0002"
    assert _request(base + "/export/double-coding.csv", cookie=eva)[0] == 403
    status, _, body = _request(base + "/export/double-coding.json?team=North",
                               cookie=_login(base, "rita"))
    assert status == 200 and json.loads(body)["codes"]["n"] == 1
    assert _request(base + "/export/double-coding.xml", cookie=_login(base, "rita"))[0] == 400


def test_the_blind_coder_never_receives_the_first_coders_codes(served):
    store, sid, base = served
    firsts = store.get_decisions(sid, store.get_user("eva"))["codes"]
    assert len(firsts) == 12
    bo = _login(base, "bo")
    status, _, body = _request(base + f"/api/sessions/{sid}", cookie=bo)
    data = json.loads(body)
    assert status == 200 and set(data["decisions"]["codes"]) == {"u0002"}
    assert data["decisions"]["scores"] == {} and data["decisions"]["roles"] == {}
    sources = {c["source"] for u in data["session"]["utterances"] for c in u["codes"]}
    assert sources == {"model", "evaluator"}
    mine = [u["id"] for u in data["session"]["utterances"]
            if u["codes"][0]["source"] == "evaluator"]
    assert mine == ["u0002"]
    assert "first coder's note" not in body.decode()
    assert data["meta"]["reviewed_by"] is None and data["meta"]["blind"] is True
    # the rendered review pane: only the blind coder's own line is confirmed
    status, _, html = _request(base + f"/fragment/review/{sid}", cookie=bo)
    html = html.decode()
    assert status == 200 and "Blind second coding" in html
    assert html.count("msw-done") == 1 and "first coder&#x27;s note" not in html
    assert "first coder" not in html.replace("first evaluator", "")
    # every other route the blind coder can call
    status, _, body = _request(base + "/api/sessions", cookie=bo)
    assert [s["n_confirmed"] for s in json.loads(body)] == [1]
    assert _request(base + f"/api/double-coding?session={sid}", cookie=bo)[0] == 404
    status, _, body = _request(base + "/api/double-coding", cookie=bo)
    assert json.loads(body)["codes"]["n"] == 0
    status, _, body = _request(base + "/api/library", cookie=bo)
    assert json.loads(body) == []
    status, _, body = _request(base + "/api/blind", cookie=bo)
    assert [p["coder"] for p in json.loads(body)] == ["bo"]
    status, _, body = _post(base, f"/api/sessions/{sid}/utterances/u0003/accept", {}, bo)
    assert status == 200 and json.loads(body)["n_confirmed"] == 2
    status, _, body = _post(base, f"/api/sessions/{sid}/speakers/SPEAKER_00/role",
                            {"role": "parent"}, bo)
    assert status == 400 and "blind" in body.decode()
    assert store.get_decisions(sid, store.get_user("eva"))["codes"] == firsts


@pytest.mark.browser
def test_a_coach_stars_an_exemplar_it_comes_first_and_exports(served, tmp_path):
    from pypdf import PdfReader

    from tests.conftest_app import CHROMIUM, CHROMIUM_ARGS
    from tests.test_app import _browser_login

    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    store, sid, base = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = _browser_login(browser, base, "cora", f"/ui/?session={sid}")
        page.get_by_role("tab", name="Coach library").click()
        cards = page.locator(".msw-lib-card")
        cards.first.wait_for(timeout=60_000)
        target = cards.nth(2)
        uid = target.get_attribute("data-uid")
        target.locator(".msw-star-note").fill("Lovely reflection")
        target.locator(".msw-star").click()
        page.wait_for_selector("text=Starred: it is listed first", timeout=10_000)
        assert cards.first.get_attribute("data-uid") == uid
        page.locator("#msw-lib-find").click()  # from the server again
        page.wait_for_function(
            "uid => { const c = document.querySelector('.msw-lib-card');"
            " return c && c.dataset.uid === uid && c.querySelector('.msw-starred'); }",
            arg=uid, timeout=30_000)
        # nothing shortlisted: nothing exported, and the page says so
        page.locator(".msw-sl-export[data-format=pdf]").click()
        page.wait_for_selector("text=Nothing is shortlisted", timeout=10_000)
        page.locator(".msw-lib-card").first.locator(".msw-sl-add").check()
        page.locator(".msw-lib-card").nth(1).locator(".msw-sl-add").check()
        assert page.locator(".msw-sl-count").inner_text() == "2"
        with page.expect_download(timeout=30_000) as dl:
            page.locator(".msw-sl-export[data-format=pdf]").click()
        pdf = tmp_path / "note.pdf"
        dl.value.save_as(pdf)
        text = PdfReader(str(pdf)).pages[0].extract_text()
        assert "Practice note" in text and "Lovely reflection" in text
        assert "Jade" not in text and "Family D" not in text and "Mark" not in text
        assert page.msw_hosts == {base.split("/")[2]}
        page.context.close()
        browser.close()
    assert any(a["action"] == "exemplar.star" for a in store.audit_log(store.get_user("ada")))
