"""official warnings: the city's warning the district carries out

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "official_warnings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("response", sa.String(length=8), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.Column("cleared_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("official_warnings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_official_warnings_area"), ["area"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("official_warnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_official_warnings_area"))
    op.drop_table("official_warnings")
