"""families, family_goals, goal_ratings, family_feedback (the family's voice) and
supervision_scores (a person's confirmed supervision rubric scores)

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-02 18:00:00

New tables only (nothing existing changes), so every store upgrades in place. Goals,
ratings and feedback cascade from their family (erasure is one delete); supervision scores
cascade from their session.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "families",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("team", sa.String(length=255), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_families")),
        sa.UniqueConstraint("pseudonym", name=op.f("uq_families_pseudonym")),
        sa.UniqueConstraint("token", name=op.f("uq_families_token")),
    )
    op.create_table(
        "family_goals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("set_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], ondelete="CASCADE",
            name=op.f("fk_family_goals_family_id_families"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_goals")),
    )
    op.create_index("ix_family_goals_family", "family_goals", ["family_id", "number"],
                    unique=True)
    op.create_table(
        "goal_ratings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("occasion", sa.String(length=16), nullable=False),
        sa.Column("rated_on", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("entered_by", sa.String(length=255), nullable=False),
        sa.Column("entered_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["goal_id"], ["family_goals.id"], ondelete="CASCADE",
            name=op.f("fk_goal_ratings_goal_id_family_goals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_ratings")),
    )
    op.create_index("ix_goal_ratings_goal", "goal_ratings", ["goal_id"])
    op.create_table(
        "family_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("visit_on", sa.Date(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("measures_version", sa.String(length=32), nullable=False),
        sa.Column("entered_by", sa.String(length=255), nullable=False),
        sa.Column("entered_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], ondelete="CASCADE",
            name=op.f("fk_family_feedback_family_id_families"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_feedback")),
    )
    op.create_index("ix_family_feedback_family", "family_feedback", ["family_id"])
    op.create_table(
        "supervision_scores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("dimension", sa.String(length=64), nullable=False),
        sa.Column("confirmed", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("rubric_version", sa.String(length=64), nullable=False),
        sa.Column("confirmed_by", sa.String(length=255), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], ondelete="CASCADE",
            name=op.f("fk_supervision_scores_session_id_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_scores")),
        sa.UniqueConstraint("session_id", "dimension", name="uq_supervision_scores_session"),
    )


def downgrade() -> None:
    op.drop_table("supervision_scores")
    op.drop_index("ix_family_feedback_family", table_name="family_feedback")
    op.drop_table("family_feedback")
    op.drop_index("ix_goal_ratings_goal", table_name="goal_ratings")
    op.drop_table("goal_ratings")
    op.drop_index("ix_family_goals_family", table_name="family_goals")
    op.drop_table("family_goals")
    op.drop_table("families")
