"""Statements compiled once per dialect and run on the driver's own cursor, inside the
session's transaction or a `DriverTransaction`.

For the consent write only: there SQLAlchemy's per-statement machinery (the cache lookup,
the execution context, the result object) cost more than the statements themselves. What a
statement stores is exactly what the same Core statement stores through SQLAlchemy: the
column types' own bind processors convert the values (a test compares rows written both
ways), and a driver's error becomes SQLAlchemy's (IntegrityError, OperationalError), so
callers and the error handlers see what they always saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import scoped_session
from sqlalchemy.sql.expression import ClauseElement

from consent_service.extensions import db


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    #: Per parameter, in the driver's order: (name, its type's bind processor or None, the
    #: value the statement itself carries, e.g. `active = true`, or None).
    parameters: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]


def transaction_connection(session: Any) -> Any:
    """The connection of the session's transaction (begun if need be), looked up once per
    transaction: the session's own lookup cost as much as a statement."""
    own = session() if isinstance(session, scoped_session) else session
    transaction = own.get_transaction()
    known = own.info.get(_CONNECTION)
    if transaction is not None and known is not None and known[0] is transaction:
        return known[1]
    connection = own.connection()
    own.info[_CONNECTION] = (own.get_transaction(), connection)
    return connection


_CONNECTION = "prepared.connection"


class DriverTransaction:
    """One transaction straight on a pooled driver connection, without an ORM session.

    For the consent write: opening a Session's transaction, committing and closing it cost a
    tenth of a SQLite write and a sixth of a PostgreSQL one, more than its statements. Only
    `Prepared` statements run here. `commit` and `rollback` end the transaction, `close` gives
    the connection back to the pool (whose reset rolls back whatever was left open). A lost
    connection is handled as SQLAlchemy does: it and every pooled connection of its time are
    dropped, and the error is SQLAlchemy's (OperationalError: the error handlers answer 503).
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.pooled = engine.raw_connection()
        self.driver = self.pooled.dbapi_connection

    def commit(self) -> None:
        try:
            self.driver.commit()
        except self.dialect.loaded_dbapi.Error as exc:
            raise self.translated(exc, "COMMIT", None, many=False) from exc

    def rollback(self) -> None:
        if not self.pooled.is_valid:  # invalidated (lost): nothing to roll back
            return
        try:
            self.driver.rollback()
        except self.dialect.loaded_dbapi.Error as exc:
            self.translated(exc, "ROLLBACK", None, many=False)  # a lost one is dropped

    def close(self) -> None:
        self.pooled.close()

    def _invalidate(self, exc: Exception) -> None:
        self.engine.pool._invalidate(self.pooled, exc)  # invalidates (and checks in) this one

    def translated(self, exc: Exception, sql: str, parameters: Any, many: bool) -> Any:
        """SQLAlchemy's error for the driver's `exc` (a DBAPIError: OperationalError, ...)."""
        lost = self.dialect.is_disconnect(exc, self.driver, None)
        if lost and self.pooled.is_valid:  # as SQLAlchemy does: every connection of that
            self._invalidate(exc)  # time is stale
        return DBAPIError.instance(
            sql,
            parameters,
            exc,
            self.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=self.dialect,
            ismulti=many,
            hide_parameters=self.engine.hide_parameters,
        )


class _SessionTransaction(DriverTransaction):
    """The driver connection of a session's transaction, with `translated` as above."""

    def __init__(self, session: Any) -> None:
        self.connection = transaction_connection(session)
        self.engine = self.connection.engine
        self.dialect = self.connection.dialect
        self.pooled = self.connection.connection
        self.driver = self.pooled.dbapi_connection

    def _invalidate(self, exc: Exception) -> None:
        self.engine.pool._invalidate(self.pooled, exc, _checkin=False)
        self.connection.invalidate(exc)  # the Connection invalidates its own pooled one


class Prepared:
    """One Core statement; `execute` and `executemany` take the values by column key.

    `keys`: the columns an INSERT or UPDATE sets (the others keep their server defaults).
    Python-side column defaults are not run here: a statement that would need one is refused
    when it is first compiled, so the caller gives that value itself.
    """

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self._by_dialect: dict[int, _Compiled] = {}

    def _compiled(self, dialect: Any) -> _Compiled:
        compiled = self._by_dialect.get(id(dialect))
        if compiled is None:
            form: Any = self.statement.compile(dialect=dialect, column_keys=self.keys)
            needs_defaults = [*form.insert_prefetch, *form.update_prefetch]
            if needs_defaults:
                names = ", ".join(column.key for column in needs_defaults)
                raise ValueError(f"give these values, their defaults are not run: {names}")
            positional = bool(dialect.positional)
            names = form.positiontup if positional else form.binds
            parameters = []
            for name in names:
                bind = form.binds[name]
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                carried = None if bind.required else bind.effective_value
                parameters.append((name, processor, carried))
            compiled = _Compiled(form.string, positional, tuple(parameters))
            self._by_dialect[id(dialect)] = compiled  # its types' processors are its own
        return compiled

    @staticmethod
    def _parameters(compiled: _Compiled, values: dict[str, Any]) -> Any:
        converted = []
        for name, processor, carried in compiled.parameters:
            value = values.get(name, carried)
            converted.append(value if processor is None or value is None else processor(value))
        if compiled.positional:
            return converted
        return {
            name: value for (name, _, _), value in zip(compiled.parameters, converted, strict=True)
        }

    def execute(self, into: Any, values: dict[str, Any]) -> Any:
        """Run once with `values` in `into` (a session or a `DriverTransaction`; None: the
        app's session); the driver's cursor (rows of a RETURNING to fetch)."""
        return self._run(into, [values], many=False)

    def executemany(self, into: Any, rows: Sequence[dict[str, Any]]) -> None:
        self._run(into, rows, many=True).close()

    def _run(self, into: Any, rows: Sequence[dict[str, Any]], many: bool) -> Any:
        if isinstance(into, DriverTransaction):
            transaction = into
        else:
            transaction = _SessionTransaction(db.session if into is None else into)
        compiled = self._compiled(transaction.dialect)
        cursor = transaction.driver.cursor()
        parameters = [self._parameters(compiled, row) for row in rows]
        try:
            if many:
                cursor.executemany(compiled.sql, parameters)
            else:
                cursor.execute(compiled.sql, parameters[0])
        except transaction.dialect.loaded_dbapi.Error as exc:
            cursor.close()
            shown = parameters if many else parameters[0]
            raise transaction.translated(exc, compiled.sql, shown, many) from exc
        return cursor
