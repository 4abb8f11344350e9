"""Re-split speakers on the three-speaker test session: only the clustering re-runs, on the
diarization features the pipeline cached (fast), and confirmed codes of surviving lines stay.

Real pipeline (Whisper tiny.en + pyannote/CAM++) on the real recording; the session is
processed once with the shared stage cache, then copied into the store's cache the way a
job's run leaves it (``<data>/cache/<sha256>/``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from msw_audio.speech.evaluation import read_stm_words, word_speaker_error
from tests.conftest_app import PASSWORD, USERS, running_server

REPO = Path(__file__).resolve().parents[1]
THREE = REPO / "tests" / "data" / "three_speakers"


@pytest.fixture(scope="module")
def three(speech_pipeline, tmp_path_factory):
    """The three-speaker session processed once, in a store with the job's cache copied."""
    from msw_audio.review.store import Store

    tmp_path = tmp_path_factory.mktemp("resplit")
    audio = THREE / "three_speakers.ogg"
    speech_pipeline.process(audio, tmp_path / "out")
    store = Store.open(tmp_path / "data")
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    sid = store.ingest(tmp_path / "out", audio_path=audio)
    digest = store.get_session(sid, store.get_user("eva")).audio.sha256
    shutil.copytree(speech_pipeline.cache.root / digest, store.paths.cache_for(digest))
    yield store, sid
    store.close()


def test_resplit_with_three_speakers_uses_the_cache_and_keeps_surviving_codes(three):
    store, sid = three
    eva = store.get_user("eva")
    session = store.get_session(sid, eva)
    digest = session.audio.sha256
    assert list(store.paths.cache_for(digest).glob("diarize-features-*.npz"))
    # confirm every line's top suggestion
    for u in session.utterances:
        store.accept_code(sid, u.id, eva)
    confirmed = {u.id: (u.codes[0].code, [(w.start, w.text) for w in u.words])
                 for u in store.get_session(sid, eva).utterances}

    results = []
    for counts in ({"num_speakers": 2}, {"num_speakers": 3}):
        started = time.perf_counter()
        result = store.resplit_speakers(sid, eva, **counts)
        seconds = time.perf_counter() - started
        print(f"re-split {counts}: {seconds:.1f} s, {result}")
        assert seconds < 30, f"re-split took {seconds:.1f} s: not only the clustering"
        assert result["speakers"] == counts["num_speakers"]
        results.append(result)
    after = store.get_session(sid, eva)
    assert len({u.speaker for u in after.utterances}) == 3
    ref = read_stm_words(THREE / "three_speakers.stm")
    words = [w for u in after.utterances for w in u.words]
    assert word_speaker_error(ref, words) <= 0.1
    # surviving lines (same words) keep their confirmed code; the rest are flagged
    flags = store.flags(sid, eva)
    kept = 0
    for u in after.utterances:
        old = confirmed.get(u.id)
        if old and old[1] == [(w.start, w.text) for w in u.words] and u.codes[0].source \
                == "evaluator":
            assert u.codes[0].code == old[0]
            kept += 1
    assert kept >= len(after.utterances) // 2
    assert results[0]["kept"] + results[0]["flagged"] == len(confirmed)
    assert results[0]["kept"] > 0
    assert all(isinstance(v, str) for v in flags.values())
    # undo twice: exactly the session as processed and confirmed
    store.undo_correction(sid, eva)
    store.undo_correction(sid, eva)
    back = store.get_session(sid, eva)
    assert {u.id: (u.codes[0].code, [(w.start, w.text) for w in u.words])
            for u in back.utterances} == confirmed


@pytest.mark.browser
def test_resplit_in_the_browser_with_three_people_persists_and_is_audited(three, browser):  # noqa: F811
    """The evaluator types 3 under Speakers and presses Re-split; after a reload the lines
    carry three speakers and the audit log has the re-split; a coach has no such control."""
    from tests.test_app import _browser_login

    store, sid = three
    eva = store.get_user("eva")
    with running_server(store) as base:
        page = _browser_login(browser, base, "eva", f"/ui/?session={sid}")
        page.fill(".msw-resplit-num", "3")
        page.click(".msw-resplit-go")
        page.wait_for_function(
            "() => { const el = document.querySelector('.msw-review .msw-toast');"
            " return el && el.textContent.includes('Speakers re-split'); }", timeout=60_000)
        page.reload()
        page.wait_for_selector(".msw-utt", timeout=60_000)
        shown = set(page.eval_on_selector_all(".msw-utt", "rs => rs.map(r => r.dataset.speaker)"))
        assert len(shown) == 3
        assert len({u.speaker for u in store.get_session(sid, eva).utterances}) == 3
        assert any(e["action"].startswith("correction") and "resplit" in str(e)
                   for e in store.audit_log(store.get_user("ada"), limit=50)), "audited"
        coach = _browser_login(browser, base, "cora", f"/ui/?session={sid}")
        assert coach.locator(".msw-resplit-go").count() == 0
        store.undo_correction(sid, eva)
