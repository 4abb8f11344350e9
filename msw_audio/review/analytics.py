"""Coach, team and research views: exemplars, team summary, model-vs-evaluator agreement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from msw_audio.errors import InputError
from msw_audio.records import (
    PRINCIPLES,
)
from msw_audio.review.auth import (
    User,
)
from msw_audio.review.core import _iso, _not_blind, _parse_date, _visible
from msw_audio.review.db import (
    PrincipleScore,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UtteranceRow,
)
from msw_audio.review.pseudonyms import Pseudonyms

MIN_GROUP = 3  # team summaries hide groups with fewer sessions (no league tables of one)

#: The MITI summary measures the team view aggregates (recomputed from confirmed codes on
#: each decision, ``Store._rescore``); counts of lines and bookkeeping fields are left out.
TEAM_MITI_MEASURES = (
    "reflection_to_question", "pct_complex_reflection", "pct_open_question", "mi_adherent",
    "mi_non_adherent", "change_talk_share", "technical_global", "relational_global",
)


def _summary_record(r: SessionRow, kind: str, measure: str, value: float) -> dict[str, Any]:
    when = r.date or r.created_at.date()
    return {
        "session_id": r.id,
        "team": r.team or "(no team)",
        "worker": r.worker,
        "period": when.strftime("%Y-%m"),
        "kind": kind,
        "measure": measure,
        "value": value,
    }


def _kappa(a: list[Any], b: list[Any], weights: str | None = None) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if not a or len(set(a) | set(b)) < 2:
        return None
    k = cohen_kappa_score(a, b, weights=weights)
    return None if k != k else float(k)  # NaN -> None


def _accuracy(a: list[Any], b: list[Any]) -> float | None:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else None


class Analytics(Pseudonyms):
    """Coach, team and research views: exemplars, team summary, model-vs-evaluator agreement."""

    def exemplars(
        self,
        user: User,
        code: str | None = None,
        principle: str | None = None,
        worker: str | None = None,
        team: str | None = None,
        date_from: Any = None,
        date_to: Any = None,
        context: int = 2,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Confirmed good practice, each with the utterances around it.

        With ``code``: utterances an evaluator confirmed as that code. With ``principle``:
        the evidence utterances of sessions whose confirmed score on it is 4 or more.
        Neither: every confirmed code in the codebook's ``good_practice`` group.
        """
        user.require("exemplars.view")
        if principle is not None and principle not in PRINCIPLES:
            raise InputError(f"unknown principle {principle!r}")
        d_from, d_to = _parse_date(date_from), _parse_date(date_to)
        with self.rtx() as s:
            q = _not_blind(_visible(select(SessionRow), user), user)
            if worker:
                q = q.where(SessionRow.worker == worker)
            if team:
                q = q.where(SessionRow.team == team)
            if d_from:
                q = q.where(SessionRow.date >= d_from)
            if d_to:
                q = q.where(SessionRow.date <= d_to)
            sessions = {r.id: r for r in s.scalars(q)}
            if not sessions:
                return []
            picks: list[tuple[str, str, float | None, str | None]] = []  # session, utt, score, note
            if principle:
                for p in s.scalars(
                    select(PrincipleScore).where(
                        PrincipleScore.principle == principle,
                        PrincipleScore.confirmed >= 4,
                        PrincipleScore.session_id.in_(sessions),
                    )
                ):
                    for ev in p.evidence or []:
                        if ev.get("utterance_id"):
                            picks.append((p.session_id, ev["utterance_id"], p.confirmed, p.note))
            else:
                codes = (code,) if code else self.codebook.group("good_practice")
                for u in s.scalars(
                    select(UtteranceRow)
                    .where(
                        UtteranceRow.session_id.in_(sessions),
                        UtteranceRow.confirmed_code.in_(codes),
                    )
                    .order_by(UtteranceRow.session_id, UtteranceRow.idx)
                ):
                    picks.append((u.session_id, u.utterance_id, None, None))
            picks = picks[:limit]
            out = []
            cache: dict[str, tuple[list[UtteranceRow], dict[str, str]]] = {}
            for sid, uid, score, note in picks:
                if sid not in cache:
                    rows = list(
                        s.scalars(
                            select(UtteranceRow)
                            .where(UtteranceRow.session_id == sid)
                            .order_by(UtteranceRow.idx)
                        )
                    )
                    roles = {
                        k.speaker_id: k.role
                        for k in s.scalars(select(SpeakerRow).where(SpeakerRow.session_id == sid))
                    }
                    cache[sid] = (rows, roles)
                rows, roles = cache[sid]
                pos = next((i for i, r in enumerate(rows) if r.utterance_id == uid), None)
                if pos is None:
                    continue
                u = rows[pos]
                if principle and code and u.confirmed_code != code:
                    continue
                srow = sessions[sid]
                out.append(
                    {
                        "session_id": sid,
                        "title": srow.title,
                        "worker": srow.worker,
                        "team": srow.team,
                        "date": _iso(srow.date),
                        "utterance_id": uid,
                        "start": u.start,
                        "end": u.end,
                        "speaker": u.speaker_id,
                        "role": roles.get(u.speaker_id, "other"),
                        "text": u.text,
                        "code": u.confirmed_code,
                        "principle": principle,
                        "score": score,
                        "note": note,
                        "context": [
                            {
                                "utterance_id": c.utterance_id,
                                "start": c.start,
                                "end": c.end,
                                "speaker": c.speaker_id,
                                "role": roles.get(c.speaker_id, "other"),
                                "text": c.text,
                                "code": c.confirmed_code,
                                "is_exemplar": c.utterance_id == uid,
                            }
                            for c in rows[max(0, pos - context) : pos + context + 1]
                        ],
                    }
                )
            if self.shielded(user):
                reds = {sid: self._redactor(s, sessions[sid]) for sid in {o["session_id"]
                                                                           for o in out}}
                for o in out:
                    red = reds[o["session_id"]]
                    o.update(self._shield_fields(user, o))
                    o["text"] = red.text(o["text"])
                    o["note"] = red.text(o["note"]) if o["note"] else o["note"]
                    for c in o["context"]:
                        c["text"] = red.text(c["text"])
            return out

    def team_summary(self, user: User, team: str | None = None, worker: str | None = None) -> Any:
        """Confirmed principle scores and MITI summaries per group and month (pandas).

        Long format: ``group, team, worker, period, kind, measure, n_sessions, mean, median,
        min, max``; ``period`` is ``YYYY-MM`` or ``all``; ``kind`` is ``principle`` or
        ``miti``. Groups are each team plus ``service`` (all teams); with ``worker`` the one
        group is that worker (their own trend). Any group-period with fewer than
        ``MIN_GROUP`` sessions is left out: these are prompts for reflection, not a
        league table of individuals.
        """
        import pandas as pd

        user.require("team.view")
        if user.own_only:  # a practitioner's view is their own trend, whatever was asked
            worker = user.worker_name
        with self.rtx() as s:
            q = _not_blind(_visible(select(SessionRow), user), user)
            if team:
                q = q.where(SessionRow.team == team)
            if worker:
                q = q.where(SessionRow.worker == worker)
            sessions = {r.id: r for r in s.scalars(q)}
            confirmed = list(
                s.scalars(
                    select(PrincipleScore).where(
                        PrincipleScore.confirmed.is_not(None),
                        PrincipleScore.session_id.in_(sessions),
                    )
                )
            )
        records = []
        seen: set[str] = set()
        for p in confirmed:
            r = sessions[p.session_id]
            seen.add(r.id)
            records.append(_summary_record(r, "principle", p.principle, p.confirmed))
        for sid in seen:
            r = sessions[sid]
            miti = (r.scores or {}).get("miti") or {}
            for k in TEAM_MITI_MEASURES:
                v = miti.get(k)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    records.append(_summary_record(r, "miti", k, float(v)))
        cols = [
            "group",
            "team",
            "worker",
            "period",
            "kind",
            "measure",
            "n_sessions",
            "mean",
            "median",
            "min",
            "max",
        ]
        if not records:
            return pd.DataFrame(columns=cols)
        df = pd.DataFrame.from_records(records)
        frames = []
        if worker:
            groups = [("worker:" + worker, df)]
        else:
            groups = [("team:" + t, g) for t, g in df.groupby("team")]
            if not team:
                groups.append(("service", df))
        for label, g in groups:
            for period_df, period in [(g, "all")] + [(pg, p) for p, pg in g.groupby("period")]:
                agg = (
                    period_df.groupby(["kind", "measure"])
                    .agg(
                        n_sessions=("session_id", "nunique"),
                        mean=("value", "mean"),
                        median=("value", "median"),
                        min=("value", "min"),
                        max=("value", "max"),
                    )
                    .reset_index()
                )
                agg = agg[agg["n_sessions"] >= MIN_GROUP]
                if agg.empty:
                    continue
                agg.insert(0, "period", period)
                agg.insert(0, "worker", worker or "")
                agg.insert(0, "team", label[5:] if label.startswith("team:") else (team or ""))
                agg.insert(0, "group", label)
                frames.append(agg)
        if not frames:
            return pd.DataFrame(columns=cols)
        return pd.concat(frames, ignore_index=True)[cols]

    def agreement(self, user: User) -> dict[str, Any]:
        """How often the suggestions agree with evaluators (Cohen's kappa).

        ``codes``: overall kappa/accuracy of the top suggestion vs the confirmed code, and
        per code (one-vs-rest kappa); ``model_versions``: the same per tagger version;
        ``principles``: quadratic-weighted kappa and mean absolute error of suggested vs
        confirmed score. ``kappa`` is None where it is undefined (one class only).
        """
        user.require("agreement.view")
        visible = _not_blind(_visible(select(SessionRow.id), user), user)
        with self.rtx() as s:
            code_pairs = s.execute(
                select(Suggestion.code, UtteranceRow.confirmed_code, Suggestion.model_version)
                .join(
                    UtteranceRow,
                    (UtteranceRow.session_id == Suggestion.session_id)
                    & (UtteranceRow.utterance_id == Suggestion.utterance_id),
                )
                .where(Suggestion.rank == 0, UtteranceRow.confirmed_code.is_not(None),
                       Suggestion.session_id.in_(visible))
            ).all()
            score_pairs = s.execute(
                select(
                    PrincipleScore.principle, PrincipleScore.suggested, PrincipleScore.confirmed
                ).where(
                    PrincipleScore.confirmed.is_not(None), PrincipleScore.suggested.is_not(None),
                    PrincipleScore.session_id.in_(visible),
                )
            ).all()
        sugg = [p[0] for p in code_pairs]
        conf = [p[1] for p in code_pairs]
        per_code = {}
        for c in sorted(set(sugg) | set(conf)):
            a = [x == c for x in sugg]
            b = [x == c for x in conf]
            per_code[c] = {"kappa": _kappa(a, b), "n_confirmed": sum(b), "n_suggested": sum(a)}
        versions: dict[str, tuple[list[str], list[str]]] = {}
        for sg, cf, ver in code_pairs:
            versions.setdefault(ver or "unknown", ([], []))
            versions[ver or "unknown"][0].append(sg)
            versions[ver or "unknown"][1].append(cf)
        principles = {}
        for name in sorted({p[0] for p in score_pairs}):
            a = [round(p[1] * 2) for p in score_pairs if p[0] == name]
            b = [round(p[2] * 2) for p in score_pairs if p[0] == name]
            principles[name] = {
                "kappa": _kappa(a, b, weights="quadratic"),
                "mae": sum(abs(x - y) for x, y in zip(a, b, strict=True)) / (2 * len(a)),
                "n": len(a),
            }
        return {
            "codes": {
                "n": len(code_pairs),
                "kappa": _kappa(sugg, conf),
                "accuracy": _accuracy(sugg, conf),
                "per_code": per_code,
            },
            "model_versions": {
                v: {"n": len(a), "kappa": _kappa(a, b), "accuracy": _accuracy(a, b)}
                for v, (a, b) in versions.items()
            },
            "principles": principles,
        }

