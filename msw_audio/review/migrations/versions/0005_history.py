"""history: the per-session undo/redo journal of review decisions

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-08 10:00:00

One row per reviewer action (a code, a role, a score, a bulk accept, mark reviewed /
reopen), holding each changed target's state before and after, so ``Store.undo`` and
``Store.redo`` work on the server and survive a reload (``msw_audio.review.history``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False, server_default=""),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False, server_default="done"),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"],
                                name=op.f("fk_history_session_id_sessions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history")),
    )
    op.create_index("ix_history_session_user_state", "history",
                    ["session_id", "user_name", "state"])


def downgrade() -> None:
    op.drop_index("ix_history_session_user_state", table_name="history")
    op.drop_table("history")
