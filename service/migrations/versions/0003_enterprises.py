"""enterprises, acknowledgements, key -> enterprise binding, subscription format

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01 20:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enterprises",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("sectors", sa.JSON(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("street", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("credit_code"),
    )
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enterprises_area"), ["area"], unique=False)

    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("moved_to", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["alert_events.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"]),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "enterprise_id"),
    )
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_acknowledgements_event_id"), ["event_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_acknowledgements_enterprise_id"), ["enterprise_id"], unique=False
        )

    # Plain ALTER TABLE ... ADD COLUMN (no batch copy): on SQLite a copy would drop and
    # recreate api_keys, which the subscriptions' foreign keys refer to.
    if op.get_bind().dialect.name == "sqlite":
        # SQLite takes a REFERENCES clause in ADD COLUMN, not a separate constraint
        op.execute(
            "ALTER TABLE api_keys ADD COLUMN enterprise_id INTEGER "
            "CONSTRAINT fk_api_keys_enterprise_id REFERENCES enterprises (id)"
        )
    else:
        op.add_column(
            "api_keys",
            sa.Column(
                "enterprise_id",
                sa.Integer(),
                sa.ForeignKey("enterprises.id", name="fk_api_keys_enterprise_id"),
                nullable=True,
            ),
        )
    op.add_column(
        "subscriptions",
        sa.Column("format", sa.String(length=16), nullable=False, server_default="standard"),
    )
    op.add_column("subscriptions", sa.Column("robot_secret", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("robot_secret")
        batch_op.drop_column("format")
    if op.get_bind().dialect.name == "sqlite":
        # the copy drops api_keys, which subscriptions refer to; with subscriptions stored
        # SQLite still refuses this downgrade (delete them first)
        op.execute("PRAGMA defer_foreign_keys = ON")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        if op.get_bind().dialect.name != "sqlite":  # SQLite's copy drops it with the column
            batch_op.drop_constraint("fk_api_keys_enterprise_id", type_="foreignkey")
        batch_op.drop_column("enterprise_id")
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acknowledgements_enterprise_id"))
        batch_op.drop_index(batch_op.f("ix_acknowledgements_event_id"))
    op.drop_table("acknowledgements")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enterprises_area"))
    op.drop_table("enterprises")
