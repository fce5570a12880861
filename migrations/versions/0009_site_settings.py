"""Site settings documents: locales, a shared cookie domain, the settings hash, richer services
and the append-only history of applied settings.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 07:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    # Plain ADD COLUMN, not batch mode: on SQLite a batch copy drops and recreates `sites`,
    # and dropping a parent table would cascade to its children.
    op.add_column(
        "sites",
        sa.Column("locales", JSON_DOCUMENT, server_default=sa.text("'[]'"), nullable=False),
    )
    op.add_column("sites", sa.Column("cookie_domain", sa.String(length=253), nullable=True))
    op.add_column("sites", sa.Column("settings_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "services", sa.Column("position", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "services",
        sa.Column("details", JSON_DOCUMENT, server_default=sa.text("'{}'"), nullable=False),
    )
    op.create_table(
        "settings_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("hash_before", sa.String(length=64), nullable=True),
        sa.Column("hash_after", sa.String(length=64), nullable=False),
        sa.Column("banner_version", sa.String(length=64), nullable=False),
        sa.Column("banner_changed", sa.Boolean(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_settings_changes_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settings_changes")),
    )
    with op.batch_alter_table("settings_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settings_changes_site_id"), ["site_id"], unique=False)


def downgrade():
    with op.batch_alter_table("settings_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settings_changes_site_id"))
    op.drop_table("settings_changes")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), for the same reason as in upgrade.
    for table, column in (
        ("services", "details"),
        ("services", "position"),
        ("sites", "settings_hash"),
        ("sites", "cookie_domain"),
        ("sites", "locales"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
