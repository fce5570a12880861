"""Signing in: failed attempts are slowed and limited per account and per network, counted
in the database (shared by every worker and host), and every attempt is in the activity log.

The account is counted by a hash of its e-mail, the network by its truncated address
(IPv4 /24, IPv6 /48), so the counters hold nothing personal. A refused attempt never checks
the password, so a guesser learns nothing once over the limit.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import check_password_hash

from consent_service.console import accounts, activity
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import ConsoleAccount, SigninFailureCounter

COUNTERS = SigninFailureCounter.__table__
#: Checked against when the e-mail is unknown, so that both cases cost one scrypt.
DUMMY_HASH = accounts.hash_password("not a password of anybody")


def subjects(email: str, network: str | None) -> dict[str, str]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    found = {"account": f"account:{digest}"}
    if network:
        found["network"] = f"network:{network}"[:80]
    return found


def window_start(now: float) -> int:
    window = max(1, int(current_app.config["CONSOLE_SIGNIN_WINDOW"]))
    return int(now // window) * window


def failures(subject: str, now: float) -> int:
    count = db.session.scalar(
        select(SigninFailureCounter.count).where(
            SigninFailureCounter.subject == subject,
            SigninFailureCounter.window_start == window_start(now),
        )
    )
    return int(count or 0)


def count_failure(subject: str, now: float) -> int:
    start = window_start(now)
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(COUNTERS)
        .values(subject=subject, window_start=start, count=1)
        .on_conflict_do_update(
            index_elements=[COUNTERS.c.subject, COUNTERS.c.window_start],
            set_={"count": COUNTERS.c.count + 1},
        )
        .returning(COUNTERS.c.count)
    )
    count = int(db.session.execute(statement).scalar_one())
    if count == 1:
        db.session.execute(
            delete(SigninFailureCounter).where(
                SigninFailureCounter.subject == subject,
                SigninFailureCounter.window_start < start,
            )
        )
    return count


def sign_in(
    email: str,
    password: str,
    network: str | None,
    *,
    now: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ConsoleAccount:
    """The account for these credentials, or 401; 429 once the account or the network has
    failed too often in the window. Each failure waits a little longer than the last."""
    config = current_app.config
    now = time.time() if now is None else now
    limits = {
        "account": int(config["CONSOLE_SIGNIN_FAILURES_PER_ACCOUNT"]),
        "network": int(config["CONSOLE_SIGNIN_FAILURES_PER_NETWORK"]),
    }
    keys = subjects(email, network)
    if any(failures(subject, now) >= limits[kind] for kind, subject in keys.items()):
        activity.log("signin.refused", reason="too_many_failures")
        db.session.commit()
        raise ApiError(
            429,
            "Too many failed sign-ins; try again later.",
            error="rate_limited",
            headers={"Retry-After": str(int(config["CONSOLE_SIGNIN_WINDOW"]))},
        )
    account = accounts.find_account(email)
    valid = check_password_hash(account.password_hash if account else DUMMY_HASH, password)
    if account is not None and valid and account.disabled_at is None:
        activity.log("signin", account=account)
        db.session.commit()
        return account
    counts = [count_failure(subject, now) for subject in keys.values()]
    activity.log("signin.failed", account=account)
    db.session.commit()
    sleep(min(float(config["CONSOLE_SIGNIN_DELAY"]) * max(counts), 5.0))
    raise ApiError(401, "Wrong e-mail or password.", error="unauthorized")
