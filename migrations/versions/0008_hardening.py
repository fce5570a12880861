"""Hardening: per-client consent write counters, and failed exports marked as such.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 07:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "consent_write_counters",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("window_start", BIG_ID, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_consent_write_counters_site_id_sites")
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "client", "window_start", name=op.f("pk_consent_write_counters")
        ),
    )
    with op.batch_alter_table("audit_exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", WHEN, nullable=True))


def downgrade():
    with op.batch_alter_table("audit_exports", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
    op.drop_table("consent_write_counters")
