"""transcript corrections: the machine transcript kept, a correction log with undo, flags

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:00:00

* ``sessions.machine``: the transcript as the pipeline made it (utterances with words and
  speakers, turns), kept at the first correction so ``msw-audio accuracy`` can compare it
  with what the evaluator made of it;
* ``utterances.flag``: why a line needs another look (a re-split moved its speaker, a
  confirmed code could not follow it); null when it does not;
* ``corrections``: one row per transcript correction with the exact rows it replaced, so
  "undo" restores them (and survives a reload or a restart).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("machine", sa.JSON(), nullable=True))
    with op.batch_alter_table("utterances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flag", sa.String(length=255), nullable=True))
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after_ids", sa.JSON(), nullable=False),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.Column("undone_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"],
                                name=op.f("fk_corrections_session_id_sessions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    op.create_index("ix_corrections_session", "corrections", ["session_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_corrections_session", table_name="corrections")
    op.drop_table("corrections")
    with op.batch_alter_table("utterances", schema=None) as batch_op:
        batch_op.drop_column("flag")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("machine")
