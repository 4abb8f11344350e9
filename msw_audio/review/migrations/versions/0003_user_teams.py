"""users.teams: the teams whose sessions a login may see ("*": every team)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:00:00

Existing logins keep seeing every team (``["*"]``), as before the column existed; an admin
scopes them with ``msw-audio user teams NAME --team T``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("teams", sa.JSON(), nullable=True))
    op.execute("UPDATE users SET teams = '[\"*\"]'")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("teams")
