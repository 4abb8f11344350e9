#!/usr/bin/env python3
"""The review screen's screenshots in docs/img/, taken in headless Chromium at 1280×720.

The session is the bundled demo visit as the real pipeline codes it (``prepare_demo``, as
``msw-audio demo`` does; a few minutes the first time, then from the stage cache), in a
fresh data folder. The MITI team figure uses three copies of that session (a team view
needs at least three reviewed sessions).

    .venv/bin/python scripts/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VIEW = {"width": 1280, "height": 720}


def _login(browser, base: str, name: str, password: str, target: str):  # noqa: ANN001, ANN202
    page = browser.new_page(viewport=VIEW)
    page.goto(base + target)
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector(".msw-review[data-regions]", timeout=120_000)
    page.wait_for_selector(".msw-header", timeout=60_000)  # Gradio's load event is done
    page.wait_for_timeout(500)
    return page


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from msw_audio.cli.app import prepare_demo
    from msw_audio.records import Session
    from msw_audio.review.auth import system_user
    from msw_audio.review.store import Store
    from msw_audio.web.team import distribution_figure, trend_figure
    from tests.conftest_app import CHROMIUM, CHROMIUM_ARGS, running_server, write_session_dir

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "data")
        sid, password = prepare_demo(store)
        with running_server(store) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = _login(browser, base, "evaluator", password, f"/ui/?session={sid}")
            page.screenshot(path=str(args.out / "demo-session.png"))
            rows = page.locator(".msw-utt")
            rows.nth(5).click()
            page.wait_for_timeout(2500)  # a few lines heard: one highlighted, list following
            page.evaluate("document.querySelector('audio.msw-audio').pause()")
            page.screenshot(path=str(args.out / "evaluator-review.png"))
            page.keyboard.press("/")
            page.keyboard.type("speaker:parent")
            page.wait_for_timeout(400)
            page.screenshot(path=str(args.out / "evaluator-search.png"))
            page.close()
            page = _login(browser, base, "evaluator", password, f"/ui/?session={sid}")
            page.get_by_text("Least confident first").click()
            page.wait_for_selector(".msw-review[data-regions]", timeout=60_000)
            page.wait_for_timeout(300)
            page.screenshot(path=str(args.out / "evaluator-least-confident.png"))
            page.close()
            page = _login(browser, base, "coach", password, f"/ui/?session={sid}")
            page.locator('.msw-utt[data-group="practitioner"]').nth(2).click()
            page.evaluate("document.querySelector('audio.msw-audio').pause()")
            page.keyboard.press("e")
            page.wait_for_selector(".msw-toast.msw-toast-on")
            page.screenshot(path=str(args.out / "coach-read-only.png"))
            page.close()
            browser.close()

        # the MITI team figure: one panel per unit, from three copies of the demo session
        admin = system_user("screenshots")
        demo = store.get_session(sid, admin)
        for k in range(3):
            copy = Session.from_dict(demo.to_dict())
            copy.audio = dataclasses.replace(copy.audio, path="", sha256=f"{k + 1:x}" * 64)
            other = store.ingest(write_session_dir(copy, Path(tmp) / f"copy{k}"), actor=admin,
                                 meta={"team": "Demo", "date": f"2026-01-{5 + 7 * k:02d}"})
            store.confirm_score(other, "empathy", 3.0 + k / 2, "", admin)
        df = store.team_summary(admin, team="Demo")
        miti = df[df["kind"] == "miti"]
        trend_figure(miti, "miti").savefig(args.out / "team-miti-trend.png", dpi=110)
        distribution_figure(miti, "miti").savefig(args.out / "team-miti-spread.png", dpi=110)
        store.close()
    print(f"screenshots written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
