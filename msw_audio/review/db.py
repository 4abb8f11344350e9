"""SQLAlchemy 2 ORM models of the review store (schema owned by Alembic migrations).

One row per thing a reviewer can change, so every change is a small, immediate,
transactional write and nothing is lost on a crash:

* ``recordings``: content-addressed audio (sha256) kept in the managed data folder;
* ``sessions``: one per recording, with worker, team, date, family pseudonym, type, status;
* ``speakers`` (suggested and current role), ``utterances`` (confirmed code),
  ``suggestions`` (ranked model codes with model version), ``principle_scores``
  (suggested, confirmed, note), ``decisions`` (who, when, old -> new), ``history``
  (the undo/redo journal, ``review.history``);
* ``users`` and ``audit_log`` (append-only: triggers refuse UPDATE and DELETE);
* ``jobs``: the processing queue (see ``msw_audio.jobs.queue``).

Session-owned rows cascade on delete so erasure is one statement that cannot leave orphans.
Times are naive UTC (SQLite has no time zones; PostgreSQL stores the same values).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Recording(Base):
    """Audio kept once per content hash as ``audio/<sha256>.<ext>`` under the data folder."""

    __tablename__ = "recordings"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    ext: Mapped[str] = mapped_column(String(8), default="")
    has_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    #: printable file name as uploaded, metadata only (never used to build a path)
    original_name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recording_sha256: Mapped[str] = mapped_column(
        ForeignKey("recordings.sha256", ondelete="CASCADE"), unique=True
    )
    title: Mapped[str] = mapped_column(String(255), default="")
    worker: Mapped[str] = mapped_column(String(255), default="")
    team: Mapped[str] = mapped_column(String(255), default="")
    date: Mapped[date | None] = mapped_column(Date)
    family: Mapped[str] = mapped_column(String(255), default="")  # pseudonym, never a name
    recording_type: Mapped[str] = mapped_column(String(64), default="")
    #: unreviewed -> in_progress (first decision) -> reviewed (mark_reviewed)
    status: Mapped[str] = mapped_column(String(16), default="unreviewed", index=True)
    language: Mapped[str] = mapped_column(String(16), default="en")
    schema_version: Mapped[str] = mapped_column(String(16), default="1.0")
    duration: Mapped[float | None] = mapped_column(Float)
    models: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: suggested scores as produced by ``score_session`` (MITI summary, evidence...)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: diarization turns (the source of session.rttm), as ``[{start, end, speaker}]``
    turns: Mapped[list[Any] | None] = mapped_column(JSON)
    #: the transcript as the pipeline made it, kept at the first correction
    #: (``{"utterances": [{id, start, end, speaker, text, words}], "turns": [...]}``)
    machine: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(255))

    speakers: Mapped[list[SpeakerRow]] = relationship(
        back_populates="session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="SpeakerRow.speaker_id",
    )
    utterances: Mapped[list[UtteranceRow]] = relationship(
        back_populates="session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="UtteranceRow.idx",
    )


class SpeakerRow(Base):
    __tablename__ = "speakers"
    __table_args__ = (UniqueConstraint("session_id", "speaker_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    speaker_id: Mapped[str] = mapped_column(String(64))
    suggested_role: Mapped[str] = mapped_column(String(16), default="other")
    role_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    role: Mapped[str] = mapped_column(String(16), default="other")  # current (maybe confirmed)
    role_confirmed_by: Mapped[str | None] = mapped_column(String(255))
    role_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    talk_time: Mapped[float] = mapped_column(Float, default=0.0)

    session: Mapped[SessionRow] = relationship(back_populates="speakers")


class UtteranceRow(Base):
    __tablename__ = "utterances"
    __table_args__ = (
        UniqueConstraint("session_id", "utterance_id"),
        Index("ix_utterances_session_idx", "session_id", "idx"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    utterance_id: Mapped[str] = mapped_column(String(64))
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    speaker_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    words: Mapped[list[Any]] = mapped_column(JSON, default=list)
    confirmed_code: Mapped[str | None] = mapped_column(String(64))
    confirmed_by: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: why the line needs another look after a correction (None: it does not)
    flag: Mapped[str | None] = mapped_column(String(255))

    session: Mapped[SessionRow] = relationship(back_populates="utterances")


class Suggestion(Base):
    """One ranked model code for an utterance, as suggested at ingest (never edited)."""

    __tablename__ = "suggestions"
    __table_args__ = (Index("ix_suggestions_session_utt", "session_id", "utterance_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    utterance_id: Mapped[str] = mapped_column(String(64))
    rank: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="model")
    model_version: Mapped[str] = mapped_column(String(128), default="")


class Decision(Base):
    """One evaluator change: who, when, what (kind + target), old -> new."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_session", "session_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # code | role | score | status
    target: Mapped[str] = mapped_column(String(64), default="")  # utterance/speaker/principle
    old_value: Mapped[str | None] = mapped_column(String(255))
    new_value: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    user_name: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Correction(Base):
    """One transcript correction (reassign, edit, split, merge, re-split) with the exact
    rows it replaced (``before``) and the utterance ids it left (``after_ids``): undo
    deletes those and puts ``before`` back."""

    __tablename__ = "corrections"
    __table_args__ = (Index("ix_corrections_session", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64), default="")
    user_name: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after_ids: Mapped[list[Any]] = mapped_column(JSON)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime)
    undone_by: Mapped[str | None] = mapped_column(String(255))
