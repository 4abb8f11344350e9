"""Research exports: labels for retraining and scores, each in one read transaction."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from msw_audio.review.auth import (
    User,
)
from msw_audio.review.core import _iso, _model_version, _visible
from msw_audio.review.db import (
    PrincipleScore,
    SessionRow,
    SpeakerRow,
    UtteranceRow,
)
from msw_audio.review.reading import Reading


class Exports(Reading):
    """Research exports: labels for retraining and scores, each in one read transaction."""

    def _training_rows(self, s: OrmSession, user: User) -> Iterator[dict[str, Any]]:
        q = _visible(select(SessionRow), user).order_by(SessionRow.created_at, SessionRow.id)
        shield = self.shielded(user)
        for srow in s.scalars(q):
            red = self._redactor(s, srow) if shield else None
            roles = {
                k.speaker_id: k.role
                for k in s.scalars(select(SpeakerRow).where(SpeakerRow.session_id == srow.id))
            }
            version = _model_version(srow.models or {})
            prev = ""
            for u in s.scalars(
                select(UtteranceRow)
                .where(UtteranceRow.session_id == srow.id)
                .order_by(UtteranceRow.idx)
            ):
                text = red.text(u.text) if red else u.text
                if u.confirmed_code:
                    yield {
                        "session_id": srow.id,
                        "utterance_id": u.utterance_id,
                        "role": roles.get(u.speaker_id, "other"),
                        "text": text,
                        "prev_text": prev,
                        "code": u.confirmed_code,
                        "evaluator": (self.person_token("user", u.confirmed_by) if shield
                                      else u.confirmed_by or ""),
                        "confirmed_at": _iso(u.confirmed_at) or "",
                        "model_version": version,
                    }
                prev = text

    def export_labels(self, path: Path, user: User) -> int:
        """Confirmed codes as the ``msw-audio tagger train --extra`` CSV; returns row count."""
        user.require("export")
        fields = [
            "session_id",
            "utterance_id",
            "role",
            "text",
            "prev_text",
            "code",
            "evaluator",
            "confirmed_at",
            "model_version",
        ]
        path = Path(path)
        tmp = path.with_name(path.name + ".partial")
        n = 0
        # A read transaction (one consistent snapshot): a long export must never hold the
        # write lock that evaluators' saves wait for.
        with self.rtx() as s, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for rec in self._training_rows(s, user):
                writer.writerow(rec)
                n += 1
        os.replace(tmp, path)
        with self.tx() as s:
            self.audit(s, user, "export.labels", "", "", rows=n)
        return n

    def export_scores(self, path: Path, user: User) -> int:
        """Sessions with confirmed principle scores as JSONL; returns the session count."""
        user.require("export")
        with self.rtx() as s:
            by_session: dict[str, dict[str, float]] = {}
            visible = _visible(select(SessionRow.id), user)
            for p in s.scalars(
                select(PrincipleScore).where(
                    PrincipleScore.confirmed.is_not(None), PrincipleScore.session_id.in_(visible)
                )
            ):
                by_session.setdefault(p.session_id, {})[p.principle] = p.confirmed
        path = Path(path)
        tmp = path.with_name(path.name + ".partial")
        with open(tmp, "w", encoding="utf-8") as fh:
            for sid in sorted(by_session):
                session = self.get_session(sid, user)
                fh.write(
                    json.dumps(
                        {
                            "session_id": sid,
                            "session": session.to_dict(),
                            "confirmed": by_session[sid],
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
        os.replace(tmp, path)
        with self.tx() as s:
            self.audit(s, user, "export.scores", "", "", sessions=len(by_session))
        return len(by_session)

