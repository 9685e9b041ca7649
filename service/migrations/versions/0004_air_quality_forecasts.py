"""air-quality model forecasts beside the weather forecasts

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01 21:10:00

CAMS forecasts (through the Open-Meteo air-quality API) are stored in met_forecasts like
weather forecasts: one nullable column per forecast pollutant, ug/m3.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ["aq_pm25", "aq_pm10", "aq_o3", "aq_no2"]


def upgrade() -> None:
    with op.batch_alter_table("met_forecasts", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("met_forecasts", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
