"""stations: city and background flag (national publishing platform metadata)

Revision ID: 0007
Revises: 0001
Create Date: 2026-12-01 20:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("city", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("background", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_column("background")
        batch_op.drop_column("city")
