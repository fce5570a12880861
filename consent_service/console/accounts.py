"""Console accounts and their roles. An operator creates sites and accounts and may do
anything; an owner and an editor change a site's settings and policies; an auditor reads and
exports. Passwords are kept only as werkzeug scrypt hashes."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from consent_service.console import activity
from consent_service.errors import ApiError, ValidationFailed
from consent_service.extensions import db
from consent_service.models import ConsoleAccount, ConsoleRole, Site
from consent_service.models.console import CONSOLE_ROLES

OPERATOR = "operator"
ROLES = (*CONSOLE_ROLES, OPERATOR)
#: Roles that may change a site (settings, policies, retries); an auditor only reads.
WRITERS = ("owner", "editor")
MIN_PASSWORD_LENGTH = 12
DEMO_OWNER = "owner@demo.example"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise ValidationFailed({"email": ["Not a valid e-mail address."]})
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            {"password": [f"At least {MIN_PASSWORD_LENGTH} characters, please."]}
        )


def find_account(email: str) -> ConsoleAccount | None:
    return db.session.scalar(
        select(ConsoleAccount).where(ConsoleAccount.email == email.strip().lower())
    )


def get_account(account_id: int) -> ConsoleAccount | None:
    account = db.session.get(ConsoleAccount, account_id)
    return account if account is not None and account.disabled_at is None else None


def create_account(
    email: str,
    password: str,
    role: str,
    site: Site | None = None,
    *,
    actor: ConsoleAccount | None = None,
) -> ConsoleAccount:
    """An account with one role: `operator` (no site), or a role on `site`. An existing account
    gets the role added (its password is left alone). One transaction."""
    if role not in ROLES:
        raise ValidationFailed({"role": [f"One of: {', '.join(ROLES)}."]})
    if (role == OPERATOR) != (site is None):
        message = "An operator has no site." if site else "This role needs a site."
        raise ValidationFailed({"site": [message]})
    email = normalise_email(email)
    account = find_account(email)
    if account is None:
        check_password(password)
        account = ConsoleAccount(
            email=email, password_hash=hash_password(password), is_operator=False
        )
        db.session.add(account)
        db.session.flush()
    if role == OPERATOR:
        account.is_operator = True
    else:
        assert site is not None
        grant = db.session.get(ConsoleRole, (account.id, site.id))
        if grant is None:
            db.session.add(ConsoleRole(account_id=account.id, site_id=site.id, role=role))
        else:
            grant.role = role
    activity.log(
        "account.created",
        account=actor,
        site_id=site.id if site else None,
        email=email,
        role=role,
    )
    db.session.commit()
    return account


def set_password(email: str, password: str) -> ConsoleAccount:
    """A new password for an account whose password is lost (an operator's command line, not
    the console: whoever runs it holds the database). Logged, never the password itself."""
    account = find_account(normalise_email(email))
    if account is None:
        raise ApiError(404, "No console account has this e-mail address.", error="not_found")
    check_password(password)
    account.password_hash = hash_password(password)
    activity.log("account.password_set", email=account.email)
    db.session.commit()
    return account


def role_on(account: ConsoleAccount, site: Site) -> str | None:
    """The account's role on the site: `operator` for operators, None when it has none."""
    if account.is_operator:
        return OPERATOR
    grant = db.session.get(ConsoleRole, (account.id, site.id))
    return grant.role if grant else None


def can_write(role: str | None) -> bool:
    return role in (*WRITERS, OPERATOR)


def visible_sites(account: ConsoleAccount) -> Sequence[tuple[Site, str]]:
    """The sites the account may open, with its role on each."""
    if account.is_operator:
        sites = db.session.scalars(select(Site).order_by(Site.name)).all()
        return [(site, OPERATOR) for site in sites]
    rows = db.session.execute(
        select(Site, ConsoleRole.role)
        .join(ConsoleRole, ConsoleRole.site_id == Site.id)
        .where(ConsoleRole.account_id == account.id)
        .order_by(Site.name)
    ).all()
    return [(row[0], row[1]) for row in rows]


def require(account: ConsoleAccount, site: Site, *, write: bool) -> str:
    """The account's role on the site, or 403 (404 would hide nothing an operator can't see)."""
    role = role_on(account, site)
    if role is None or (write and not can_write(role)):
        raise ApiError(403, "Your role does not allow this.", error="forbidden")
    return role


def ensure_demo_owner(site: Site, email: str = DEMO_OWNER) -> str | None:
    """The demo site's owner account; its new password (None if it existed already)."""
    if find_account(email) is not None:
        return None
    password = secrets.token_urlsafe(16)
    create_account(email, password, "owner", site)
    return password
