"""users.worker (a practitioner's worker name) and store_settings (retention, pseudonym key)

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-02 17:45:00

``users.worker`` links a ``practitioner`` login to the worker name its sessions carry (NULL:
the login name). ``store_settings`` holds store-wide values an admin sets (retention days)
and the per-store secret that keys researchers' pseudonyms (``review/pseudonyms.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker", sa.String(255), nullable=True))
    op.create_table(
        "store_settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_settings")),
    )


def downgrade() -> None:
    op.drop_table("store_settings")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("worker")
