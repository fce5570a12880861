"""NeoCRM lead capture: connections, the lead outbox and append-only disclosure records.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:40:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

APPEND_ONLY_POSTGRESQL = """
CREATE OR REPLACE FUNCTION disclosures_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'disclosures is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def upgrade():
    op.create_table(
        "crm_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("auth_url", sa.String(length=2048), nullable=False),
        sa.Column("instance_url", sa.String(length=2048), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("client_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=False),
        sa.Column("field_map", JSON_DOCUMENT, nullable=False),
        sa.Column("fixed", JSON_DOCUMENT, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_crm_connections_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_connections")),
        sa.UniqueConstraint("site_id", name=op.f("uq_crm_connections_site_id")),
    )
    op.create_table(
        "leads",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=True),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        sa.Column("consent_event_id", sa.Uuid(), nullable=False),
        sa.Column("separate_consent_hash", sa.String(length=64), nullable=True),
        sa.Column("field_names", JSON_DOCUMENT, nullable=False),
        sa.Column("fields_encrypted", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("claimed_until", WHEN, nullable=True),
        sa.Column("outcome_unknown", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("crm_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.Column("deleted_at", WHEN, nullable=True),
        sa.Column("erased_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_leads_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint("lead_id", name=op.f("uq_leads_lead_id")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_leads_visitor", ["site_id", "visitor_id"], unique=False)
    op.create_table(
        "disclosures",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", BIG_ID, nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=300), nullable=False),
        sa.Column("recipient_location", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("fields", JSON_DOCUMENT, nullable=False),
        sa.Column("legal_basis", sa.String(length=300), nullable=False),
        sa.Column("consent_event_id", sa.Uuid(), nullable=False),
        sa.Column("separate_consent_hash", sa.String(length=64), nullable=True),
        sa.Column("crm_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_disclosures_lead_id_leads")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_disclosures_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.create_index("ix_disclosures_site", ["site_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disclosures_lead_id"), ["lead_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_POSTGRESQL)
        op.execute(
            "CREATE TRIGGER disclosures_append_only BEFORE UPDATE OR DELETE ON disclosures "
            "FOR EACH ROW EXECUTE FUNCTION disclosures_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER disclosures_no_{operation.lower()} BEFORE {operation} "
                "ON disclosures BEGIN "
                f"SELECT RAISE(ABORT, 'disclosures is append-only: {operation} is not allowed'); END"
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS disclosures_append_only ON disclosures")
        op.execute("DROP FUNCTION IF EXISTS disclosures_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS disclosures_no_update")
        op.execute("DROP TRIGGER IF EXISTS disclosures_no_delete")
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosures_lead_id"))
        batch_op.drop_index("ix_disclosures_site")
    op.drop_table("disclosures")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_visitor")
        batch_op.drop_index("ix_leads_due")
    op.drop_table("leads")
    op.drop_table("crm_connections")
