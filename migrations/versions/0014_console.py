"""The console: accounts, roles per site, activity log, sign-in failure counters and the
daily decision counters of the dashboard.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 07:45:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "console_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_operator", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("disabled_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_accounts")),
        sa.UniqueConstraint("email", name=op.f("uq_console_accounts_email")),
    )
    op.create_table(
        "console_roles",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["console_accounts.id"],
            name=op.f("fk_console_roles_account_id_console_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_console_roles_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "site_id", name=op.f("pk_console_roles")),
    )
    op.create_index(op.f("ix_console_roles_site_id"), "console_roles", ["site_id"], unique=False)
    op.create_table(
        "console_activity",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("detail", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["console_accounts.id"],
            name=op.f("fk_console_activity_account_id_console_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_console_activity_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_activity")),
    )
    op.create_index(
        op.f("ix_console_activity_account_id"), "console_activity", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_console_activity_site_id"), "console_activity", ["site_id"], unique=False
    )
    op.create_table(
        "console_signin_failures",
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("window_start", BIG_ID, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "window_start", name=op.f("pk_console_signin_failures")),
    )
    op.create_table(
        "console_daily_counts",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=80), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_console_daily_counts_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "day", "metric", name=op.f("pk_console_daily_counts")),
    )


def downgrade():
    op.drop_table("console_daily_counts")
    op.drop_table("console_signin_failures")
    op.drop_index(op.f("ix_console_activity_site_id"), table_name="console_activity")
    op.drop_index(op.f("ix_console_activity_account_id"), table_name="console_activity")
    op.drop_table("console_activity")
    op.drop_index(op.f("ix_console_roles_site_id"), table_name="console_roles")
    op.drop_table("console_roles")
    op.drop_table("console_accounts")
