"""Supervision sessions: the demo supervision recording (espeak-ng, a reflective and a
directive stretch) coded with the supervision codebook and scored with its rubric.

The fast tests read the recording's exact reference transcript through the real shipped
tagger; the slow one runs the whole pipeline (Whisper, pyannote, tagger) on the audio.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from msw_audio.coding.codebook import codebook_for_recording_type, load_codebook
from msw_audio.errors import InputError
from msw_audio.records import AudioInfo, Session, Speaker, Utterance
from msw_audio.scoring.supervision import load_supervision_rubric, score_supervision

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "msw_audio" / "demo" / "supervision"
REF_IDS = {"supervisor": "SPEAKER_00", "practitioner": "SPEAKER_01"}
DIRECTIVE_CUE = "Right, the audit"


@pytest.fixture(scope="module")
def book():
    return load_codebook(codebook_for_recording_type("supervision"))


@pytest.fixture(scope="module")
def tagged(book):
    """The reference transcript, roles suggested and codes suggested by the real tagger."""
    from msw_audio.coding.roles import suggest_roles
    from msw_audio.coding.tagger import load_tagger

    utts = []
    for i, line in enumerate((DEMO / "supervision.stm").read_text().splitlines()):
        _uri, _ch, spk, start, end, text = line.split(maxsplit=5)
        utts.append(Utterance(id=f"u{i:04d}", start=float(start), end=float(end),
                              speaker=REF_IDS[spk], text=text))
    session = Session(audio=AudioInfo(path="", sha256="0" * 64, duration=utts[-1].end),
                      speakers=[Speaker(s) for s in REF_IDS.values()], utterances=utts)
    tagger = load_tagger(codebook=book)
    session = suggest_roles(session, tagger=tagger, family_role=book.family_role)
    return tagger.tag_session(session)


def _cut(session: Session) -> float:
    return next(u.start for u in session.utterances if u.text.startswith(DIRECTIVE_CUE))


def test_shipped_demo_is_small_with_references():
    assert (DEMO / "supervision.ogg").stat().st_size < 1_000_000
    rttm = (DEMO / "supervision.rttm").read_text().split()
    assert {"supervisor", "practitioner"} <= set(rttm)


def test_rubric_and_codebook_agree(book):
    rubric = load_supervision_rubric(codebook=book)  # every code it names is in the codebook
    assert rubric.ids == ("reflective_balance", "evocation", "purposefulness", "child_focus",
                          "collaboration", "emotional_support", "clarity_about_concerns")
    assert book.rubric == "supervision" and book.family_role == "other"
    assert all(d.source for d in rubric.dimensions)


def test_roles_codes_and_rubric_on_the_reference_transcript(book, tagged):
    roles = {s.id: s.role for s in tagged.speakers}
    assert roles == {"SPEAKER_00": "practitioner", "SPEAKER_01": "other"}  # supervisor lead
    assert book.role_label("practitioner") == "supervisor"
    sup = [u for u in tagged.utterances if u.speaker == "SPEAKER_00"]
    top = {u.codes[0].code for u in sup if u.codes}
    assert top & {"open_question", "complex_reflection", "simple_reflection"}  # the tagger's
    offered = {c.code for u in sup for c in u.codes if c.source == "cue"}
    assert {"directive", "compliance_talk", "purpose_question", "child_focus",
            "emotional_support", "hypothesising"} <= offered  # supervision-only, by cues
    assert all(c.probability <= 0.35 for u in sup for c in u.codes if c.source == "cue")

    cut = _cut(tagged)
    reflective = score_supervision(tagged, book, end=cut)["dimensions"]
    directive = score_supervision(tagged, book, start=cut)["dimensions"]
    assert reflective["reflective_balance"]["value"] > directive["reflective_balance"]["value"]
    assert reflective["evocation"]["value"] > directive["evocation"]["value"]
    whole = score_supervision(tagged, book)
    for dim in whole["dimensions"].values():
        assert 1 <= dim["value"] <= 5 and dim["value"] * 2 == int(dim["value"] * 2)
    bal = whole["dimensions"]["reflective_balance"]
    assert bal["evidence"] and bal["against"]
    assert any(e["text"].startswith(("You need", "And you should", "Do the"))
               for e in bal["against"])


def test_supervision_codes_offered_with_hotkeys_in_the_review_screen(book, tagged, tmp_path):
    from msw_audio.review.store import Store
    from msw_audio.web.render import codebook_view
    from msw_audio.web.ui import render_session
    from tests.store_helpers import fake_sha, write_session_dir

    tagged.audio.sha256 = fake_sha("supervision-demo")
    tagged.scores = {"supervision": score_supervision(tagged, book)}
    with Store.open(tmp_path / "data") as store:
        from msw_audio.review.auth import User

        admin = User(name="admin1", role="admin")
        sid = store.ingest(write_session_dir(tmp_path / "s", tagged), admin,
                           {"recording_type": "supervision", "worker": "Pat"})
        assert store.codebook_for(sid).name == "msw-supervision"
        html = render_session(store, None, admin, sid, "time")
    keys = codebook_view(book).hotkeys()["practitioner"]
    assert keys["d"] == "directive" and keys["p"] == "purpose_question"
    assert "&quot;d&quot;:&quot;directive&quot;" in html
    assert "&quot;p&quot;:&quot;purpose_question&quot;" in html
    assert ">supervisor</option>" in html  # the role's meaning in a supervision session


def test_process_recording_type_supervision_selects_the_codebook(tmp_path):
    from msw_audio.cli.main import build_parser
    from msw_audio.cli.process import config_from_args

    args = build_parser().parse_args(["process", "x.ogg", "--out", str(tmp_path),
                                      "--recording-type", "supervision"])
    assert config_from_args(args).codebook.name == "codebook_supervision.yaml"


@pytest.mark.slow
def test_demo_supervision_recording_through_the_pipeline(speech_pipeline, tmp_path):
    """The real pipeline on the audio: diarized, supervisor suggested as the lead role,
    supervision codes and rubric scores with evidence; directive stretch scores lower."""
    from msw_audio.pipeline import Pipeline

    config = speech_pipeline.config
    pipe = Pipeline(type(config)(**{**config.__dict__,
                                    "codebook": codebook_for_recording_type("supervision")}))
    # the loaded speech models are reused (the fixture's); only the codebook differs
    pipe._transcriber, pipe._diarizer = speech_pipeline.transcriber, speech_pipeline.diarizer
    session = pipe.process(DEMO / "supervision.ogg", tmp_path / "out")
    assert session.models["codebook"]["name"] == "msw-supervision"
    assert len(session.speakers) >= 2
    lead = next(s for s in session.speakers if s.role == "practitioner")
    said = " ".join(u.text for u in session.utterances if u.speaker == lead.id).lower()
    assert "audit" in said and "purpose" in said  # the supervisor's words
    scores = session.scores["supervision"]["dimensions"]
    assert scores["reflective_balance"]["evidence"]
    cut = _cut_from_reference()
    book = pipe.codebook
    early = score_supervision(session, book, end=cut)["dimensions"]["reflective_balance"]
    late = score_supervision(session, book, start=cut)["dimensions"]["reflective_balance"]
    assert early["value"] > late["value"]


def _cut_from_reference() -> float:
    for line in (DEMO / "supervision.stm").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if parts[5].startswith(DIRECTIVE_CUE):
            return float(parts[3]) - 0.3
    raise AssertionError("no directive stretch in the reference")


def test_supervision_scores_confirmed_audited_and_beside_practice(book, tagged, tmp_path):
    """Confirmed like the principles (old -> new, audited, bad input saves nothing); a
    worker sees their supervision beside their practice; a team needs 3 sessions a month."""
    import copy

    from msw_audio.review.auth import User
    from msw_audio.review.store import Store
    from tests.store_helpers import build_session, fake_sha, write_session_dir

    admin, ev = User(name="admin1", role="admin"), User(name="ev1", role="evaluator")
    with Store.open(tmp_path / "data") as store:
        sup_ids = []
        for i, worker in enumerate(("Pat", "Pat", "Lee")):
            sess = copy.deepcopy(tagged)
            sess.audio.sha256 = fake_sha(f"sup-{i}")
            sess.scores = {"supervision": score_supervision(sess, book)}
            sup_ids.append(store.ingest(
                write_session_dir(tmp_path / f"s{i}", sess), admin,
                {"recording_type": "supervision", "worker": worker, "team": "North",
                 "date": f"2026-10-0{i + 1}"}))
        visit = store.ingest(write_session_dir(tmp_path / "v", build_session(fake_sha("v"))),
                             admin, {"worker": "Pat", "team": "North", "date": "2026-10-05"})
        store.confirm_score(visit, "empathy", 4.0, None, ev)
        with pytest.raises(InputError, match="not a supervision session"):
            store.confirm_supervision_score(visit, "child_focus", 3, None, ev)

        sid = sup_ids[0]
        view = store.supervision_scores(sid, ev)
        assert view["dimensions"]["reflective_balance"]["suggested"] is not None
        assert view["dimensions"]["reflective_balance"]["evidence"]
        with pytest.raises(InputError, match="steps of 0.5"):
            store.confirm_supervision_score(sid, "child_focus", 5.2, None, ev)
        with pytest.raises(InputError, match="unknown supervision dimension"):
            store.confirm_supervision_score(sid, "empathy", 3, None, ev)
        assert store.supervision_scores(sid, ev)["dimensions"]["child_focus"]["confirmed"] is None
        store.confirm_supervision_score(sid, "child_focus", 3.5, "asked about Kayla", ev)
        store.confirm_supervision_score(sid, "child_focus", 4.0, None, ev)
        from sqlalchemy import select

        from msw_audio.review.db import Decision

        with store.rtx() as s:
            decided = [(d.old_value, d.new_value) for d in s.scalars(
                select(Decision).where(Decision.session_id == sid,
                                       Decision.kind == "supervision").order_by(Decision.id))]
        assert decided == [(None, "3.5"), ("3.5", "4.0")]
        assert any(a["action"] == "supervision.set" for a in store.audit_log(admin))

        # a code decision recomputes the supervision figures from the evaluator's codes
        first = next(u for u in tagged.utterances
                     if u.speaker == "SPEAKER_00" and u.text.startswith("You need"))
        before = store.supervision_scores(sid, ev)["dimensions"]["reflective_balance"]
        store.set_code(sid, first.id, "directive", ev)
        after = store.supervision_scores(sid, ev)["dimensions"]["reflective_balance"]
        assert after["reasons"] != before["reasons"]

        own = store.supervision_beside_practice(ev, worker="Pat")
        kinds = {(r["kind"], r["measure"]) for r in own if r["period"] == "all"}
        assert kinds == {("supervision", "child_focus"), ("practice", "mean_principles")}
        assert next(r for r in own if r["kind"] == "practice")["mean"] == 4.0
        assert store.supervision_beside_practice(ev) == []  # one confirmed session < 3
        for other in sup_ids[1:]:
            store.confirm_supervision_score(other, "child_focus", 2.0, None, ev)
        team = store.supervision_beside_practice(ev)
        row = next(r for r in team if r["period"] == "2026-10" and r["kind"] == "supervision")
        assert row["n_sessions"] == 3 and row["mean"] == pytest.approx((4 + 2 + 2) / 3)
        assert all(r["kind"] != "practice" for r in team)  # one practice visit: hidden


def test_a_supervision_job_is_coded_with_the_supervision_codebook_glue(tmp_path):
    """The queue hands a job of recording type supervision its codebook (glue: the
    processor is a fake; the pipeline's own part, with_codebook, keeps its speech models)."""
    from msw_audio.jobs.queue import enqueue, run_worker
    from msw_audio.pipeline import Pipeline, PipelineConfig
    from msw_audio.review.auth import User
    from msw_audio.review.store import Store
    from msw_audio.speech.audio import sha256_file
    from tests.store_helpers import build_session, write_session_dir

    seen = []

    def fake_processor_for_glue_test(audio, out_dir, cache_dir, progress, **kw):
        seen.append(kw.get("codebook_path"))
        write_session_dir(out_dir, build_session(sha256_file(audio), str(audio)))

    ev = User(name="ev1", role="evaluator")
    with Store.open(tmp_path / "data") as store:
        enqueue(store, DEMO / "supervision.ogg", ev, {"recording_type": "supervision"})
        enqueue(store, REPO / "msw_audio" / "demo" / "demo.ogg", ev,
                {"recording_type": "home visit"})
        assert run_worker(store, once=True, processor=fake_processor_for_glue_test) == 2
    assert sorted(map(str, seen)) == sorted(
        [str(codebook_for_recording_type("supervision")), "None"])

    base = Pipeline(PipelineConfig(cache_dir=tmp_path / "c"))
    base._transcriber, base._diarizer = object(), object()  # stand-ins: nothing loads
    other = base.with_codebook(codebook_for_recording_type("supervision"))
    assert other._transcriber is base._transcriber and other._diarizer is base._diarizer
    assert other.codebook.name == "msw-supervision" and base.codebook.name != other.codebook.name
