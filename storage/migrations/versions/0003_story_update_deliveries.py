"""story update deliveries: a delivery has a sequence number per (alert, channel)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint("uq_deliveries_alert_channel", type_="unique")
        batch_op.create_unique_constraint(
            "uq_deliveries_alert_channel_seq", ["alert_id", "channel", "seq"]
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveries_alert_channel_seq", type_="unique")
        batch_op.create_unique_constraint("uq_deliveries_alert_channel", ["alert_id", "channel"])
        batch_op.drop_column("seq")
