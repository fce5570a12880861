"""Ledger queue: the events waiting for their seal, filled by a trigger on consent_events.

Before, a seal found waiting events by an anti-join against every ledger entry of the site, a
cost that grew with the ledger. The trigger adds each new event to the queue in the inserting
transaction (so no code path can forget it); sealing deletes what it numbered.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "ledger_queue",
        sa.Column("consent_event_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_event_id"],
            ["consent_events.id"],
            name=op.f("fk_ledger_queue_consent_event_id_consent_events"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_ledger_queue_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("consent_event_id", name=op.f("pk_ledger_queue")),
    )
    with op.batch_alter_table("ledger_queue", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_queue_site_event", ["site_id", "consent_event_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ledger_queue_event() RETURNS trigger AS $$ BEGIN "
            "INSERT INTO ledger_queue (consent_event_id, site_id) VALUES (NEW.id, NEW.site_id); "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER consent_events_queue AFTER INSERT ON consent_events "
            "FOR EACH ROW EXECUTE FUNCTION ledger_queue_event()"
        )
    else:
        op.execute(
            "CREATE TRIGGER consent_events_queue AFTER INSERT ON consent_events BEGIN "
            "INSERT INTO ledger_queue (consent_event_id, site_id) VALUES (NEW.id, NEW.site_id); "
            "END"
        )
    op.execute(
        "INSERT INTO ledger_queue (consent_event_id, site_id) "
        "SELECT e.id, e.site_id FROM consent_events e WHERE NOT EXISTS "
        "(SELECT 1 FROM ledger_entries l WHERE l.consent_event_id = e.id)"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consent_events_queue ON consent_events")
        op.execute("DROP FUNCTION IF EXISTS ledger_queue_event()")
    else:
        op.execute("DROP TRIGGER IF EXISTS consent_events_queue")
    with op.batch_alter_table("ledger_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_queue_site_event")
    op.drop_table("ledger_queue")