class HistoryEntry(Base):
    """One reviewer action in a session's undo/redo journal (``review.history``).

    ``changes`` lists ``{"kind", "target", "before", "after"}``, each state a dict with a
    ``value`` key; ``state`` is ``done`` (undoable), ``undone`` (redoable) or ``dropped``
    (a new action after an undo ends its redo).
    """

    __tablename__ = "history"
    __table_args__ = (Index("ix_history_session_user_state", "session_id", "user_name", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    user_name: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(255), default="")
    changes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(8), default="done")
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime)


class PrincipleScore(Base):
    __tablename__ = "principle_scores"
    __table_args__ = (UniqueConstraint("session_id", "principle"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    principle: Mapped[str] = mapped_column(String(64))
    suggested: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rubric_version: Mapped[str] = mapped_column(String(64), default="")
    confirmed: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    confirmed_by: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    grants: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: teams whose sessions this login sees; ["*"] every team (see ``User.sees_team``)
    teams: Mapped[list[Any] | None] = mapped_column(JSON, default=lambda: ["*"], nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: a practitioner's worker name as sessions record it (None: the login name)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)


class StoreSetting(Base):
    """Store-wide settings an admin changes (retention days) and the pseudonym secret."""

    __tablename__ = "store_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class AuditEntry(Base):
    """Append-only: who did what to which id, when. Never content (text, codes, names)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_name: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Job(Base):
    """A recording waiting for, in, or done with processing (see ``msw_audio.jobs.queue``)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created", "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: queued -> running -> done | failed
    state: Mapped[str] = mapped_column(String(16), default="queued")
    audio_sha256: Mapped[str] = mapped_column(String(64), index=True)
    ext: Mapped[str] = mapped_column(String(8), default="")
    source_name: Mapped[str] = mapped_column(String(255), default="")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    user_name: Mapped[str] = mapped_column(String(255), default="")
    stage: Mapped[str] = mapped_column(String(32), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    session_id: Mapped[str | None] = mapped_column(String(32))


# ---------------------------------------------------------------- coach library, double coding
class ExemplarStar(Base):
    """An evaluator or coach marked one utterance as an exemplar for the coach library."""

    __tablename__ = "exemplar_stars"
    __table_args__ = (UniqueConstraint("session_id", "utterance_id", "user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    utterance_id: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str] = mapped_column(String(255))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BlindAssignment(Base):
    """A second evaluator asked to code a session without seeing the first one's decisions.

    ``finished_at`` None: the pass is open, and every read of that session by ``coder``
    shows only their own codes and scores (``review.double_coding``).
    """

    __tablename__ = "blind_assignments"
    __table_args__ = (UniqueConstraint("session_id", "coder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    coder: Mapped[str] = mapped_column(String(255), index=True)
    assigned_by: Mapped[str] = mapped_column(String(255))
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class BlindCode(Base):
    """The second (blind) coder's code for one utterance; the first coder's stays in
    ``utterances.confirmed_code``."""

    __tablename__ = "blind_codes"
    __table_args__ = (UniqueConstraint("session_id", "utterance_id", "coder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    utterance_id: Mapped[str] = mapped_column(String(64))
    coder: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BlindScore(Base):
    """The second (blind) coder's principle score for one session."""

    __tablename__ = "blind_scores"
    __table_args__ = (UniqueConstraint("session_id", "principle", "coder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    principle: Mapped[str] = mapped_column(String(64))
    coder: Mapped[str] = mapped_column(String(255))
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
