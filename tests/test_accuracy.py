"""``msw-audio accuracy`` and the corrected session's STM + RTTM, on the demo reference.

The machine transcript here is the demo's reference transcript with one line misheard, so
the expected figures are known exactly; the store, the measures (jiwer, pyannote.metrics)
and the CLI are real.
"""

from __future__ import annotations

import json

from msw_audio.cli.main import main
from msw_audio.speech.evaluation import read_stm_text, wer
from tests.conftest_app import DEMO_AUDIO, DEMO_STM, PASSWORD, USERS, write_session_dir
from tests.test_corrections import demo_with_words


def _store(root, session):
    from msw_audio.review.store import Store

    store = Store.open(root / "data")
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    sid = store.ingest(write_session_dir(session, root / "out"), audio_path=DEMO_AUDIO,
                       meta={"team": "North", "date": "2026-11-02"})
    return store, sid


def test_accuracy_is_zero_error_when_the_corrected_text_is_the_reference(tmp_path, capsys):
    session = demo_with_words()
    reference = session.utterances[4].text
    session.utterances[4].text = "Jayden attendance is turning them out"  # misheard
    store, sid = _store(tmp_path, session)
    try:
        eva, rita = store.get_user("eva"), store.get_user("rita")
        machine_text = " ".join(u.text for u in session.utterances)
        store.edit_text(sid, "u0004", reference, eva)  # the evaluator makes it the reference
        for u in store.get_session(sid, eva).utterances[:6]:
            store.accept_code(sid, u.id, eva)
        report = store.accuracy_report(rita)
        (item,) = report["sessions"]
        assert abs(item["wer"] - wer(read_stm_text(DEMO_STM), machine_text)) < 1e-9
        assert item["wer"] > 0
        assert item["word_speaker_error"] == 0.0 and item["der"] < 0.05
        assert item["confirmed_lines"] == 6 and item["agreement"] == 1.0
        # the corrected session exported as STM is the reference: WER 0 against demo.stm
        files = store.export_transcript(sid, eva)
        stm = tmp_path / "corrected.stm"
        stm.write_text(files["stm"])
        assert wer(read_stm_text(DEMO_STM), read_stm_text(stm)) == 0.0
        assert files["rttm"].count("SPEAKER ") == len(session.utterances)
        # undo: the machine text is back, and the session (no live correction, not reviewed)
        # leaves the report
        store.undo_correction(sid, eva)
        assert store.accuracy_report(rita)["sessions"] == []
        store.mark_reviewed(sid, eva)  # reviewed as it stands: machine == corrected
        (item,) = store.accuracy_report(rita)["sessions"]
        assert item["wer"] == 0.0 and item["word_speaker_error"] == 0.0
    finally:
        store.close()
    assert main(["accuracy", "--data", str(tmp_path / "data"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["overall"]["sessions"] == 1 and out["overall"]["wer"] == 0.0
    assert main(["accuracy", "--data", str(tmp_path / "data"), "--since", "2999-01-01"]) == 0
    assert "0 corrected or reviewed sessions" in capsys.readouterr().out
    rttm = tmp_path / "s.rttm"
    assert main(["transcript", "--data", str(tmp_path / "data"), "--session", sid,
                 "--stm", str(stm), "--rttm", str(rttm)]) == 0
    # after the undo the session holds the machine's words again
    assert "Jayden attendance" in read_stm_text(stm) and rttm.read_text().startswith("SPEAKER")
