"""ORM models of the family's voice (migration 0008): families, goals, GBO ratings, feedback.

Kept beside ``review.db`` (same ``Base``) rather than in it so the family concern is one
place to read. A family is known by a pseudonym (never a real name) and belongs to one
team, which scopes it exactly like a session. Goals, ratings and feedback cascade from the
family, so erasing a family is one delete that cannot leave orphans.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from msw_audio.review.db import Base, utcnow


class FamilyRow(Base):
    __tablename__ = "families"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    team: Mapped[str] = mapped_column(String(255), default="")
    #: random research token: exports name families by it, never by the pseudonym
    token: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class GoalRow(Base):
    """A goal co-created with the family, in their words; ``closed_on`` set when done."""

    __tablename__ = "family_goals"
    __table_args__ = (Index("ix_family_goals_family", "family_id", "number", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the family
    text: Mapped[str] = mapped_column(Text, default="")
    set_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class GoalRatingRow(Base):
    """The family's Goal-Based Outcomes rating of one goal on one day (start or review)."""

    __tablename__ = "goal_ratings"
    __table_args__ = (Index("ix_goal_ratings_goal", "goal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("family_goals.id", ondelete="CASCADE"))
    occasion: Mapped[str] = mapped_column(String(16))  # start | review
    rated_on: Mapped[date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    entered_by: Mapped[str] = mapped_column(String(255), default="")
    entered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class FeedbackRow(Base):
    """The family's feedback after a visit: answers keyed by question id (measures.yaml)."""

    __tablename__ = "family_feedback"
    __table_args__ = (Index("ix_family_feedback_family", "family_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id", ondelete="CASCADE"))
    visit_on: Mapped[date] = mapped_column(Date)
    #: the visit's session, when known (a plain id: the session may be erased on its own)
    session_id: Mapped[str | None] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    measures_version: Mapped[str] = mapped_column(String(32), default="")
    entered_by: Mapped[str] = mapped_column(String(255), default="")
    entered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
