"""What a consent write cannot cost less than on this machine, and the ratio to hello-world
that allows: the floor under `bench/api.py`'s write row, measured in the same minutes.

A write that keeps the service's guarantees does at least this, whatever the code around it:
the HTTP request and answer through gunicorn (what a hello-world request costs there beyond
its own Flask view), the service's INSERT and a COMMIT on the bare driver connection (durable
before the answer), the signed receipt and the visitor token it answers with, and its share
of sealing (leaf hash, tree, signed checkpoint). Each is measured alone in CPU time: the
process's own, plus on PostgreSQL the database server's (every `postgres` process on this
machine, so run it on a quiet one). Beside the floor it prints what a hello-world request and
a real write cost the gunicorn workers (and the server) under wrk, the same settings as
`bench/api.py`, and the ratio the floor allows: when both run at 0 % idle, writes/s over
hello-world/s can be at most hello-world's CPU per request over the write's.

    python bench/floor.py [--only sqlite|postgresql] [--writes 3000] [--seconds 6] [--rounds 2]

Needs wrk (`apt-get install wrk`) and PostgreSQL at TEST_POSTGRES_URL for the PostgreSQL part.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from api import BENCH_APP_ENV, gunicorn, wait_until_sealed, wrk
from inprocess import call, environ, requests, time_loop
from support import ROOT, backend, prepare_database

TICK = os.sysconf("SC_CLK_TCK")
WORKER = ("--worker-class", "gthread", "--threads", "4")  # bench/api.py's default


def cpu_of(pids: list[int]) -> float:
    """Seconds of CPU the processes used, with the children they have reaped."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone: its time is in its parent's reaped children
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / TICK


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def serving(port: int) -> list[int]:
    """gunicorn's arbiter and workers serving on `port` (the workers share its command line)."""
    bind = f"127.0.0.1:{port}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if bind in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class Clock:
    """CPU seconds spent by this process and by the database server between start and stop."""

    def __init__(self, database: str) -> None:
        self.database = database

    def __enter__(self) -> Clock:
        self.own, self.server = time.process_time(), self._server()
        return self

    def __exit__(self, *exc: object) -> None:
        self.own = time.process_time() - self.own
        self.server = self._server() - self.server

    def _server(self) -> float:
        return cpu_of(pids_named("postgres")) if self.database == "postgresql" else 0.0


def durable_inserts(app: Any, database: str, template: dict[str, Any], count: int) -> Clock:
    """`count` writes of the service's own INSERT and a COMMIT each on the bare driver
    connection: nothing else a write does."""
    from consent_service.consents.decisions import INSERT_EVENT
    from consent_service.extensions import db
    from consent_service.prepared import DriverTransaction

    rows = [
        {**template, "event_id": uuid.uuid4(), "visitor_id": uuid.uuid4().hex} for _ in range(count)
    ]
    with app.app_context():
        transaction = DriverTransaction(db.engine)
        try:
            with Clock(database) as clock:
                for row in rows:
                    INSERT_EVENT.execute(transaction, row).close()
                    transaction.commit()
        finally:
            transaction.close()
    return clock


def receipts(app: Any, event: Any, site_key: str, count: int) -> float:
    """CPU seconds of `count` signed receipts and visitor tokens for one event."""
    from consent_service.ledger.records import event_record, issue_receipt
    from consent_service.ledger.signing import current_key
    from consent_service.tokens import issue_visitor_token

    with app.app_context():
        key = current_key()
        started = time.process_time()
        for _ in range(count):
            issue_receipt(event_record(event, site_key), key)
            issue_visitor_token(site_key, event.visitor_id)
        return time.process_time() - started


def sealing(app: Any, database: str, site_key: str, count: int) -> tuple[Clock, int]:
    """Seal a backlog of `count` fresh events as `ledger seal` does (the app's batch sizes)."""
    from ledger import child_seed

    from consent_service.extensions import db
    from consent_service.ledger.sealing import seal_all

    with app.app_context():
        child_seed(site_key, count)
        db.session.commit()
        with Clock(database) as clock:
            sealed = sum(result.sealed for result in seal_all())
    return clock, sealed


def under_wrk(url: str, seconds: int, database: str, **options: Any) -> dict[str, float]:
    """rps, and CPU ms per request of the server's processes (and the database server)."""
    pids = serving(int(url.rsplit(":", 1)[1].split("/", 1)[0]))
    before, server = cpu_of(pids), Clock(database)
    with server:
        figures = wrk(url, seconds, 16, **options)
    done = figures["rps"] * seconds
    return {
        "rps": figures["rps"],
        "workers": 1000 * (cpu_of(pids) - before) / done,
        "server": 1000 * server.server / done,
    }


