"""Foundation: sites, categories, services, policy and banner versions, consent events, tokens.

Consent events are append-only; besides the application never updating or deleting them,
triggers make both databases refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on them.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:45:52.455806

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# revision identifiers, used by Alembic.
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("allowed_origins", JSON_DOCUMENT, nullable=False),
        sa.Column("default_locale", sa.String(length=16), nullable=False),
        sa.Column("lifetime_days", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("honour_gpc", sa.Boolean(), nullable=False),
        sa.Column("cookie_name", sa.String(length=64), nullable=False),
        sa.Column("texts", JSON_DOCUMENT, nullable=False),
        sa.Column("consent_mode", JSON_DOCUMENT, nullable=False),
        sa.Column("ga4_measurement_id", sa.String(length=32), nullable=True),
        sa.Column("ga4_mode", sa.String(length=16), nullable=False),
        sa.Column("banner_version_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sites_site_key"), ["site_key"], unique=True)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_api_tokens_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_site_id"), ["site_id"], unique=False)

    op.create_table(
        "banner_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("canonical_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_banner_versions_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banner_versions")),
        sa.UniqueConstraint("site_id", "sha256", name=op.f("uq_banner_versions_site_id_sha256")),
    )
    with op.batch_alter_table("banner_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_banner_versions_site_id"), ["site_id"], unique=False)

    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("necessary", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("texts", JSON_DOCUMENT, nullable=False),
        sa.Column("gpc_opt_out", sa.Boolean(), nullable=False),
        sa.Column("consent_mode_signals", JSON_DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_categories_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("site_id", "slug", name=op.f("uq_categories_site_id_slug")),
    )
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_categories_site_id"), ["site_id"], unique=False)

    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("material", sa.Boolean(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_policy_versions_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("site_id", "label", name=op.f("uq_policy_versions_site_id_label")),
    )
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_versions_site_id"), ["site_id"], unique=False)

    op.create_table(
        "consent_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("choices", JSON_DOCUMENT, nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("banner_version", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("gpc", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("page_url", sa.String(length=2048), nullable=True),
        sa.Column("ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id", "banner_version"],
            ["banner_versions.site_id", "banner_versions.sha256"],
            name="fk_consent_events_banner_version",
        ),
        sa.ForeignKeyConstraint(
            ["site_id", "policy_version"],
            ["policy_versions.site_id", "policy_versions.label"],
            name="fk_consent_events_policy_version",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_consent_events_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
        sa.UniqueConstraint("site_id", "event_id", name=op.f("uq_consent_events_site_id_event_id")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_events_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            "ix_consent_events_visitor", ["site_id", "visitor_id", "id"], unique=False
        )

    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=300), nullable=False),
        sa.Column("privacy_policy_url", sa.String(length=2048), nullable=True),
        sa.Column("storage_location", sa.String(length=200), nullable=False),
        sa.Column("cross_border", sa.Boolean(), nullable=False),
        sa.Column("third_party", sa.Boolean(), nullable=False),
        sa.Column("cookies", JSON_DOCUMENT, nullable=False),
        sa.Column("texts", JSON_DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_services_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_services_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("site_id", "slug", name=op.f("uq_services_site_id_slug")),
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_services_site_id"), ["site_id"], unique=False)

    create_append_only_triggers()


APPEND_ONLY_POSTGRESQL = """
CREATE FUNCTION consent_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def create_append_only_triggers():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_POSTGRESQL)
        op.execute(
            "CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events "
            "FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION consent_events_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER consent_events_no_{operation.lower()} BEFORE {operation} "
                "ON consent_events BEGIN "
                f"SELECT RAISE(ABORT, 'consent_events is append-only: {operation} is not allowed'); END"
            )


def drop_append_only_triggers():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consent_events_no_truncate ON consent_events")
        op.execute("DROP TRIGGER IF EXISTS consent_events_append_only ON consent_events")
        op.execute("DROP FUNCTION IF EXISTS consent_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS consent_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS consent_events_no_delete")


def downgrade():
    drop_append_only_triggers()
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_site_id"))

    op.drop_table("services")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_events_visitor")
        batch_op.drop_index(batch_op.f("ix_consent_events_site_id"))

    op.drop_table("consent_events")
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_versions_site_id"))

    op.drop_table("policy_versions")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_categories_site_id"))

    op.drop_table("categories")
    with op.batch_alter_table("banner_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_banner_versions_site_id"))

    op.drop_table("banner_versions")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_site_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sites_site_key"))

    op.drop_table("sites")
