"""The family's voice in the store: families, co-created goals, GBO ratings, visit feedback.

Why here: what families say and achieve sits beside the practice scores of the visits
between their ratings, so the team and the worker can reflect on both together. Each
family has a pseudonym (never a real name) and one team, and is scoped by team exactly
like a session (``_family_row(user=)``: outside a login's teams a family "does not
exist"). Every write is one transaction with an audit row that names ids and numbers,
never the goal text or the family's words. Permissions reuse the session table:
``session.view`` to read, ``session.edit`` to enter, ``session.erase`` to erase,
``export`` for researchers, ``team.view`` for the team figures.
"""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session as OrmSession

from msw_audio.errors import InputError
from msw_audio.outcomes.measures import Measures, load_measures
from msw_audio.outcomes.relation import pearson_with_interval
from msw_audio.records import PRINCIPLES
from msw_audio.review.analytics import MIN_GROUP
from msw_audio.review.auth import User
from msw_audio.review.core import _iso, _parse_date
from msw_audio.review.db import PrincipleScore, SessionRow
from msw_audio.review.erasure import Erasure
from msw_audio.review.family_db import FamilyRow, FeedbackRow, GoalRatingRow, GoalRow

#: A pseudonym: letters, digits, spaces and ``-_.`` (e.g. "Family D", "F-0042"), 1-64 long.
_PSEUDONYM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
#: The columns of ``msw-audio family import`` (docs/family.md); ``family, record, date``
#: are required, the others as each record kind needs them.
CSV_REQUIRED = ("family", "record", "date")
CSV_OPTIONAL = ("goal", "text", "rating", "occasion", "session")
CSV_RECORDS = ("goal", "rating", "feedback", "close")


def check_pseudonym(value: str) -> str:
    name = (value or "").strip()
    if not _PSEUDONYM.match(name):
        raise InputError(
            f"family pseudonym {value!r}: use 1-64 letters, digits, spaces or -_. "
            "(a pseudonym, never a real name)"
        )
    return name


def _req_date(value: Any, what: str) -> date:
    d = _parse_date(value)
    if d is None:
        raise InputError(f"{what} is missing (YYYY-MM-DD)")
    return d


