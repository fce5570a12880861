"""What every outbox here shares (webhook deliveries, CRM leads): when to try again.

An outbox row is written in the transaction that decided to send it and sent later by a
worker that claims it for a while, so several workers never send the same row at once.
"""

from __future__ import annotations

from datetime import timedelta

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)
#: How long a worker holds a row it took; another may take it after (the first one died).
CLAIM = timedelta(minutes=2)


def backoff(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, at most 6 h between attempts."""
    return min(FIRST_RETRY * (2 ** (max(attempts, 1) - 1)), LONGEST_WAIT)
