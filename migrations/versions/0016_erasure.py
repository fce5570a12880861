"""Erasure that keeps the proof: tombstones, and consent events whose evidence may be erased.

The append-only triggers of consent_events become: no DELETE, no TRUNCATE, and an UPDATE only
when it sets erasable columns (the evidence values and salt, the country) to NULL and names
the tombstone once; every other column, leaf fields above all, must stay as it was.

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-30 09:40:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ERASABLE = ("page_url", "user_agent", "ip_prefix", "client_time", "country", "evidence_salt")
# SQLite has no row-as-a-value: every column that must not change is named (a column added
# later must be added here too; PostgreSQL compares the whole row and needs no list).
KEPT = (
    "id",
    "site_id",
    "event_id",
    "visitor_id",
    "action",
    "choices",
    "policy_version",
    "banner_version",
    "language",
    "source",
    "gpc",
    "recorded_at",
    "evidence_commitment",
    "rule_set",
    "request_hash",
)
MESSAGE = "consent_events is append-only: an UPDATE may only erase evidence"

# The row as it may become (OLD with erasable columns NULLed where NEW has them NULL, and the
# tombstone set once) must be NEW: a row comparison, cheaper than JSON, and it covers every
# column, those added later too.
ERASE_ONLY_POSTGRESQL = f"""
CREATE FUNCTION consent_events_erase_only() RETURNS trigger AS $$
DECLARE
    allowed consent_events%ROWTYPE;
BEGIN
    allowed := OLD;
    {" ".join(f"IF NEW.{name} IS NULL THEN allowed.{name} := NULL; END IF;" for name in ERASABLE)}
    IF OLD.erasure_id IS NULL THEN allowed.erasure_id := NEW.erasure_id; END IF;
    IF NEW IS DISTINCT FROM allowed THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def sqlite_erase_only() -> str:
    allowed = " AND ".join(
        [
            *(f"NEW.{name} IS OLD.{name}" for name in KEPT),
            *(f"(NEW.{name} IS NULL OR NEW.{name} IS OLD.{name})" for name in ERASABLE),
            "(OLD.erasure_id IS NULL OR NEW.erasure_id IS OLD.erasure_id)",
        ]
    )
    return (
        "CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events "
        f"WHEN NOT ({allowed}) BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )


def upgrade():
    op.create_table(
        "erasure_tombstones",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("request_id", BIG_ID, nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.Column("fields", JSON_DOCUMENT, nullable=False),
        sa.Column("counts", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_erasure_tombstones_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["subject_requests.id"],
            name=op.f("fk_erasure_tombstones_request_id_subject_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_tombstones")),
    )
    op.create_index("ix_erasure_tombstones_site", "erasure_tombstones", ["site_id", "id"])
    # Nullable, no default: no row is rewritten, so the triggers are not involved.
    op.add_column("consent_events", sa.Column("erasure_id", BIG_ID, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER consent_events_append_only ON consent_events")
        op.execute(
            "CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events "
            "FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()"
        )
        op.execute(ERASE_ONLY_POSTGRESQL)
        op.execute(
            "CREATE TRIGGER consent_events_erase_only BEFORE UPDATE ON consent_events "
            "FOR EACH ROW EXECUTE FUNCTION consent_events_erase_only()"
        )
    else:
        op.execute("DROP TRIGGER consent_events_no_update")
        op.execute(sqlite_erase_only())


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER consent_events_erase_only ON consent_events")
        op.execute("DROP FUNCTION consent_events_erase_only()")
        op.execute("DROP TRIGGER consent_events_no_delete ON consent_events")
        op.execute(
            "CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events "
            "FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()"
        )
    else:
        op.execute("DROP TRIGGER consent_events_no_update")
        op.execute(
            "CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events BEGIN "
            "SELECT RAISE(ABORT, 'consent_events is append-only: UPDATE is not allowed'); END"
        )
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy would lose the append-only triggers.
    op.drop_column("consent_events", "erasure_id")
    op.drop_index("ix_erasure_tombstones_site", table_name="erasure_tombstones")
    op.drop_table("erasure_tombstones")