class Family(Erasure):
    """Families, goals, GBO ratings and feedback; audited, scoped by team."""

    _measures: Measures | None = None

    @property
    def measures(self) -> Measures:
        """The outcome measures (``outcomes/measures.yaml``), loaded on first use."""
        if self._measures is None:
            self._measures = load_measures()
        return self._measures

    # ------------------------------------------------------------------ rows
    def _family_row(self, s: OrmSession, pseudonym: str, user: User | None = None,
                    lock: bool = False) -> FamilyRow:
        q = select(FamilyRow).where(FamilyRow.pseudonym == (pseudonym or "").strip())
        if lock and not self.is_sqlite:
            q = q.with_for_update()
        row = s.scalar(q)
        if row is None or (user is not None and not user.sees_team(row.team)):
            raise InputError(f"unknown family {pseudonym!r} (add it first: msw-audio family add)")
        return row

    def _goal_row(self, s: OrmSession, fam: FamilyRow, number: Any) -> GoalRow:
        try:
            n = int(str(number).strip())
        except ValueError:
            raise InputError(f"goal {number!r} is not a goal number") from None
        goal = s.scalar(select(GoalRow).where(GoalRow.family_id == fam.id, GoalRow.number == n))
        if goal is None:
            raise InputError(f"family {fam.pseudonym!r} has no goal {n}")
        return goal

    # ------------------------------------------------------------------ writes
    def add_family(self, pseudonym: str, team: str, user: User) -> str:
        """Register a family (pseudonym, team); returns the pseudonym as stored."""
        user.require("session.edit")
        name = check_pseudonym(pseudonym)
        team = (team or "").strip()
        if not user.sees_team(team):
            raise InputError(f"team {team!r} is not one of yours")
        with self.tx() as s:
            if s.scalar(select(FamilyRow.id).where(FamilyRow.pseudonym == name)) is not None:
                raise InputError(f"family {name!r} already exists")
            row = FamilyRow(pseudonym=name, team=team, token=secrets.token_hex(8),
                            created_by=user.name)
            s.add(row)
            s.flush()
            self.audit(s, user, "family.add", "family", str(row.id))
        return name

    def _add_goal(self, s: OrmSession, fam: FamilyRow, text: str, set_on: Any,
                  user: User) -> int:
        text = (text or "").strip()
        m = self.measures
        if not text:
            raise InputError("a goal needs its text (the family's words)")
        if len(text) > m.goal_max_chars:
            raise InputError(f"goal text is longer than {m.goal_max_chars} characters")
        when = _req_date(set_on, "the date the goal was set")
        active = s.scalar(
            select(func.count(GoalRow.id)).where(
                GoalRow.family_id == fam.id, GoalRow.closed_on.is_(None)
            )
        )
        if active >= m.max_active_goals:
            raise InputError(
                f"family {fam.pseudonym!r} already has {active} active goals (at most "
                f"{m.max_active_goals}): close one first"
            )
        number = (s.scalar(select(func.max(GoalRow.number)).where(GoalRow.family_id == fam.id))
                  or 0) + 1
        s.add(GoalRow(family_id=fam.id, number=number, text=text, set_on=when,
                      created_by=user.name))
        s.flush()
        self.audit(s, user, "family.goal", "family", str(fam.id), goal=number)
        return number

    def _close_goal(self, s: OrmSession, fam: FamilyRow, number: Any, closed_on: Any,
                    user: User) -> int:
        goal = self._goal_row(s, fam, number)
        when = _req_date(closed_on, "the date the goal was closed")
        if when < goal.set_on:
            raise InputError(f"goal {goal.number} cannot close before it was set ({goal.set_on})")
        old = _iso(goal.closed_on)
        goal.closed_on = when
        self.audit(s, user, "family.goal_close", "family", str(fam.id), goal=goal.number,
                   old=old, new=_iso(when))
        return goal.number

    def _rate_goal(self, s: OrmSession, fam: FamilyRow, number: Any, score: Any,
                   rated_on: Any, occasion: str | None, user: User) -> str:
        m = self.measures
        goal = self._goal_row(s, fam, number)
        value = m.gbo(score)
        when = _req_date(rated_on, "the date of the rating")
        if when < goal.set_on:
            raise InputError(f"goal {goal.number} was set on {goal.set_on}: rate it on or after")
        earlier = list(s.scalars(select(GoalRatingRow).where(GoalRatingRow.goal_id == goal.id)))
        has_start = any(r.occasion == "start" for r in earlier)
        occ = m.occasion((occasion or "").strip() or ("review" if has_start else "start"))
        if occ == "start" and has_start:
            raise InputError(f"goal {goal.number} already has its start rating")
        if occ != "start" and not has_start:
            raise InputError(f"goal {goal.number} needs its start rating first")
        s.add(GoalRatingRow(goal_id=goal.id, occasion=occ, rated_on=when, score=value,
                            entered_by=user.name))
        self.audit(s, user, "family.rating", "family", str(fam.id), goal=goal.number,
                   occasion=occ)
        return occ

    def _add_feedback(self, s: OrmSession, fam: FamilyRow, answers: dict[str, Any],
                      visit_on: Any, session_id: str | None, user: User) -> None:
        clean = self.measures.answers(answers)
        when = _req_date(visit_on, "the visit date")
        sid = (session_id or "").strip() or None
        if sid is not None:
            srow = self._session_row(s, sid, user=user)
            if srow.family != fam.pseudonym:
                raise InputError(f"session {sid!r} is not a visit to family {fam.pseudonym!r}")
        s.add(FeedbackRow(family_id=fam.id, visit_on=when, session_id=sid, answers=clean,
                          measures_version=self.measures.version, entered_by=user.name))
        self.audit(s, user, "family.feedback", "family", str(fam.id),
                   questions=sorted(clean))

    def add_goal(self, pseudonym: str, text: str, set_on: Any, user: User) -> int:
        """A goal the family set (at most ``max_active`` open at a time); its number."""
        user.require("session.edit")
        with self.tx() as s:
            return self._add_goal(s, self._family_row(s, pseudonym, user, lock=True),
                                  text, set_on, user)

    def close_goal(self, pseudonym: str, number: int, closed_on: Any, user: User) -> int:
        user.require("session.edit")
        with self.tx() as s:
            return self._close_goal(s, self._family_row(s, pseudonym, user, lock=True),
                                    number, closed_on, user)

    def rate_goal(self, pseudonym: str, number: int, score: Any, rated_on: Any, user: User,
                  occasion: str | None = None) -> str:
        """The family's GBO rating of a goal; the first is the start, later ones reviews."""
        user.require("session.edit")
        with self.tx() as s:
            return self._rate_goal(s, self._family_row(s, pseudonym, user, lock=True),
                                   number, score, rated_on, occasion, user)

    def add_feedback(self, pseudonym: str, answers: dict[str, Any], visit_on: Any,
                     user: User, session_id: str | None = None) -> None:
        """The family's feedback after a visit (answers keyed by measures.yaml question)."""
        user.require("session.edit")
        with self.tx() as s:
            self._add_feedback(s, self._family_row(s, pseudonym, user, lock=True),
                               answers, visit_on, session_id, user)

    # ------------------------------------------------------------------ CSV import
    def import_family_csv(self, path: Path, user: User) -> dict[str, int]:
        """Apply a family CSV (docs/family.md) in ONE transaction: any bad row -> nothing.

        Rows apply in file order, so a goal set in row 2 can be rated in row 3. The error
        names the row (1 = the header) and the problem; counts per record kind on success.
        """
        user.require("session.edit")
        rows = list(_read_csv(Path(path), self.measures))
        counts = dict.fromkeys(CSV_RECORDS, 0)
        with self.tx() as s:
            families: dict[str, FamilyRow] = {}
            for line, row in rows:
                try:
                    name = (row.get("family") or "").strip()
                    if name not in families:
                        families[name] = self._family_row(s, name, user, lock=True)
                    fam, kind = families[name], row["record"]
                    if kind == "goal":
                        self._add_goal(s, fam, row.get("text", ""), row["date"], user)
                    elif kind == "close":
                        self._close_goal(s, fam, row.get("goal", ""), row["date"], user)
                    elif kind == "rating":
                        self._rate_goal(s, fam, row.get("goal", ""), row.get("rating", ""),
                                        row["date"], row.get("occasion"), user)
                    else:
                        self._add_feedback(s, fam, _feedback_answers(row, self.measures),
                                           row["date"], row.get("session"), user)
                except InputError as exc:
                    raise InputError(f"{path}: row {line}: {exc}; nothing was imported") from None
                counts[kind] += 1
            self.audit(s, user, "family.import", "", "", rows=len(rows), **counts)
        return counts

    # ------------------------------------------------------------------ reads
    def list_families(self, user: User) -> list[dict[str, Any]]:
        user.require("session.view")
        with self.rtx() as s:
            q = select(FamilyRow).order_by(FamilyRow.pseudonym)
            if not user.all_teams:
                q = q.where(FamilyRow.team.in_(sorted(user.teams)))
            return [{"pseudonym": f.pseudonym, "team": f.team} for f in s.scalars(q)]

    def family_view(self, pseudonym: str, user: User) -> dict[str, Any]:
        """One family's goals with ratings, feedback, and the visits' confirmed scores."""
        user.require("session.view")
        with self.rtx() as s:
            fam = self._family_row(s, pseudonym, user)
            return self._family_progress(s, fam, user, with_text=True)

    def _family_progress(self, s: OrmSession, fam: FamilyRow, user: User,
                         with_text: bool) -> dict[str, Any]:
        goals = list(s.scalars(select(GoalRow).where(GoalRow.family_id == fam.id)
                               .order_by(GoalRow.number)))
        ratings: dict[int, list[GoalRatingRow]] = {}
        if goals:
            for r in s.scalars(select(GoalRatingRow)
                               .where(GoalRatingRow.goal_id.in_([g.id for g in goals]))
                               .order_by(GoalRatingRow.rated_on, GoalRatingRow.id)):
                ratings.setdefault(r.goal_id, []).append(r)
        goal_out, changes, dates = [], [], []
        for g in goals:
            rs = ratings.get(g.id, [])
            start = next((r for r in rs if r.occasion == "start"), None)
            reviews = [r for r in rs if r.occasion != "start"]
            change = reviews[-1].score - start.score if start and reviews else None
            if change is not None:
                changes.append(change)
            dates += [r.rated_on for r in rs]
            goal_out.append({
                "number": g.number,
                **({"text": g.text} if with_text else {}),
                "set_on": _iso(g.set_on),
                "closed_on": _iso(g.closed_on),
                "active": g.closed_on is None,
                "ratings": [{"occasion": r.occasion, "date": _iso(r.rated_on), "score": r.score}
                            for r in rs],
                "start": start.score if start else None,
                "latest": rs[-1].score if rs else None,
                "change": change,
            })
        feedback = []
        for f in s.scalars(select(FeedbackRow).where(FeedbackRow.family_id == fam.id)
                           .order_by(FeedbackRow.visit_on, FeedbackRow.id)):
            answers = dict(f.answers or {})
            if not with_text:
                answers = {k: v for k, v in answers.items() if not isinstance(v, str)}
            feedback.append({"date": _iso(f.visit_on), "session_id": f.session_id,
                             "answers": answers})
        first, last = (min(dates), max(dates)) if dates else (None, None)
        visits = self._visits(s, fam, user, first, last)
        between = [v for v in visits if v["between"] and v["mean_confirmed"] is not None]
        return {
            "pseudonym": fam.pseudonym,
            "team": fam.team,
            "goals": goal_out,
            "feedback": feedback,
            "visits": visits,
            "first_rating": _iso(first),
            "last_rating": _iso(last),
            "gbo_change": sum(changes) / len(changes) if changes else None,
            "practice_between": (sum(v["mean_confirmed"] for v in between) / len(between)
                                 if between else None),
            "practice_between_by_principle": _mean_by_principle(between),
        }

    def _visits(self, s: OrmSession, fam: FamilyRow, user: User, first: date | None,
                last: date | None) -> list[dict[str, Any]]:
        rows = [r for r in s.scalars(select(SessionRow).where(SessionRow.family == fam.pseudonym)
                                     .order_by(SessionRow.date, SessionRow.id))
                if user.sees_team(r.team)]
        scores: dict[str, dict[str, float]] = {}
        if rows:
            for p in s.scalars(select(PrincipleScore).where(
                    PrincipleScore.session_id.in_([r.id for r in rows]),
                    PrincipleScore.confirmed.is_not(None))):
                scores.setdefault(p.session_id, {})[p.principle] = float(p.confirmed)
        out = []
        for r in rows:
            conf = scores.get(r.id, {})
            when = r.date
            out.append({
                "session_id": r.id,
                "date": _iso(when),
                "worker": r.worker,
                "recording_type": r.recording_type,
                "confirmed": conf,
                "mean_confirmed": sum(conf.values()) / len(conf) if conf else None,
                "between": bool(first and last and when and first <= when <= last),
            })
        return out

    def family_progress(self, user: User, team: str | None = None,
                        worker: str | None = None) -> dict[str, Any]:
        """Each family's goal progress and feedback beside the practice scores of the
        visits in between, and the relation between confirmed scores and family-rated
        change over the families, with n and its Fisher interval.

        A team view (``worker`` None): with fewer than ``MIN_GROUP`` families that have
        ratings, ``families`` is empty and ``relation`` None (no figures about one or two
        families). A worker's own view (``worker``): the families of their visits; the
        relation still needs ``MIN_GROUP`` families. Never a ranking: families keep
        pseudonym order, and no worker is compared with another. No free text here.
        """
        user.require("team.view")
        with self.rtx() as s:
            q = select(FamilyRow).order_by(FamilyRow.pseudonym)
            if not user.all_teams:
                q = q.where(FamilyRow.team.in_(sorted(user.teams)))
            if team:
                q = q.where(FamilyRow.team == team)
            fams = list(s.scalars(q))
            if worker:
                theirs = set(s.scalars(select(SessionRow.family).where(
                    SessionRow.worker == worker)))
                fams = [f for f in fams if f.pseudonym in theirs]
            progress = [self._family_progress(s, f, user, with_text=False) for f in fams]
        rated = [p for p in progress if any(g["ratings"] for g in p["goals"])]
        if worker is None and len(rated) < MIN_GROUP:
            return {"families": [], "relation": None, "n_families": len(rated),
                    "hidden": True}
        pairs = [p for p in rated
                 if p["gbo_change"] is not None and p["practice_between"] is not None]
        relation = None
        if len(pairs) >= MIN_GROUP:
            overall = pearson_with_interval([p["practice_between"] for p in pairs],
                                            [p["gbo_change"] for p in pairs])
            per_principle = {}
            for name in PRINCIPLES:
                xy = [(p["practice_between_by_principle"][name], p["gbo_change"])
                      for p in pairs if name in p["practice_between_by_principle"]]
                if len(xy) >= MIN_GROUP:
                    rel = pearson_with_interval([x for x, _ in xy], [y for _, y in xy])
                    per_principle[name] = rel.__dict__
            relation = {"overall": overall.__dict__, "text": overall.text(),
                        "per_principle": per_principle}
        return {"families": rated, "relation": relation, "n_families": len(rated),
                "hidden": False}

    # ------------------------------------------------------------------ export
    def export_family_outcomes(self, path: Path, user: User) -> int:
        """Pseudonymised family outcomes for researchers (CSV): the family's random
        token (never its pseudonym), team, goal numbers, dates, ratings, feedback ratings.

        Free text (goals, comments) is left out. ``review.redaction`` is measured on
        transcripts, where names are mostly addressed or mid-sentence; a goal in the family's
        words usually *starts* with the child's name ("Jo goes to school every day"), which
        those rules keep (a capital at a sentence start is not evidence of a name), and its
        recall on such text is not measured. Returns the row count.
        """
        user.require("export")
        fields = ["family_token", "team", "record", "goal", "date", "occasion", "score",
                  "question"]
        n = 0
        path = Path(path)
        with self.rtx() as s, path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            q = select(FamilyRow).order_by(FamilyRow.token)
            if not user.all_teams:
                q = q.where(FamilyRow.team.in_(sorted(user.teams)))
            for fam in s.scalars(q):
                base = {"family_token": fam.token, "team": fam.team}
                for g in s.scalars(select(GoalRow).where(GoalRow.family_id == fam.id)
                                   .order_by(GoalRow.number)):
                    w.writerow({**base, "record": "goal", "goal": g.number,
                                "date": _iso(g.set_on)})
                    n += 1
                    for r in s.scalars(select(GoalRatingRow).where(GoalRatingRow.goal_id == g.id)
                                       .order_by(GoalRatingRow.rated_on)):
                        w.writerow({**base, "record": "rating", "goal": g.number,
                                    "date": _iso(r.rated_on), "occasion": r.occasion,
                                    "score": r.score})
                        n += 1
                for f in s.scalars(select(FeedbackRow).where(FeedbackRow.family_id == fam.id)
                                   .order_by(FeedbackRow.visit_on)):
                    for qid, value in sorted((f.answers or {}).items()):
                        if isinstance(value, str):
                            continue  # free text stays in the store
                        w.writerow({**base, "record": "feedback", "date": _iso(f.visit_on),
                                    "question": qid, "score": value})
                        n += 1
        with self.tx() as s:
            self.audit(s, user, "export.family", "", "", rows=n)
        return n

    # ------------------------------------------------------------------ erasure
    def erase_family(self, pseudonym: str, user: User) -> dict[str, Any]:
        """Erase a family: each of its sessions (``erase_session``), then its goals,
        ratings and feedback, with one ``family.erase`` audit row (ids and counts only).

        Sessions go first: should the process stop in between, the family is still there
        and running the erase again finishes it.
        """
        user.require("session.erase")
        with self.rtx() as s:
            fam = self._family_row(s, pseudonym, user)
            fam_id = fam.id
            session_ids = [r.id for r in s.scalars(
                select(SessionRow).where(SessionRow.family == fam.pseudonym))]
        for sid in session_ids:
            self.erase_session(sid, user)
        with self.tx() as s:
            goal_ids = list(s.scalars(select(GoalRow.id).where(GoalRow.family_id == fam_id)))
            n_ratings = s.scalar(select(func.count(GoalRatingRow.id))
                                 .where(GoalRatingRow.goal_id.in_(goal_ids))) if goal_ids else 0
            n_feedback = s.scalar(select(func.count(FeedbackRow.id))
                                  .where(FeedbackRow.family_id == fam_id))
            if goal_ids:
                s.execute(delete(GoalRatingRow).where(GoalRatingRow.goal_id.in_(goal_ids)))
            s.execute(delete(GoalRow).where(GoalRow.family_id == fam_id))
            s.execute(delete(FeedbackRow).where(FeedbackRow.family_id == fam_id))
            s.execute(delete(FamilyRow).where(FamilyRow.id == fam_id))
            counts = {"sessions": len(session_ids), "goals": len(goal_ids),
                      "ratings": int(n_ratings or 0), "feedback": int(n_feedback or 0)}
            self.audit(s, user, "family.erase", "family", str(fam_id), **counts)
        # the sessions' own checks could not look for the pseudonym while the family row
        # held it; now nothing may (``Erasure.find_traces``)
        checkpointed = self._compact()
        traces = self.find_traces({"family pseudonym": pseudonym}) if len(pseudonym) >= 6 else []
        return {**counts, "checkpointed": checkpointed, "traces": traces}


