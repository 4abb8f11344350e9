"""The family's voice: goals, GBO ratings and feedback in the real store (SQLite).

CSV import good and bad (a bad row imports nothing), the 3-goal limit, team scope, the
team view with >= 3 families vs 2 (nothing shown), the relation with its interval,
erasing a family, the pseudonymised export, and the measures file's validation.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select

from msw_audio.errors import InputError, PermissionDenied
from msw_audio.outcomes.measures import load_measures
from msw_audio.outcomes.relation import pearson_with_interval
from msw_audio.review.auth import USER_ROLES, User
from msw_audio.review.family_db import FamilyRow, FeedbackRow, GoalRatingRow, GoalRow
from msw_audio.review.store import Store
from tests.store_helpers import build_session, fake_sha, write_session_dir

HEADER = "family,record,date,goal,text,rating,occasion\n"


@pytest.fixture()
def users() -> dict[str, User]:
    """One login per role (as ``Store.get_user`` returns them; not stored: scrypt is slow
    and these tests are about the family tables, not logins)."""
    return {role: User(name=f"{role}1", role=role) for role in USER_ROLES}


def _csv(tmp_path: Path, body: str, name: str = "family.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def _counts(store: Store) -> dict[str, int]:
    with store.rtx() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (FamilyRow, GoalRow, GoalRatingRow, FeedbackRow)}


def _visit(store: Store, user: User, tmp_path: Path, label: str, family: str, team: str,
           day: str, score: float, worker: str = "w1") -> str:
    out = write_session_dir(tmp_path / f"out-{label}", build_session(fake_sha(label)))
    sid = store.ingest(out, user, {"family": family, "team": team, "date": day,
                                   "worker": worker})
    for name in ("empathy", "evocation"):
        store.confirm_score(sid, name, score, None, user)
    return sid


def _family_with_progress(store: Store, ev: User, tmp_path: Path, name: str, team: str,
                          start: int, end: int, practice: float) -> None:
    store.add_family(name, team, ev)
    store.add_goal(name, "Calmer mornings before school", "2026-09-01", ev)
    store.rate_goal(name, 1, start, "2026-09-01", ev)
    _visit(store, ev, tmp_path, f"{name}-v1", name, team, "2026-09-15", practice)
    store.add_feedback(name, {"helpfulness": 4, "comment": "The worker listened to us."},
                       "2026-09-15", ev)
    store.rate_goal(name, 1, end, "2026-10-20", ev)


def test_csv_import_applies_rows_in_order_in_one_transaction(store: Store, users, tmp_path):
    ev = users["evaluator"]
    store.add_family("Family A", "North", ev)
    path = _csv(tmp_path, (
        "Family A,goal,2026-09-01,,Mornings without shouting,,\n"
        "Family A,goal,2026-09-01,,Jo goes to school every day,,\n"
        "Family A,rating,2026-09-01,1,,2,start\n"
        "Family A,rating,2026-09-01,2,,4,\n"
        "Family A,rating,2026-10-15,1,,6,review\n"
        "Family A,feedback,2026-09-20,,She explained what happens next,5,\n"
    ))
    counts = store.import_family_csv(path, ev)
    assert counts == {"goal": 2, "rating": 3, "feedback": 1, "close": 0}
    view = store.family_view("Family A", ev)
    g1, g2 = view["goals"]
    assert (g1["start"], g1["latest"], g1["change"]) == (2, 6, 4)
    assert g2["ratings"] == [{"occasion": "start", "date": "2026-09-01", "score": 4}]
    assert view["feedback"][0]["answers"] == {"helpfulness": 5,
                                              "comment": "She explained what happens next"}
    actions = [a["action"] for a in store.audit_log(users["admin"])]
    assert "family.import" in actions and actions.count("family.rating") == 3
    # audit rows carry ids and numbers, never the family's words
    assert not any("Mornings" in str(a["detail"]) for a in store.audit_log(users["admin"]))


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        ("Family A,goal,2026-09-01\n", "family,record,day\n", "missing column(s) date"),
        ("Family A,goal,2026-09-01,,A goal,,\nFamily A,rating,2026-09-02,1,,11,\n", HEADER,
         "row 3: GBO rating 11 is outside 0–10"),
        ("Family A,goal,2026-09-01,,A goal,,\nFamily A,rating,2026-09-02,1,,-1,\n", HEADER,
         "row 3: GBO rating -1 is outside 0–10"),
        ("Family A,goal,2026-09-01,,A goal,,\nFamily Z,goal,2026-09-01,,Other,,\n", HEADER,
         "row 3: unknown family 'Family Z'"),
        ("Family A,goal,2026-09-01,,A goal,,\nFamily A,goal,01/09/2026,,B,,\n", HEADER,
         "row 3: date '01/09/2026' is not YYYY-MM-DD"),
        ("Family A,goal,2026-09-01,,A goal,,\nFamily A,rating,2026-09-02,4,,3,\n", HEADER,
         "row 3: family 'Family A' has no goal 4"),
        ("Family A,goal,2026-09-01,,A,,\nFamily A,goal,2026-09-01,,B,,\n"
         "Family A,goal,2026-09-01,,C,,\nFamily A,goal,2026-09-01,,D,,\n", HEADER,
         "row 5: family 'Family A' already has 3 active goals"),
        ("Family A,visit,2026-09-01,,A,,\n", HEADER, "row 2: record 'visit'"),
        ("Family A,feedback,2026-09-01,,,9,\n", HEADER, "row 2: helpfulness 9 is outside 1–5"),
    ],
)
def test_bad_csv_names_the_row_and_imports_nothing(store: Store, users, tmp_path, body,
                                                   header, message):
    ev = users["evaluator"]
    store.add_family("Family A", "North", ev)
    before = _counts(store)
    with pytest.raises(InputError) as err:
        store.import_family_csv(_csv(tmp_path, body, header=header), ev)
    assert message in str(err.value)
    assert "nothing was imported" in str(err.value)
    assert _counts(store) == before  # the good rows before the bad one are not kept


def test_goal_rules_permissions_and_team_scope(store: Store, users, tmp_path):
    ev, coach = users["evaluator"], users["coach"]
    north = User(name="nora", role="evaluator", teams=frozenset({"North"}))
    store.add_family("F-1", "South", ev)
    with pytest.raises(PermissionDenied):
        store.add_goal("F-1", "A goal", "2026-09-01", coach)  # coaches read, never enter
    with pytest.raises(InputError, match="unknown family"):
        store.add_goal("F-1", "A goal", "2026-09-01", north)  # another team's family
    assert store.list_families(north) == []
    with pytest.raises(InputError, match="pseudonym"):
        store.add_family("<script>", "North", ev)
    for i in range(3):
        store.add_goal("F-1", f"Goal {i}", "2026-09-01", ev)
    with pytest.raises(InputError, match="at most 3"):
        store.add_goal("F-1", "A fourth", "2026-09-02", ev)
    store.close_goal("F-1", 2, "2026-10-01", ev)
    assert store.add_goal("F-1", "A fourth", "2026-10-02", ev) == 4  # one closed: room again
    with pytest.raises(InputError, match="needs its start rating first"):
        store.rate_goal("F-1", 1, 5, "2026-09-10", ev, occasion="review")
    store.rate_goal("F-1", 1, 5, "2026-09-10", ev)
    with pytest.raises(InputError, match="already has its start"):
        store.rate_goal("F-1", 1, 6, "2026-09-11", ev, occasion="start")


def test_team_view_with_three_families_shows_progress_beside_practice(store: Store, users,
                                                                      tmp_path):
    ev, coach = users["evaluator"], users["coach"]
    for i, (start, end, practice) in enumerate([(2, 7, 4.5), (3, 5, 3.5), (4, 4, 2.5)]):
        _family_with_progress(store, ev, tmp_path, f"Family {i}", "North", start, end, practice)
    out = store.family_progress(coach, team="North")
    assert out["hidden"] is False and out["n_families"] == 3
    fams = {f["pseudonym"]: f for f in out["families"]}
    assert fams["Family 0"]["gbo_change"] == 5 and fams["Family 0"]["practice_between"] == 4.5
    assert fams["Family 2"]["gbo_change"] == 0
    visit = fams["Family 1"]["visits"][0]
    assert visit["between"] and visit["confirmed"] == {"empathy": 3.5, "evocation": 3.5}
    assert fams["Family 1"]["feedback"][0]["answers"] == {"helpfulness": 4}  # no free text
    assert "text" not in fams["Family 1"]["goals"][0]
    rel = out["relation"]
    assert rel["overall"]["n"] == 3 and rel["overall"]["r"] == pytest.approx(0.9934, abs=1e-3)
    assert rel["overall"]["low"] is None  # n = 3: too few for a Fisher interval
    assert "too few families" in rel["text"]
    assert set(rel["per_principle"]) == {"empathy", "evocation"}

    from msw_audio.web.family_view import progress_markdown

    text = progress_markdown(out)
    assert "Family 0" in text and "2 → 7" in text and "4.5" in text
    assert "not a ranking" in text.lower()


def test_team_view_with_two_families_shows_nothing(store: Store, users, tmp_path):
    ev, coach = users["evaluator"], users["coach"]
    for i in range(2):
        _family_with_progress(store, ev, tmp_path, f"Family {i}", "North", 2, 6, 4.0)
    out = store.family_progress(coach, team="North")
    assert out == {"families": [], "relation": None, "n_families": 2, "hidden": True}
    from msw_audio.web.family_view import progress_markdown

    text = progress_markdown(out)
    assert "Family 0" not in text and "fewer than 3" in text.lower()
    # the worker's own view shows their own families, but no relation below 3
    own = store.family_progress(coach, worker="w1")
    assert {f["pseudonym"] for f in own["families"]} == {"Family 0", "Family 1"}
    assert own["relation"] is None


def test_erasing_a_family_removes_sessions_goals_ratings_and_feedback(store: Store, users,
                                                                      tmp_path):
    ev, admin = users["evaluator"], users["admin"]
    _family_with_progress(store, ev, tmp_path, "Family E", "North", 2, 6, 4.0)
    _family_with_progress(store, ev, tmp_path, "Family K", "North", 1, 3, 3.0)
    with pytest.raises(PermissionDenied):
        store.erase_family("Family E", ev)
    counts = store.erase_family("Family E", admin)
    assert counts == {"sessions": 1, "goals": 1, "ratings": 2, "feedback": 1,
                      "checkpointed": True, "traces": []}  # nothing of Family E is left
    assert _counts(store) == {"families": 1, "family_goals": 1, "goal_ratings": 2,
                              "family_feedback": 1}  # Family K untouched
    assert all(s.family != "Family E" for s in store.list_sessions(admin))
    with pytest.raises(InputError, match="unknown family"):
        store.family_view("Family E", admin)
    entry = next(a for a in store.audit_log(admin) if a["action"] == "family.erase")
    assert entry["detail"] == {k: counts[k] for k in ("sessions", "goals", "ratings", "feedback")}
    assert "Family E" not in str(entry)
    dump = "\n".join(store.engine.raw_connection().driver_connection.iterdump())
    assert "Calmer mornings" in dump  # Family K's goal text is still there ...
    assert "Family E" not in dump  # ... but nothing of Family E, audit included


def test_export_is_pseudonymised_without_free_text(store: Store, users, tmp_path):
    ev = users["evaluator"]
    _family_with_progress(store, ev, tmp_path, "Family X", "North", 2, 6, 4.0)
    with pytest.raises(PermissionDenied):
        store.export_family_outcomes(tmp_path / "x.csv", ev)
    out = tmp_path / "outcomes.csv"
    n = store.export_family_outcomes(out, users["researcher"])
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert n == len(rows) == 4  # goal, 2 ratings, helpfulness
    text = out.read_text(encoding="utf-8")
    assert "Family X" not in text and "Calmer" not in text and "listened" not in text
    assert len({r["family_token"] for r in rows}) == 1 and len(rows[0]["family_token"]) == 16


def test_measures_file_is_validated(tmp_path):
    m = load_measures()
    assert (m.gbo_min, m.gbo_max, m.max_active_goals) == (0, 10, 3)
    assert [q.id for q in m.questions] == ["helpfulness", "comment"]
    bad = tmp_path / "m.yaml"
    bad.write_text("goals: {max_active: 3}\ngbo: {min: 10, max: 0}\nfeedback: {questions: []}\n")
    with pytest.raises(InputError, match="gbo.min must be below"):
        load_measures(bad)
    bad.write_text("goals: {max_active: 3}\ngbo: {min: 0, max: 10}\n"
                   "feedback: {questions: [{id: Bad-Id, kind: rating}]}\n")
    with pytest.raises(InputError, match="snake_case"):
        load_measures(bad)


def test_relation_interval_needs_four_pairs():
    rel = pearson_with_interval([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert rel.n == 5 and rel.r == pytest.approx(0.8)
    assert rel.low < rel.r < rel.high and -1 < rel.low and rel.high < 1
    assert pearson_with_interval([1, 1, 1], [1, 2, 3]).r is None
