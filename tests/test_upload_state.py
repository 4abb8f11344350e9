"""Upload UX: the no-worker banner, re-uploading known audio, and ``demo``'s in-process worker.

Real store, real server and Chromium; the last test runs the real pipeline on a real
recording through the worker ``msw-audio demo`` starts (slow).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from msw_audio.jobs.queue import JobConfig, enqueue
from msw_audio.jobs.worker_status import worker_status
from msw_audio.review.db import Job, utcnow
from tests.conftest_app import DEMO_AUDIO, make_store, running_server
from tests.test_app_history import _page


def test_session_metadata_update_is_audited_old_to_new(tmp_path):
    store, sid = make_store(tmp_path / "data")
    eva = store.get_user("eva")
    changed = store.update_session_meta(sid, {"family": "Family E", "date": "2026-11-03",
                                              "worker": "Sam"}, eva)
    assert changed == {"family": ("Family D", "Family E"), "date": ("2026-11-02", "2026-11-03")}
    assert store.session_meta(sid, eva)["family"] == "Family E"
    history = [(h["kind"], h["target"], h["old"], h["new"])
               for h in store.decision_history(sid, eva)]
    assert ("meta", "family", "Family D", "Family E") in history
    audit = [a for a in store.audit_log(store.get_user("ada")) if a["action"] == "session.meta"]
    assert audit[0]["detail"] == {"fields": ["date", "family"]}
    assert "Family" not in str(audit)  # the audit log names fields, never values
    with pytest.raises(Exception, match="may not"):
        store.update_session_meta(sid, {"family": "X"}, store.get_user("cora"))
    store.close()


def test_banner_only_when_queued_work_waits_with_no_worker(tmp_path):
    store, _sid = make_store(tmp_path / "data")
    assert worker_status(store).banner == ""
    job = enqueue(store, _jfk(), store.get_user("eva"),
                  config=JobConfig(validate_audio=False))
    assert not worker_status(store).no_worker, "a fresh upload is not yet a problem"
    with store.tx() as s:
        s.execute(update(Job).where(Job.id == job).values(
            created_at=utcnow() - timedelta(minutes=3)))
    status = worker_status(store)
    assert status.no_worker and "No worker is processing uploads" in status.banner
    store.close()


def _jfk():
    from tests.conftest import shared_dir

    path = shared_dir() / "data" / "audio" / "jfk.flac"
    if not path.is_file():
        pytest.skip(f"needs {path}")
    return path


@pytest.mark.browser
@pytest.mark.slow
def test_demo_worker_processes_an_upload_and_a_known_one_offers_a_metadata_update(
        tmp_path, browser):  # noqa: F811
    from msw_audio.cli.app import start_demo_worker

    store, sid = make_store(tmp_path / "data")
    runner = start_demo_worker(store)
    try:
        with running_server(store) as base:
            page = _page(browser, base, sid)
            page.get_by_text("Upload a recording for processing").click()
            # the demo recording is already in the store: the form says so and offers an update
            page.locator("#msw-upload input[type=file]").set_input_files(str(DEMO_AUDIO))
            page.wait_for_selector("text=demo.ogg", timeout=60_000)
            family = page.get_by_label("Family pseudonym", exact=True)
            family.fill("Family Z")
            page.get_by_role("button", name="Upload and process").click()
            page.wait_for_selector("text=already in the store", timeout=60_000)
            page.get_by_role("button", name="Update its metadata").click()
            page.wait_for_selector("text=Updated session", timeout=30_000)
            assert store.session_meta(sid, store.get_user("eva"))["family"] == "Family Z"
            # a new recording is queued, the form starts empty, and demo's worker processes it
            page.locator("#msw-upload input[type=file]").set_input_files(str(_jfk()))
            page.wait_for_selector("text=jfk.flac", timeout=60_000)
            page.get_by_label("Worker", exact=True).fill("Ann")
            page.get_by_role("button", name="Upload and process").click()
            page.wait_for_selector("text=Queued as job", timeout=60_000)
            assert page.get_by_label("Worker", exact=True).input_value() == ""
            assert page.get_by_label("Family pseudonym", exact=True).input_value() == ""
            text = page.locator("#msw-upload").inner_text()
            assert "jfk.flac" not in text, "the file input is empty again"
            eva = store.get_user("eva")
            deadline = time.time() + 900
            from msw_audio.jobs.queue import list_jobs

            while time.time() < deadline:
                jobs = [j for j in list_jobs(store, eva) if j.source_name == "jfk.flac"]
                if jobs and jobs[0].state in ("done", "failed"):
                    break
                time.sleep(2)
            assert jobs and jobs[0].state == "done", jobs and (jobs[0].state, jobs[0].error)
            assert jobs[0].session_id and store.session_meta(jobs[0].session_id, eva)[
                "worker"] == "Ann"
            page.context.close()
    finally:
        runner.stop()
        store.close()
