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
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from consent_service.errors import ApiError
from consent_service.prepared import DriverTransaction

SQLITE_BUSY_TIMEOUT_MS = 15000
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


def configure_engine_options(app: Flask) -> None:
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    options: dict[str, Any] = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


#: A pooled server connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def install_idle_ping(engine: Engine) -> None:
    """Ping a server connection before use only when it sat idle in the pool (after a database
    restart, those are the ones that are dead), not on every checkout as `pool_pre_ping`
    does: under load that was one more round trip per request, a sixth of a consent write's.
    A connection that dies while in use fails its request (503, the banner sends again), and
    SQLAlchemy then drops every pooled connection of that time."""
    if engine.dialect.name == "sqlite":
        return

    @event.listens_for(engine, "checkin")
    def returned(dbapi_connection: Any, connection_record: Any) -> None:
        connection_record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
        returned_at = connection_record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return  # new, or back a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError() from exc  # the pool connects anew and tries again


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


def _writer_path(engine: Any) -> str | None:
    """The SQLite file whose writers queue on a lock file; None for PostgreSQL, an in-memory
    or a URI database (e.g. read-only): SQLite's own locking only."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return str(path)


@contextmanager
def sqlite_writer(engine: Any, needed: Callable[[], bool] | None = None) -> Iterator[None]:
    """Wait for SQLite's single writer slot in a queue that wakes at once, not in SQLite's.

    Two processes writing at once make SQLite's busy handler sleep and retry (1, 2, 5, 10, 25
    ... ms): under load the consent writes spent more time asleep than writing. The hot
    writers (a consent, a sealing batch) first take an exclusive lock on a file beside the
    database (flock, shared by every process on the host) and a thread lock (flock is per
    process); whoever waits is woken the moment it is free. Nothing on PostgreSQL.

    `needed` is asked once this thread has its process's turn: if it answers False (another
    thread's group commit settled this thread's work meanwhile: committed, or failed), the
    body runs holding the thread lock only, not the file lock, so it must not write. A settled
    write then does not wait for the other process's batch only to find it done: that was
    half of all file-lock turns under load."""
    path = _writer_path(engine)
    if path is None:
        yield
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
        if needed is not None and not needed():
            yield
            return
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)


T = TypeVar("T")
#: The most writes one SQLite transaction takes for others: bounds the leader's own wait.
GROUP_COMMIT_MAX = 64


@dataclass
class _Pending:
    work: Callable[[Any], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None


#: Waiting writes per SQLite file and engine: one app's leader never runs another app's work
#: (its settings, e.g. the per-client limit, could differ), though both queue on the file.
_pending: dict[tuple[str, int], deque[_Pending]] = {}


def write_together(engine: Engine, work: Callable[[Any], T], session: Any = None) -> T:
    """Run `work(transaction)` (`Prepared` statements in that transaction, no commit) and
    commit it; answer only once it is durable. Raises what `work` raised, with nothing of it
    written. The transaction is a `DriverTransaction` (no ORM session: it cost more than the
    statements); work that needs the ORM gives its `session`, runs in it and alone.

    On SQLite every commit is an fsync, and writers take turns: under concurrency (threaded
    workers) the commits, not the statements, were the write path's limit. So the thread
    that gets the writer lock runs the work of every thread waiting for it in its own
    transaction and commits once (group commit); each waiting thread then finds its work done.
    If any work of a batch fails, the batch is rolled back and each work runs again alone, so
    one bad write (a replayed event id, a refused client) never costs the others theirs.
    PostgreSQL groups concurrent commits into one WAL flush by itself: there each work is
    simply run and committed by its own thread.
    """
    path = _writer_path(engine)
    mine = _Pending(work)
    if session is not None:
        with sqlite_writer(engine):
            _settle(session, mine)
    elif path is None:
        _open_and_settle(engine, mine)
    else:
        with _registry:
            queue = _pending.setdefault((path, id(engine)), deque())
        queue.append(mine)
        with sqlite_writer(engine, needed=lambda: not mine.done):
            while not mine.done:  # the oldest first: more than a batch may be waiting
                batch = [queue.popleft() for _ in range(min(len(queue), GROUP_COMMIT_MAX))]
                _run_batch(engine, batch)
    if mine.error is not None:
        raise mine.error
    return mine.result


def _open_and_settle(engine: Engine, pending: _Pending) -> None:
    try:
        transaction = DriverTransaction(engine)
    except Exception as exc:  # no connection (the database away): that write's error
        pending.error, pending.done = exc, True
        return
    try:
        _settle(transaction, pending)
    finally:
        transaction.close()


def _run_batch(engine: Engine, batch: list[_Pending]) -> None:
    try:
        if len(batch) > 1:
            transaction = None
            try:
                transaction = DriverTransaction(engine)
                results = [pending.work(transaction) for pending in batch]
                transaction.commit()
            except Exception:
                if transaction is not None:
                    transaction.rollback()
            except BaseException:
                if transaction is not None:
                    transaction.rollback()
                raise
            else:
                for pending, result in zip(batch, results, strict=True):
                    pending.result, pending.done = result, True
                return
            finally:
                if transaction is not None:
                    transaction.close()
        for pending in batch:
            _open_and_settle(engine, pending)
    finally:
        for pending in batch:  # the leader was interrupted (a worker's timeout) before these
            if not pending.done:
                pending.error = ApiError(
                    503,
                    "The write was interrupted; send it again.",
                    error="write_interrupted",
                    headers={"Retry-After": "1"},
                )
                pending.done = True


def _settle(transaction: Any, pending: _Pending) -> None:
    """One work in its own transaction (a `DriverTransaction` or a session: the work's
    statements run in it); its result or error kept in `pending` (an interrupt of this thread
    is not another thread's error: it is raised here)."""
    try:
        pending.result = pending.work(transaction)
        transaction.commit()
    except Exception as exc:
        transaction.rollback()
        pending.error = exc
    except BaseException:
        transaction.rollback()
        raise
    pending.done = True
