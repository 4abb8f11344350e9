#!/usr/bin/env python3
"""Screenshots of every tab of the review screen, each as the role that uses it, in docs/img/.

Taken in headless Chromium at 1280×800 from the real served app (``create_app``) on a demo
store in a fresh data folder:

* the bundled demo visit as the real pipeline codes it (``prepare_demo``, as ``msw-audio
  demo`` does; about a minute the first time, then from the stage cache), and the bundled
  supervision recording processed with the supervision codebook;
* three copies of the visit with confirmed principle scores (a team view needs at least
  three reviewed sessions in a month), a family with goals, ratings and feedback, starred
  exemplars, and a blind second pass by a second evaluator — all through ``Store`` methods
  as the role that would make them, so every figure is the store's own.

The review pane is photographed first, before any decision, so ``demo-session.png`` shows
the pipeline's suggestions as they are. Each PNG is cropped to the useful area and reduced
to a 256-colour palette (UI pixels lose nothing visible; files stay well under 250 kB).

    .venv/bin/python scripts/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VIEW = {"width": 1280, "height": 800}
#: the tallest a cropped tab screenshot may be (px); longer tabs are cut there
MAX_HEIGHT = 1800
SUPERVISION_AUDIO = REPO / "msw_audio" / "demo" / "supervision" / "supervision.ogg"


def small_png(path: Path) -> None:
    """Rewrite ``path`` as a 256-colour optimised PNG: why — a UI screenshot has few
    colours, and a palette PNG is a third to a fifth of the RGB one."""
    from PIL import Image

    with Image.open(path) as img:
        pal = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                          dither=Image.Dither.NONE)
    pal.save(path, optimize=True)


class Shooter:
    """Logs in as a role, takes cropped, small screenshots into ``out``."""

    def __init__(self, browser: Any, base: str, password: str, out: Path,
                 only: set[str] | None = None) -> None:
        self.browser, self.base, self.password, self.out = browser, base, password, out
        #: ``--only``: the file names to (re)write; None writes every one
        self.only = only

    def wants(self, name: str) -> bool:
        return self.only is None or name in self.only

    def raw(self, page: Any, name: str) -> None:
        """The viewport as it is now (no settling: a toast would fade)."""
        if self.wants(name):
            page.screenshot(path=str(self.out / name))
            small_png(self.out / name)

    def login(self, name: str, target: str = "/ui/", review: bool = False) -> Any:
        page = self.browser.new_context(viewport=VIEW).new_page()
        page.goto(self.base + target)
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", self.password)
        page.click("button[type=submit]")
        page.wait_for_selector(".msw-header", timeout=120_000)  # Gradio's load event is done
        if review:
            page.wait_for_selector(".msw-review[data-regions]", timeout=120_000)
            page.wait_for_selector(".msw-wave canvas, .msw-wave div", timeout=60_000,
                                   state="attached")
        page.wait_for_timeout(800)
        return page

    def tab(self, page: Any, name: str) -> None:
        page.get_by_role("tab", name=name).click(timeout=60_000)
        page.wait_for_timeout(800)

    def shot(self, page: Any, name: str, below: str | None = None) -> Path:
        """The viewport, or (``below``: a CSS selector) the page from the top down to the
        bottom of the last visible element matching it, at most ``MAX_HEIGHT``."""
        path = self.out / name
        if not self.wants(name):
            return path
        self._settle(page)
        if below is None:
            page.screenshot(path=str(path))
        else:
            bottom = page.evaluate(
                """sel => Math.max(0, ...[...document.querySelectorAll(sel)]
                     .filter(e => e.offsetParent !== null)
                     .map(e => e.getBoundingClientRect().bottom + window.scrollY))""",
                below)
            height = int(min(MAX_HEIGHT, bottom + 16))
            page.screenshot(path=str(path), full_page=True,
                            clip={"x": 0, "y": 0, "width": VIEW["width"], "height": height})
        small_png(path)
        return path

    @staticmethod
    def _settle(page: Any) -> None:
        """No Gradio spinner or pending bar left in the picture."""
        page.wait_for_function(
            "() => !document.querySelector('.wrap.pending, .eta-bar, .progress-text')",
            timeout=60_000)
        page.wait_for_timeout(400)


def review_shots(s: Shooter, sid: str) -> None:
    """The review pane as the evaluator and the coach see it (no decision made yet)."""
    page = s.login("evaluator", "/ui/")
    page.wait_for_selector("#msw-queue table", timeout=60_000)
    s.shot(page, "evaluator-queue.png", below="[role=tabpanel] .block")
    page.context.close()

    page = s.login("evaluator", f"/ui/?session={sid}", review=True)
    s.shot(page, "demo-session.png")
    rows = page.locator(".msw-utt")
    rows.nth(5).click()
    page.wait_for_timeout(2500)  # a few lines heard: one highlighted, list following
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    page.keyboard.press("Enter")  # accept the suggestion: the header's save note says so
    page.wait_for_selector(".msw-toast.msw-toast-on", timeout=10_000)
    page.wait_for_timeout(300)
    s.raw(page, "evaluator-review.png")  # the toast fades: no settle
    page.wait_for_selector(".msw-toast.msw-toast-on", state="detached", timeout=15_000)
    page.keyboard.press("/")
    page.keyboard.type("speaker:parent")
    page.wait_for_timeout(400)
    s.shot(page, "evaluator-search.png")
    page.context.close()

    page = s.login("evaluator", f"/ui/?session={sid}", review=True)
    page.get_by_text("Least confident first").click()
    page.wait_for_selector(".msw-review[data-regions]", timeout=60_000)
    page.wait_for_timeout(500)
    page.evaluate("document.querySelector('.msw-review .msw-transcript')?.scrollTo(0, 0)")
    s.shot(page, "evaluator-least-confident.png")
    page.context.close()

    page = s.login("coach", f"/ui/?session={sid}", review=True)
    page.locator('.msw-utt[data-group="practitioner"]').nth(2).click()
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    page.keyboard.press("e")
    page.wait_for_selector(".msw-toast.msw-toast-on")
    page.wait_for_timeout(600)  # the note has faded in
    s.raw(page, "coach-read-only.png")
    page.context.close()


def editing_shots(s: Shooter, sid: str) -> None:
    """An evaluator about to drag a line's boundary (zoomed in, the region handles and the
    spectrogram shown), and the All sessions search with a regular expression."""
    page = s.login("evaluator", f"/ui/?session={sid}", review=True)
    for _ in range(3):
        page.click(".msw-zoom-in")
    row = page.locator(".msw-utt").nth(4)
    row.locator(".msw-text").click()
    page.evaluate("document.querySelector('audio.msw-audio').pause()")
    page.evaluate("""() => { const r = document.querySelector('.msw-review');
        r._ws.setScrollTime(Math.max(0, +r.querySelector('.msw-utt.msw-selected')
        .dataset.start - 1.5)); }""")
    page.click(".msw-spectrogram-toggle")
    page.wait_for_function(
        "() => document.querySelector('.msw-review').dataset.spectrogram === 'ready'",
        timeout=300_000)
    page.wait_for_timeout(1000)
    s.shot(page, "evaluator-boundaries.png")
    page.fill(".msw-search", r"/\b(school|attend\w*)\b/")
    page.click(".msw-search-all")
    page.wait_for_selector(".msw-search-hit", timeout=60_000)
    page.wait_for_timeout(400)
    s.shot(page, "evaluator-search-all.png")
    page.context.close()


def populate(store: Any, sid: str, tmp: Path, password: str) -> dict[str, str]:
    """What the other tabs show, made through ``Store`` methods as each role would."""
    from msw_audio.cli.app import DEMO_META
    from msw_audio.coding.codebook import codebook_for_recording_type
    from msw_audio.errors import MswError
    from msw_audio.pipeline import PipelineConfig, process_recording
    from msw_audio.records import PRINCIPLES, Session
    from msw_audio.review.auth import system_user
    from msw_audio.review.by_exception import default_threshold
    from tests.conftest_app import write_session_dir

    admin = system_user("screenshots")
    team, worker = DEMO_META["team"], DEMO_META["worker"]
    ev, coach = store.get_user("evaluator"), store.get_user("coach")
    demo = store.get_session(sid, admin)

    # the evaluator codes the visit: accept >= T %, then decide the rest, overruling the
    # model on some unsure lines (its second guess), and confirms the principle scores
    store.accept_above(sid, default_threshold(), ev)
    unsure = 0
    for u in demo.utterances:
        if not u.codes or u.codes[0].probability >= default_threshold():
            continue
        unsure += 1
        try:
            if unsure % 3 == 0 and len(u.codes) > 1:
                store.set_code(sid, u.id, u.codes[1].code, ev)
            else:
                store.accept_code(sid, u.id, ev)
        except MswError:
            pass  # a suggestion that does not fit the speaker's role: left for a person
    suggested = demo.scores.get("principles", {})
    for j, p in enumerate(PRINCIPLES):
        value = float((suggested.get(p) or {}).get("value") or 3.0)
        store.confirm_score(sid, p, max(1.0, value - 0.5 * (j % 2)), "", ev)

    # blind double coding: evaluator2 codes the same visit without seeing those codes
    store.add_user("evaluator2", "evaluator", password)
    store.assign_blind(sid, "evaluator2", ev)
    ev2 = store.get_user("evaluator2")
    for i, u in enumerate(demo.utterances):
        if not u.codes:
            continue
        pick = u.codes[1].code if i % 5 == 0 and len(u.codes) > 1 else u.codes[0].code
        try:
            store.set_code(sid, u.id, pick, ev2)
        except MswError:
            store.set_code(sid, u.id, u.codes[0].code, ev2)
    for j, p in enumerate(PRINCIPLES):
        value = float((suggested.get(p) or {}).get("value") or 3.0)
        store.confirm_score(sid, p, max(1.0, value - 0.5 * (j % 3 == 0)), "", ev2)
    store.mark_reviewed(sid, ev2)  # finishes the blind pass

    # the coach stars two lines for the library
    good = [u for u in demo.utterances
            if u.codes and u.codes[0].code in {"complex_reflection", "open_question", "affirm"}
            and len(u.text.split()) >= 6]
    for u, note in zip(good[:2], ("Reflects the worry behind the words before asking more.",
                                  "Open question that hands the agenda to the parent."),
                       strict=False):
        store.star_exemplar(sid, u.id, coach, note=note)

    # a team view needs three reviewed sessions in a month: three copies of the visit
    for k in range(3):
        copy = Session.from_dict(demo.to_dict())
        copy.audio = dataclasses.replace(copy.audio, path="", sha256=f"{k + 1:x}" * 64)
        other = store.ingest(write_session_dir(copy, tmp / f"copy{k}"), actor=admin,
                             meta={"team": team, "worker": worker,
                                   "title": f"Home visit {k + 1} (copy of the demo)",
                                   "date": f"2026-01-{5 + 7 * k:02d}"})
        for j, p in enumerate(PRINCIPLES):
            store.confirm_score(other, p, min(5.0, 2.5 + (j % 3) * 0.5 + k * 0.5), "", ev)
        store.mark_reviewed(other, ev)

    # the family's voice: goals in their own words, GBO ratings, feedback after the visit
    fam = DEMO_META["family"]
    store.add_family(fam, team, ev)
    # (dated around the demo visit, which is dated today, so it sits between the ratings)
    today = date.today()
    start, review = (today - timedelta(days=28)).isoformat(), today.isoformat()
    g1 = store.add_goal(fam, "Mornings without shouting before school", start, ev)
    g2 = store.add_goal(fam, "Jade gets herself up for school", start, ev)
    for g, first, later in ((g1, 2, 6), (g2, 3, 5)):
        store.rate_goal(fam, g, first, start, ev)
        store.rate_goal(fam, g, later, review, ev)
    store.add_feedback(fam, {"helpfulness": 4, "comment": "We felt listened to this time."},
                       review, ev, session_id=sid)

    # a supervision session, processed by the real pipeline with the supervision codebook
    out = tmp / "supervision-out"
    process_recording(SUPERVISION_AUDIO, out, config=PipelineConfig(
        codebook=codebook_for_recording_type("supervision")))
    sup = store.ingest(out, actor=admin, audio_path=SUPERVISION_AUDIO,
                       meta={"recording_type": "supervision", "worker": worker, "team": team,
                             "title": "Supervision (fictional demo)", "date": "2026-01-20"})
    store.confirm_supervision_score(sup, "child_focus", 3.5, "asked about the child once", ev)
    return {"supervision": sup}


def tab_shots(s: Shooter, store: Any, ids: dict[str, str]) -> None:
    """Every other tab, as the role that uses it."""
    # coach: the library (starred first) and the team view
    page = s.login("coach")
    s.tab(page, "Coach library")
    page.wait_for_selector("#msw-exemplars .msw-lib-card", timeout=60_000)
    s.shot(page, "coach-exemplars.png", below="#msw-exemplars")
    s.tab(page, "Team reflection")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_selector("#msw-team-trend img", timeout=60_000)
    page.wait_for_timeout(1500)
    s.shot(page, "team-reflection.png", below="#msw-team-trend")
    page.context.close()

    # evaluator: families, supervision, double coding
    page = s.login("evaluator")
    s.tab(page, "Families")
    page.get_by_label("Family (pseudonym)").fill("Family D")
    page.get_by_role("button", name="Show family").click()
    page.wait_for_function(
        "() => (document.querySelector('#msw-family-view')?.innerText || '')"
        ".includes('Mornings without shouting')", timeout=30_000)
    s.shot(page, "families.png", below="#msw-family-view")

    s.tab(page, "Supervision")
    page.get_by_label("Supervision session").click()
    page.get_by_role("option", name="Supervision (fictional demo)").first.click()
    page.get_by_role("button", name="Show scores").click()
    page.wait_for_function(
        "() => (document.querySelector('#msw-supervision-scores')?.innerText || '')"
        ".includes('Reflective')", timeout=30_000)
    s.shot(page, "supervision.png", below="#msw-supervision-scores")

    s.tab(page, "Double coding")
    page.locator("#msw-dc-report").click()
    page.wait_for_function(
        "() => (document.querySelector('#msw-dc-summary')?.innerText || '')"
        ".includes('coded by both')", timeout=30_000)
    s.shot(page, "double-coding.png", below="#msw-dc-lines")
    page.context.close()

    # researcher: exports and agreement
    page = s.login("researcher")
    s.tab(page, "Research")
    page.get_by_role("button", name="Compute agreement of suggestions with evaluators").click()
    page.wait_for_timeout(2000)
    s.shot(page, "researcher.png", below="[role=tabpanel]")
    page.context.close()

    # admin: users, erase, retention, worker status, audit log
    page = s.login("admin")
    s.tab(page, "Admin")
    page.wait_for_selector("#msw-admin-users table", timeout=60_000)
    s.shot(page, "admin.png", below="[role=tabpanel]")
    page.context.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    ap.add_argument("--only", default="",
                    help="comma-separated file names to (re)write, e.g. evaluator-search-all.png;"
                         " every other screenshot is left as it is")
    args = ap.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()} or None

    from playwright.sync_api import sync_playwright

    from msw_audio.cli.app import prepare_demo
    from msw_audio.review.auth import system_user
    from msw_audio.review.store import Store
    from msw_audio.web.team import distribution_figure, trend_figure
    from tests.conftest_app import CHROMIUM, CHROMIUM_ARGS, running_server

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "data")
        sid, password = prepare_demo(store)
        with running_server(store) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            shooter = Shooter(browser, base, password, args.out, only)
            page = browser.new_context(viewport=VIEW).new_page()
            page.goto(base + "/ui/")
            page.wait_for_selector("input[name=username]")
            shooter.shot(page, "login.png")
            page.context.close()
            review_shots(shooter, sid)
            ids = populate(store, sid, Path(tmp), password)
            tab_shots(shooter, store, ids)
            editing_shots(shooter, sid)
            browser.close()

        # the MITI team figures: one panel per unit, from the three copies
        df = store.team_summary(system_user("screenshots"))
        miti = df[df["kind"] == "miti"]
        for name, fig in (("team-miti-trend.png", trend_figure(miti, "miti")),
                          ("team-miti-spread.png", distribution_figure(miti, "miti"))):
            if only is not None and name not in only:
                continue
            fig.savefig(args.out / name, dpi=110)
            small_png(args.out / name)
        store.close()
    print(f"screenshots written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
