"""Captures of the banner as a scan rendered it, kept by banner version.

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-30 07:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "banner_captures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("banner_version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("page_url", sa.String(length=2048), nullable=False),
        sa.Column("captured_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_banner_captures_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["banner_version_id"],
            ["banner_versions.id"],
            name=op.f("fk_banner_captures_banner_version_id_banner_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banner_captures")),
    )
    with op.batch_alter_table("banner_captures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_banner_captures_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_banner_captures_banner_version_id"), ["banner_version_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("banner_captures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_banner_captures_banner_version_id"))
        batch_op.drop_index(batch_op.f("ix_banner_captures_site_id"))
    op.drop_table("banner_captures")
