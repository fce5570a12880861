"""Marketing e-mail: subscriptions, suppression list, mail outbox and rate counters.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 11:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    op.create_table(
        "subscriptions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=True),
        sa.Column("email_encrypted", sa.Text(), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("wording_hash", sa.String(length=64), nullable=False),
        sa.Column("confirm_nonce", sa.String(length=32), nullable=True),
        sa.Column("visitor_id", sa.String(length=32), nullable=True),
        sa.Column("consent_event_id", sa.Uuid(), nullable=True),
        sa.Column("withdrawal_event_id", sa.Uuid(), nullable=True),
        sa.Column("proof", JSON_DOCUMENT, nullable=True),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("confirmed_at", WHEN, nullable=True),
        sa.Column("unsubscribed_at", WHEN, nullable=True),
        sa.Column("erased_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_subscriptions_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "site_id",
            "form",
            "address_hash",
            name=op.f("uq_subscriptions_site_id_form_address_hash"),
        ),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_subscriptions_address", ["site_id", "address_hash"], unique=False)
    op.create_table(
        "mail_suppressions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_mail_suppressions_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_suppressions")),
        sa.UniqueConstraint(
            "site_id", "address_hash", name=op.f("uq_mail_suppressions_site_id_address_hash")
        ),
    )
    op.create_table(
        "mail_messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("recipient_encrypted", sa.Text(), nullable=False),
        sa.Column("content_encrypted", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("claimed_until", WHEN, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_mail_messages_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_mail_messages_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_mail_messages_message_id")),
    )
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.create_index("ix_mail_messages_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_messages_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mail_messages_subscription_id"), ["subscription_id"], unique=False
        )
    op.create_table(
        "mail_rate_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_mail_rate_events_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_rate_events")),
    )
    with op.batch_alter_table("mail_rate_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mail_rate_events_key",
            ["site_id", "scope", "key_hash", "created_at"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("mail_rate_events", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_rate_events_key")
    op.drop_table("mail_rate_events")
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_messages_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_mail_messages_site_id"))
        batch_op.drop_index("ix_mail_messages_due")
    op.drop_table("mail_messages")
    op.drop_table("mail_suppressions")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_address")
    op.drop_table("subscriptions")