def _mean_by_principle(visits: list[dict[str, Any]]) -> dict[str, float]:
    acc: dict[str, list[float]] = {}
    for v in visits:
        for name, value in v["confirmed"].items():
            acc.setdefault(name, []).append(value)
    return {k: sum(v) / len(v) for k, v in acc.items()}


def _feedback_answers(row: dict[str, str], m: Measures) -> dict[str, Any]:
    """A feedback row's answers: ``rating`` is the first rating question, ``text`` the
    first text question; a column named by a question id answers that question."""
    answers: dict[str, Any] = {}
    if m.rating_questions and row.get("rating", "").strip():
        answers[m.rating_questions[0].id] = row["rating"]
    if m.text_questions and row.get("text", "").strip():
        answers[m.text_questions[0].id] = row["text"]
    for q in m.questions:
        if row.get(q.id, "").strip():
            answers[q.id] = row[q.id]
    return answers


def _read_csv(path: Path, m: Measures) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, row) for each row, after checking the header and the record kinds."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} (needs {', '.join(CSV_REQUIRED)};"
            f" optional {', '.join(CSV_OPTIONAL)}); nothing was imported"
        )
    known = set(CSV_REQUIRED) | set(CSV_OPTIONAL) | {q.id for q in m.questions}
    unknown = [c for c in header if c not in known]
    if unknown:
        raise InputError(f"{path}: unknown column(s) {', '.join(unknown)}; nothing was imported")
    out = []
    for i, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        if row.get("record") not in CSV_RECORDS:
            raise InputError(f"{path}: row {i}: record {row.get('record')!r} is not one of "
                             f"{', '.join(CSV_RECORDS)}; nothing was imported")
        out.append((i, row))
    if not out:
        raise InputError(f"{path}: no rows to import")
    return out
