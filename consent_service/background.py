"""Periodic work inside a web process (sealing the ledger, delivering webhooks).

A job starts with the first request, that is after gunicorn forked, so no thread or database
connection crosses a fork. Each run gets a fresh app context; an error is logged and the next
run tries again. Several processes and hosts may run the same job: the jobs themselves take
the locks or claims that make that safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask

from consent_service.extensions import db
from consent_service.redact import get_logger

log = get_logger(__name__)


class PeriodicJob:
    def __init__(self, app: Flask, name: str, interval: float, work: Callable[[], object]) -> None:
        self.app = app
        self.name = name
        self.interval = interval
        self.work = work
        self._started = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False

    def stop(self) -> None:
        """Let the thread end after the current run (tests and benchmarks)."""
        self._stopped = True
        self._wake.set()

    def wake(self) -> None:
        """Run now rather than at the end of the interval (new work has just been queued)."""
        self._wake.set()

    def ensure_started(self) -> None:
        if self._started:
            return
        with self._lock:
            if not self._started:
                threading.Thread(target=self._run, name=self.name, daemon=True).start()
                self._started = True

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopped:
                return
            try:
                with self.app.app_context():
                    self.work()
                    db.session.remove()
            except Exception:  # try again next time; the error is logged, not lost
                log.exception("%s failed", self.name)


def wake(app: Flask, name: str) -> None:
    """Wake a job of this app if it runs here (no-op otherwise)."""
    job = app.extensions.get(name)
    if isinstance(job, PeriodicJob):
        job.wake()


def start_with_first_request(
    app: Flask, name: str, interval: float, work: Callable[[], object]
) -> None:
    job = PeriodicJob(app, name, interval, work)
    app.extensions[name] = job
    app.before_request(job.ensure_started)