def run(name: str, args: argparse.Namespace) -> None:
    with backend(name) as env:
        site = prepare_database(env)
        os.environ.update({**env, "LEDGER_AUTOSEAL": "0"})
        from consent_service import create_app

        app = create_app()
        from hello_app import app as hello

        write = requests(app, site)["write"]
        say_hello: Callable[[], dict[str, Any]] = lambda: environ("GET", "/hello")  # noqa: E731
        template, event = first_event(app, write)
        post = {
            "script": str(ROOT / "bench" / "consent_post.lua"),
            "env": {
                "SITE_PATH": f"/api/v1/sites/{site['site_key']}/consents",
                "POLICY": site["policy"],
                "BANNER": site["banner"],
            },
        }
        rounds: list[dict[str, float]] = []
        for _ in range(args.rounds):
            figures: dict[str, float] = {}
            with served(env) as (hello_url, app_url):  # stopped before the parts in process
                measured = under_wrk(hello_url, args.seconds, name)
                figures["hello rps"], figures["hello"] = measured["rps"], measured["workers"]
                measured = under_wrk(app_url, args.seconds, name, **post)
                figures["write rps"] = measured["rps"]
                figures["write"] = measured["workers"] + measured["server"]
            figures["hello in process"] = time_loop(hello, say_hello, args.writes, "200")[1]
            figures["write in process"] = time_loop(app, write, args.writes, "201")[1]
            clock = durable_inserts(app, name, template, args.writes)
            figures["insert"] = 1000 * (clock.own + clock.server) / args.writes
            figures["insert server"] = 1000 * clock.server / args.writes
            seconds = receipts(app, event, site["site_key"], args.writes)
            figures["receipt"] = 1000 * seconds / args.writes
            clock, sealed = sealing(app, name, site["site_key"], args.writes)
            figures["seal"] = 1000 * (clock.own + clock.server) / sealed
            figures["seal server"] = 1000 * clock.server / sealed
            rounds.append(figures)
        with app.app_context():
            from consent_service.extensions import db

            db.engine.dispose()  # before the database is dropped
    report(name, rounds)


def first_event(app: Any, write: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    """One real write: its stored row (the template of the bare inserts) and the event."""
    from consent_service.consents.decisions import EVENT_COLUMNS
    from consent_service.extensions import db
    from consent_service.models import ConsentEvent

    assert call(app, write()).startswith("201")
    with app.app_context():
        event = db.session.scalars(db.select(ConsentEvent).order_by(ConsentEvent.id)).first()
        assert event is not None
        row = {key: getattr(event, key) for key in EVENT_COLUMNS}
        db.session.expunge(event)
        db.session.rollback()
    return {**row, "webhook_site_id": row["site_id"]}, event


@contextmanager
def served(env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """hello-world and the service (sealing every second, as in bench/api.py) under gunicorn,
    each warmed up; the service's sealer has sealed what its run wrote when they stop."""
    app_env = {**env, **BENCH_APP_ENV}
    with (
        gunicorn("hello_app:app", {}, ROOT / "bench", worker=WORKER) as hello_base,
        gunicorn("wsgi:app", app_env, ROOT, worker=WORKER) as app_base,
    ):
        wrk(hello_base + "/hello", 2, 16)
        wrk(app_base + "/healthz", 2, 16)
        yield hello_base + "/hello", app_base
        wait_until_sealed(env)


def report(name: str, rounds: list[dict[str, float]]) -> None:
    def median(key: str) -> float:
        return statistics.median(figures[key] for figures in rounds)

    http = median("hello") - median("hello in process")
    floor = http + median("insert") + median("receipt") + median("seal")
    measured = median("write rps") / median("hello rps")
    server, process = "database server {:.3f}".format, "in process {:.3f}".format
    lines = [
        ("hello-world through gunicorn", median("hello"), process(median("hello in process"))),
        ("consent write through gunicorn", median("write"), process(median("write in process"))),
        ("floor: HTTP and gunicorn", http, "hello-world's, less its own view"),
        ("floor: INSERT + COMMIT (driver)", median("insert"), server(median("insert server"))),
        ("floor: signed receipt + token", median("receipt"), ""),
        ("floor: sealing, per event", median("seal"), server(median("seal server"))),
        ("floor of a write", floor, ""),
    ]
    print(f"{name}: CPU ms per request, median of {len(rounds)} rounds (worker + database server)")
    for label, value, note in lines:
        print(f"  {label:<34}{value:>7.3f}  {note}")
    print(
        f"  writes/hello-world: measured {measured:.2f} (wrk), by CPU "
        f"{median('hello') / median('write'):.2f}; the floor allows at most "
        f"{median('hello') / floor:.2f}"
    )
    room = 2 * median("hello") - floor  # at 0.5, a write may cost twice hello-world's CPU
    print(
        f"  at half of hello-world a write may cost {room:.3f} ms beyond the floor "
        f"(validation, evidence, JSON, transaction, threads); it costs "
        f"{median('write') - floor:.3f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument("--writes", type=int, default=3000, help="per measured part and round")
    parser.add_argument("--seconds", type=int, default=6, help="of each wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.only:
        run(args.only, args)
        return
    for name in ("sqlite", "postgresql"):  # one app per process, as bench/inprocess.py
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", name], check=True)


if __name__ == "__main__":
    main()
