"""Region rules: a site's rule sets per region and its re-ask delay after a refusal; the rule
set a banner version was drawn under and the one a consent event was given under.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 08:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    # Plain ADD COLUMN, not batch mode: a batch copy of `sites` would cascade to its children,
    # and consent_events is append-only (its triggers refuse the copy's deletes).
    op.add_column(
        "sites",
        sa.Column("regions", JSON_DOCUMENT, server_default=sa.text("'{}'"), nullable=False),
    )
    op.add_column(
        "sites",
        sa.Column("reask_after_reject_days", sa.Integer(), server_default="182", nullable=False),
    )
    op.add_column("banner_versions", sa.Column("rule_set", sa.String(length=20), nullable=True))
    op.add_column("consent_events", sa.Column("rule_set", sa.String(length=20), nullable=True))


def downgrade():
    op.drop_column("consent_events", "rule_set")
    op.drop_column("banner_versions", "rule_set")
    op.drop_column("sites", "reask_after_reject_days")
    op.drop_column("sites", "regions")
