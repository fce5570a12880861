"""Data subject requests and their step log; mail messages about a request.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 09:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "subject_requests",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=True),
        sa.Column("address_hash", sa.String(length=64), nullable=True),
        sa.Column("email_encrypted", sa.Text(), nullable=True),
        sa.Column("details_encrypted", sa.Text(), nullable=True),
        sa.Column("confirm_nonce", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("received_at", WHEN, nullable=True),
        sa.Column("due_at", WHEN, nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_subject_requests_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_requests")),
    )
    op.create_index("ix_subject_requests_due", "subject_requests", ["site_id", "status", "due_at"])
    op.create_index("ix_subject_requests_address", "subject_requests", ["site_id", "address_hash"])
    op.create_table(
        "subject_request_steps",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("request_id", BIG_ID, nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["subject_requests.id"],
            name=op.f("fk_subject_request_steps_request_id_subject_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_request_steps")),
    )
    op.create_index(
        op.f("ix_subject_request_steps_request_id"), "subject_request_steps", ["request_id"]
    )
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.alter_column("subscription_id", existing_type=BIG_ID, nullable=True)
        batch_op.add_column(sa.Column("request_id", BIG_ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_mail_messages_request_id_subject_requests"),
            "subject_requests",
            ["request_id"],
            ["id"],
        )
        batch_op.create_index(batch_op.f("ix_mail_messages_request_id"), ["request_id"])


def downgrade():
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_messages_request_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_mail_messages_request_id_subject_requests"), type_="foreignkey"
        )
        batch_op.drop_column("request_id")
    op.execute("DELETE FROM mail_messages WHERE subscription_id IS NULL")
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.alter_column("subscription_id", existing_type=BIG_ID, nullable=False)
    op.drop_index(op.f("ix_subject_request_steps_request_id"), table_name="subject_request_steps")
    op.drop_table("subject_request_steps")
    op.drop_index("ix_subject_requests_address", table_name="subject_requests")
    op.drop_index("ix_subject_requests_due", table_name="subject_requests")
    op.drop_table("subject_requests")
