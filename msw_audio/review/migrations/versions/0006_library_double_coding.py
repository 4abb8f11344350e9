"""exemplar_stars, blind_assignments, blind_codes, blind_scores: coach library and blind
double coding

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-10 10:00:00

Every table is owned by a session (``ON DELETE CASCADE``), so erasing a session removes
its stars and its second coder's decisions with it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _session_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["session_id"], ["sessions.id"], ondelete="CASCADE",
        name=f"fk_{table}_session_id_sessions",
    )


def upgrade() -> None:
    op.create_table(
        "exemplar_stars",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("utterance_id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _session_fk("exemplar_stars"),
        sa.PrimaryKeyConstraint("id", name="pk_exemplar_stars"),
        sa.UniqueConstraint("session_id", "utterance_id", "user_name",
                            name="uq_exemplar_stars_session_id"),
    )
    op.create_index("ix_exemplar_stars_session_id", "exemplar_stars", ["session_id"])
    op.create_table(
        "blind_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("coder", sa.String(length=255), nullable=False),
        sa.Column("assigned_by", sa.String(length=255), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        _session_fk("blind_assignments"),
        sa.PrimaryKeyConstraint("id", name="pk_blind_assignments"),
        sa.UniqueConstraint("session_id", "coder", name="uq_blind_assignments_session_id"),
    )
    op.create_index("ix_blind_assignments_session_id", "blind_assignments", ["session_id"])
    op.create_index("ix_blind_assignments_coder", "blind_assignments", ["coder"])
    op.create_table(
        "blind_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("utterance_id", sa.String(length=64), nullable=False),
        sa.Column("coder", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        _session_fk("blind_codes"),
        sa.PrimaryKeyConstraint("id", name="pk_blind_codes"),
        sa.UniqueConstraint("session_id", "utterance_id", "coder",
                            name="uq_blind_codes_session_id"),
    )
    op.create_index("ix_blind_codes_session_id", "blind_codes", ["session_id"])
    op.create_table(
        "blind_scores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("principle", sa.String(length=64), nullable=False),
        sa.Column("coder", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        _session_fk("blind_scores"),
        sa.PrimaryKeyConstraint("id", name="pk_blind_scores"),
        sa.UniqueConstraint("session_id", "principle", "coder",
                            name="uq_blind_scores_session_id"),
    )
    op.create_index("ix_blind_scores_session_id", "blind_scores", ["session_id"])


def downgrade() -> None:
    for table in ("blind_scores", "blind_codes", "blind_assignments", "exemplar_stars"):
        op.drop_table(table)
