"""Leaf format 2: a salted commitment to the evidence stored beside each consent event.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 07:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable and without a default: events recorded before keep format 1 leaves, untouched
    # (adding a nullable column rewrites no row, so the append-only triggers are not involved).
    op.add_column("consent_events", sa.Column("evidence_salt", sa.String(length=64), nullable=True))
    op.add_column(
        "consent_events", sa.Column("evidence_commitment", sa.String(length=64), nullable=True)
    )


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy would lose the append-only triggers.
    op.drop_column("consent_events", "evidence_commitment")
    op.drop_column("consent_events", "evidence_salt")
