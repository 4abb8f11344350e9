"""ORM model of a person's confirmed supervision rubric scores (migration 0008).

The suggested scores and their evidence live in the session's ``scores["supervision"]``
(recomputed on every code or role decision); this table holds what a person confirmed,
one row per session and dimension, cascading with the session on erasure.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from msw_audio.review.db import Base


class SupervisionScoreRow(Base):
    __tablename__ = "supervision_scores"
    __table_args__ = (UniqueConstraint("session_id", "dimension",
                                       name="uq_supervision_scores_session"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    dimension: Mapped[str] = mapped_column(String(64))
    confirmed: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    rubric_version: Mapped[str] = mapped_column(String(64), default="")
    confirmed_by: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
