"""Supervision sessions in the store: rubric scores confirmed by a person, and each
practitioner's supervision beside their practice over time.

Why: the seed's "golden thread" runs from supervision to practice; a worker (and, with
at least ``MIN_GROUP`` sessions per group and month, a team) can see the confirmed
supervision scores of the sessions where they were supervised beside the confirmed
practice scores of their visits. A supervision session is one coded with a codebook whose
``rubric`` is ``supervision`` (``process --recording-type supervision``); its worker is
the supervisee. Decisions are audited old -> new like the practice principles.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from msw_audio.errors import InputError
from msw_audio.review.analytics import MIN_GROUP
from msw_audio.review.auth import User
from msw_audio.review.core import _iso, _visible
from msw_audio.review.db import PrincipleScore, SessionRow, utcnow
from msw_audio.review.decisions import Decisions
from msw_audio.review.supervision_db import SupervisionScoreRow


class Supervision(Decisions):
    """Supervision rubric scores (suggested, confirmed) and supervision beside practice."""

    def _is_supervision(self, row: SessionRow) -> bool:
        return self._codebook_of(row.models).rubric == "supervision"

    def supervision_scores(self, session_id: str, user: User) -> dict[str, Any]:
        """Each dimension's suggested value, evidence, reasons and confirmed value."""
        user.require("session.view")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            if not self._is_supervision(row):
                raise InputError(f"session {session_id!r} is not a supervision session")
            suggested = ((row.scores or {}).get("supervision") or {})
            confirmed = {c.dimension: c for c in s.scalars(
                select(SupervisionScoreRow).where(SupervisionScoreRow.session_id == row.id))}
        dims = {}
        entries = dict(suggested.get("dimensions") or {})
        for dim_id in confirmed:  # confirmed without a suggestion (e.g. processed untagged)
            entries.setdefault(dim_id, {"value": None, "evidence": [], "reasons": []})
        for dim_id, entry in entries.items():
            c = confirmed.get(dim_id)
            dims[dim_id] = {**entry, "suggested": entry.get("value"),
                            "confirmed": c.confirmed if c else None,
                            "note": c.note if c else None,
                            "confirmed_by": c.confirmed_by if c else None}
        return {"rubric_version": suggested.get("rubric_version", ""), "dimensions": dims}

    def confirm_supervision_score(self, session_id: str, dimension: str, value: Any,
                                  note: str | None, user: User) -> None:
        """Confirm (or change) a supervision dimension 1-5 in halves (audited old -> new)."""
        from msw_audio.scoring.supervision import load_supervision_rubric

        user.require("session.edit")
        rubric = load_supervision_rubric()
        rubric.get(dimension)  # unknown dimension -> InputError naming the known ones
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"score {value!r} is not a number") from None
        if not (1.0 <= value <= 5.0) or value * 2 != int(value * 2):
            raise InputError(f"score {value} must be 1-5 in steps of 0.5")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            if not self._is_supervision(row):
                raise InputError(f"session {session_id!r} is not a supervision session")
            sc = s.scalar(select(SupervisionScoreRow).where(
                SupervisionScoreRow.session_id == row.id,
                SupervisionScoreRow.dimension == dimension))
            if sc is None:
                sc = SupervisionScoreRow(session_id=row.id, dimension=dimension)
                s.add(sc)
            old = sc.confirmed
            sc.confirmed, sc.note = value, (note or "").strip() or None
            sc.rubric_version = f"{rubric.name}@{rubric.version}"
            sc.confirmed_by, sc.confirmed_at = user.name, utcnow()
            self._decide(s, row, user, "supervision", dimension, old, value, sc.note)

    def supervision_beside_practice(self, user: User, worker: str | None = None,
                                    team: str | None = None) -> list[dict[str, Any]]:
        """Rows ``{group, period, kind, measure, n_sessions, mean}`` by month and overall:
        ``kind`` ``supervision`` (confirmed rubric dimensions of the sessions where the
        worker was supervised) or ``practice`` (confirmed principle scores of their visits,
        ``measure`` ``mean_principles``).

        ``worker``: that worker's own rows (every group shown: it is their own record).
        Else one group per team (or ``team``): a group-month with fewer than ``MIN_GROUP``
        sessions is left out, as in the team summary — prompts, not a league table.
        """
        user.require("team.view")
        with self.rtx() as s:
            q = _visible(select(SessionRow), user)
            if worker:
                q = q.where(SessionRow.worker == worker)
            if team:
                q = q.where(SessionRow.team == team)
            rows = {r.id: r for r in s.scalars(q)}
            if not rows:
                return []
            sup = list(s.scalars(select(SupervisionScoreRow).where(
                SupervisionScoreRow.session_id.in_(rows),
                SupervisionScoreRow.confirmed.is_not(None))))
            prac = list(s.scalars(select(PrincipleScore).where(
                PrincipleScore.session_id.in_(rows), PrincipleScore.confirmed.is_not(None))))
        values: dict[tuple[str, str, str, str], dict[str, float]] = {}

        def add(r: SessionRow, kind: str, measure: str, value: float) -> None:
            when = r.date or r.created_at.date()
            group = f"worker:{worker}" if worker else f"team:{r.team or '(no team)'}"
            for period in ("all", when.strftime("%Y-%m")):
                values.setdefault((group, period, kind, measure), {})[r.id] = value

        for sc in sup:
            add(rows[sc.session_id], "supervision", sc.dimension, float(sc.confirmed))
        per_session: dict[str, list[float]] = {}
        for p in prac:
            if not self._is_supervision(rows[p.session_id]):
                per_session.setdefault(p.session_id, []).append(float(p.confirmed))
        for sid, vals in per_session.items():
            add(rows[sid], "practice", "mean_principles", sum(vals) / len(vals))
        out = []
        for (group, period, kind, measure), by_session in sorted(values.items()):
            n = len(by_session)
            if not worker and n < MIN_GROUP:
                continue
            out.append({"group": group, "period": period, "kind": kind, "measure": measure,
                        "n_sessions": n, "mean": sum(by_session.values()) / n})
        return out

    def supervision_sessions(self, user: User) -> list[dict[str, Any]]:
        """The supervision sessions this login may see (id, title, worker, date)."""
        user.require("session.view")
        with self.rtx() as s:
            rows = list(s.scalars(_visible(select(SessionRow), user)
                                  .order_by(SessionRow.date, SessionRow.id)))
            return [{"session_id": r.id, "title": r.title, "worker": r.worker,
                     "team": r.team, "date": _iso(r.date)}
                    for r in rows if self._is_supervision(r)]
