"""Engine settings per backend.

SQLite runs in WAL mode so readers never wait for the writer, with `synchronous=FULL` by
default: every acknowledged consent is on disk before we answer, which is the point of a proof
of consent (NORMAL would be faster but can lose the last commits on power loss). PostgreSQL
keeps `synchronous_commit` on for the same reason.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 15000
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


def configure_engine_options(app: Flask) -> None:
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    options: dict[str, Any] = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    else:
        options.setdefault("pool_pre_ping", True)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def create_private_file(path: str | None) -> None:
    """Create a new SQLite file readable by its owner only (0600), like the keys beside it;
    SQLite gives its -wal and -shm files the same mode."""
    if not path or path == ":memory:" or path.startswith("file:") or os.path.exists(path):
        return
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        return  # SQLite will say so on first use (503), not the app factory
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def install_sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    if engine.dialect.name != "sqlite":
        return
    create_private_file(engine.url.database)
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError(f"SQLITE_SYNCHRONOUS must be one of {', '.join(SYNCHRONOUS_MODES)}")

    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()


_writer_files: dict[str, int] = {}
_writer_threads: dict[str, threading.Lock] = {}
_registry = threading.Lock()


@contextmanager
def sqlite_writer(engine: Any) -> Iterator[None]:
    """Wait for SQLite's single writer slot in a queue that wakes at once, not in SQLite's.

    Two processes writing at once make SQLite's busy handler sleep and retry (1, 2, 5, 10, 25
    ... ms): under load the consent writes spent more time asleep than writing. The hot
    writers (a consent, a sealing batch) first take an exclusive lock on a file beside the
    database (flock, shared by every process on the host) and a thread lock (flock is per
    process); whoever waits is woken the moment it is free. Nothing on PostgreSQL."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield  # an in-memory or URI database (e.g. read-only): SQLite's own locking only
        return
    with _registry:
        if path not in _writer_files:
            try:
                _writer_files[path] = os.open(f"{path}.writer", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                _writer_files[path] = -1  # a folder we cannot write: SQLite will say so
            _writer_threads[path] = threading.Lock()
        descriptor, thread_lock = _writer_files[path], _writer_threads[path]
    if descriptor < 0:
        yield
        return
    with thread_lock:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
