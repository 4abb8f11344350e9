"""Searching every session a login may see (``review.transcript_search``): words or a
regular expression, team-scoped, matched on the text as the login reads it (a researcher's
redacted text), invalid and runaway patterns refused with a reason.

Two sessions: the demo visit (team North) and a copy of it for team South with one line
changed, so a hit names its team unambiguously.
"""

from __future__ import annotations

import pytest

from msw_audio.errors import InputError
from msw_audio.review import transcript_search
from msw_audio.speech.audio import sha256_file
from tests.conftest_app import DEMO_AUDIO, PASSWORD, USERS, demo_session, write_session_dir

SOUTH_ONLY = "The zebra crossing by the school is where we meet."


@pytest.fixture(scope="module")
def two_teams(tmp_path_factory):
    from msw_audio.review.store import Store

    root = tmp_path_factory.mktemp("search")
    store = Store.open(root / "data")
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    store.add_user("eva_s", "evaluator", PASSWORD, teams=("South",))
    store.add_user("eva_n", "evaluator", PASSWORD, teams=("North",))
    north = store.ingest(write_session_dir(demo_session(), root / "north"),
                         meta={"team": "North", "title": "North visit"}, audio_path=DEMO_AUDIO)
    copy = root / "south.ogg"  # another recording (one more byte): another session
    copy.write_bytes(DEMO_AUDIO.read_bytes() + b"\0")
    session = demo_session()
    session.audio.path, session.audio.sha256 = str(copy), sha256_file(copy)
    session.utterances[1].text = SOUTH_ONLY
    south = store.ingest(write_session_dir(session, root / "south"),
                         meta={"team": "South", "title": "South visit"}, audio_path=copy)
    yield store, north, south
    store.close()


def test_words_and_regex_find_lines_in_the_logins_teams_only(two_teams):
    store, north, south = two_teams
    eva, eva_s, ada = (store.get_user(n) for n in ("eva_n", "eva_s", "ada"))
    out = store.search_transcripts(eva, "usual busy")  # every word, any order, any case
    assert out["hits"] and {h["session_id"] for h in out["hits"]} == {north}
    assert all("busy" in h["text"].lower() and "usual" in h["text"].lower() for h in out["hits"])
    # the South line exists, but not for a North login
    assert store.search_transcripts(eva, "zebra")["hits"] == []
    south_hits = store.search_transcripts(eva_s, "zebra")["hits"]
    assert [(h["session_id"], h["utterance_id"], h["text"]) for h in south_hits] == [
        (south, "u0001", SOUTH_ONLY)]
    assert {h["session_id"] for h in store.search_transcripts(eva_s, "busy")["hits"]} == {south}
    # an admin sees both teams; a regular expression with an anchor and a class
    hits = store.search_transcripts(ada, r"^(busy|the zebra)\b", is_regex=True)["hits"]
    assert {h["session_id"] for h in hits} == {north, south}
    assert all(h["match"][0] == 0 for h in hits)


def test_a_researcher_matches_redacted_text_and_reads_no_titles(two_teams):
    store, north, _south = two_teams
    eva, rita = store.get_user("eva"), store.get_user("rita")
    assert store.search_transcripts(eva, "Jade")["hits"]
    assert store.search_transcripts(rita, "Jade")["hits"] == []  # the name is not there for her
    hits = store.search_transcripts(rita, "attendance")["hits"]
    assert hits and all("Jade" not in h["text"] and "Mark" not in h["text"] for h in hits)
    assert all(h["title"] == f"session {h['session_id']}" for h in hits)


def test_bad_patterns_are_refused_with_a_reason(two_teams):
    store, *_ = two_teams
    eva = store.get_user("eva")
    with pytest.raises(InputError, match="not a valid regular expression"):
        store.search_transcripts(eva, "(unclosed", is_regex=True)
    with pytest.raises(InputError, match="at most"):
        store.search_transcripts(eva, "a" * 500, is_regex=True)
    with pytest.raises(InputError, match="type something"):
        store.search_transcripts(eva, "   ")
    # a pattern that backtracks catastrophically is stopped, not left running
    assert transcript_search.PATTERN_TIMEOUT_S <= 0.1
    with pytest.raises(InputError, match="too long"):
        store.search_transcripts(eva, r"(e|.)*\d$", is_regex=True)
