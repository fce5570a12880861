"""Site forms (lead capture, subscriptions) and consent wordings kept as banner versions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:10:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    op.create_table(
        "site_forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=True),
        sa.Column("fields", JSON_DOCUMENT, nullable=False),
        sa.Column("wording", JSON_DOCUMENT, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_forms_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_forms")),
        sa.UniqueConstraint("site_id", "slug", name=op.f("uq_site_forms_site_id_slug")),
    )
    with op.batch_alter_table("site_forms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_forms_site_id"), ["site_id"], unique=False)
    with op.batch_alter_table("banner_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=80), server_default="banner", nullable=False)
        )


def downgrade():
    # Not a batch copy: on SQLite that drops banner_versions, which consent events reference.
    op.execute("ALTER TABLE banner_versions DROP COLUMN kind")
    with op.batch_alter_table("site_forms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_forms_site_id"))
    op.drop_table("site_forms")
