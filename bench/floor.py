"""What a consent write costs at least, done as the service does it today, and the ratio to
hello-world that allows: the floor under `bench/api.py`'s write row, measured in the same
minutes.

Any write that keeps the service's guarantees does this, whatever the code around it: the
HTTP request and answer through gunicorn (what a hello-world request costs there beyond its
own Flask view), the service's INSERT and its share of a COMMIT on the bare driver connection
(durable before the answer; on SQLite a commit per four inserts, the group commit of a
worker's four threads), the signed receipt and the visitor token it answers with, and its
share of sealing (leaf hash, tree, signed checkpoint) as the service seals today. Each part is
measured alone in CPU time: the process's own, plus on PostgreSQL the database server's
(every `postgres` process on this machine: run it on a quiet one, with PostgreSQL local).

Beside the floor it prints what a hello-world request and a real write cost gunicorn's workers
(and the database server) under wrk, with the same settings as `bench/api.py` and the app
sealing every second, and what the whole machine spent per request (wrk and the kernel's
loopback work included). When both run at 0 % idle, writes/s over hello-world/s is the
machine's CPU per hello-world request over its CPU per write; with the write at its floor,
and what wrk and the kernel spend per request taken from hello-world's run, that is the most
the floor allows.

    python bench/floor.py [--only sqlite|postgresql] [--writes 3000] [--seconds 6] [--rounds 3]

Needs wrk (`apt-get install wrk`) and PostgreSQL at TEST_POSTGRES_URL for the PostgreSQL part.
"""

from __future__ import annotations

import os
import sys

# This checkout's package, not an installed copy (gunicorn serves the checkout too).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import functools
import shutil
import statistics
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from api import BENCH_APP_ENV, gunicorn, wait_until_sealed, wrk
from flask import Flask
from inprocess import call, environ, requests, time_loop
from support import ROOT, backend, prepare_database

TICK = os.sysconf("SC_CLK_TCK")
#: bench/api.py's default worker, for the app and hello-world alike.
WORKER = ("--worker-class", "gthread", "--threads", "4")
#: On SQLite a worker's four threads commit together (database.write_together).
SQLITE_WRITES_PER_COMMIT = 4


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


def machine_busy() -> float:
    """Seconds of CPU the whole machine spent working, over all cores."""
    line = Path("/proc/stat").read_text().split("\n", 1)[0]
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in line.split()[1:8])
    return (user + nice + system + irq + softirq) / TICK  # not steal: another guest's time


def pids_named(name: str) -> list[int]:
    """Every process whose command name is `name` (PostgreSQL's: `postgres`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def gunicorn_processes(port: int) -> list[int]:
    """gunicorn's arbiter serving on `port` (the process with it on its command line whose
    parent has not) and the arbiter's two workers."""
    bind = f"127.0.0.1:{port}".encode()
    parents: dict[int, int] = {}
    binding: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            parents[int(entry.name)] = int(status.split("PPid:", 1)[1].split()[0])
            if bind in command:
                binding.add(int(entry.name))
    arbiter = next(pid for pid in binding if parents[pid] not in binding)
    workers = [pid for pid, parent in parents.items() if parent == arbiter]
    if len(workers) != 2:
        raise RuntimeError(f"gunicorn on port {port}: {len(workers)} workers, not 2")
    return [arbiter, *workers]


class Clock:
    """CPU seconds spent by this process (`own_seconds`) and by the database server
    (`server_seconds`, PostgreSQL only) between entering and leaving it."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.own_seconds = self.server_seconds = 0.0

    def __enter__(self) -> Clock:
        self._own, self._server = time.process_time(), self._server_now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.own_seconds = time.process_time() - self._own
        self.server_seconds = self._server_now() - self._server

    def _server_now(self) -> float:
        if self.database != "postgresql":
            return 0.0
        servers = pids_named("postgres")
        if not servers:
            raise RuntimeError("no postgres process here: the server's CPU cannot be read")
        return cpu_of(servers)


def ms_per_item(clock: Clock, count: int) -> tuple[float, float]:
    """(all, of it the database server's) milliseconds of CPU per item."""
    return (
        1000 * (clock.own_seconds + clock.server_seconds) / count,
        1000 * clock.server_seconds / count,
    )


def durable_inserts(
    app: Flask, database: str, template: dict[str, Any], count: int
) -> tuple[float, float]:
    """`count` runs of the service's own INSERT on the bare driver connection, committed as
    the service commits them (alone on PostgreSQL, four together on SQLite): nothing else."""
    from consent_service.consents.decisions import INSERT_EVENT
    from consent_service.extensions import db
    from consent_service.prepared import DriverTransaction

    together = SQLITE_WRITES_PER_COMMIT if database == "sqlite" else 1
    rows = [
        {**template, "event_id": uuid.uuid4(), "visitor_id": uuid.uuid4().hex} for _ in range(count)
    ]
    with app.app_context():
        transaction = DriverTransaction(db.engine)
        try:
            with Clock(database) as clock:
                for number, row in enumerate(rows, 1):
                    INSERT_EVENT.execute(transaction, row).close()
                    if number % together == 0:
                        transaction.commit()
                transaction.commit()
        finally:
            transaction.close()
    return ms_per_item(clock, count)


def receipts(app: Flask, event: Any, site_key: str, count: int) -> float:
    """Milliseconds of CPU per signed receipt and visitor token (for one stored event)."""
    from consent_service.ledger.records import event_record, issue_receipt
    from consent_service.ledger.signing import current_key
    from consent_service.tokens import issue_visitor_token

    with app.app_context():
        key = current_key()
        started = time.process_time()
        for _ in range(count):
            issue_receipt(event_record(event, site_key), key)
            issue_visitor_token(site_key, event.visitor_id)
        return 1000 * (time.process_time() - started) / count


def seal_backlog(app: Flask, database: str) -> tuple[float, float]:
    """Seal what waits (the events the parts in process wrote, each with its evidence
    commitment, as real writes) as `ledger seal` does, at the app's batch sizes."""
    from consent_service.extensions import db
    from consent_service.ledger.sealing import seal_all

    with app.app_context():
        with Clock(database) as clock:
            sealed = sum(result.sealed for result in seal_all())
        db.session.remove()
    return ms_per_item(clock, sealed)


def under_wrk(url: str, seconds: int, database: str, **options: Any) -> dict[str, float]:
    """Requests/s, and CPU ms per request of gunicorn's processes with the database server
    (`served`) and of the whole machine (`machine`: wrk and the kernel included)."""
    port = urllib.parse.urlsplit(url).port
    assert port is not None, url  # gunicorn() serves on an explicit port
    processes = gunicorn_processes(port)
    before, busy = cpu_of(processes), machine_busy()
    with Clock(database) as server:
        figures = wrk(url, seconds, 16, **options)
    if figures["errors"]:
        raise RuntimeError(f"{url}: {figures['errors']:.0f} answers were not 2xx or 3xx")
    done = figures["rps"] * seconds
    return {
        "rps": figures["rps"],
        "served": 1000 * (cpu_of(processes) - before + server.server_seconds) / done,
        "machine": 1000 * (machine_busy() - busy) / done,
    }


@contextmanager
def served(env: dict[str, str], post: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """hello-world and the service under gunicorn, both warmed up, the service sealing every
    second as in bench/api.py; once they stop, what the runs wrote is sealed."""
    app_env = {**env, **BENCH_APP_ENV, "LEDGER_AUTOSEAL": "1"}
    with (
        gunicorn("hello_app:app", {}, ROOT / "bench", worker=WORKER) as hello_base,
        gunicorn("wsgi:app", app_env, ROOT, worker=WORKER) as app_base,
    ):
        wrk(hello_base + "/hello", 2, 16)
        wrk(app_base, 2, 16, **post)
        time.sleep(3)  # the app's first-request work (its jobs starting) done
        wait_until_sealed(env)
        yield hello_base + "/hello", app_base
        wait_until_sealed(env)


def first_event(app: Flask, write: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], Any]:
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
        db.session.remove()
    return {**row, "webhook_site_id": row["site_id"]}, event


def measure_round(
    name: str, env: dict[str, str], site: dict[str, str], app: Flask, args: argparse.Namespace
) -> dict[str, float]:
    """One round: hello-world and the write under wrk, then each part of the floor alone."""
    from hello_app import app as hello

    write = requests(app, site)["write"]
    template, event = first_event(app, write)
    post = {
        "script": str(ROOT / "bench" / "consent_post.lua"),
        "env": {
            "SITE_PATH": f"/api/v1/sites/{site['site_key']}/consents",
            "POLICY": site["policy"],
            "BANNER": site["banner"],
        },
    }
    figures: dict[str, float] = {}
    with served(env, post) as (hello_url, app_url):  # stopped before the parts in process
        for key, measured in (
            ("hello", under_wrk(hello_url, args.seconds, name)),
            ("write", under_wrk(app_url, args.seconds, name, **post)),
        ):
            figures[f"{key} rps"] = measured["rps"]
            figures[key], figures[f"{key} machine"] = measured["served"], measured["machine"]
    say_hello = functools.partial(environ, "GET", "/hello")
    figures["hello in process"] = time_loop(hello, say_hello, args.writes, "200")[1]
    figures["write in process"] = time_loop(app, write, args.writes, "201")[1]
    figures["insert"], figures["insert server"] = durable_inserts(app, name, template, args.writes)
    figures["receipt"] = receipts(app, event, site["site_key"], args.writes)
    figures["seal"], figures["seal server"] = seal_backlog(app, name)
    return figures


def run(name: str, args: argparse.Namespace) -> None:
    """The rounds on a throw-away database of kind `name`, then the report."""
    with backend(name) as env:
        site = prepare_database(env)
        os.environ.update(env)
        from consent_service import create_app

        app = create_app({"LEDGER_AUTOSEAL": False})  # the parts in process seal only when told
        try:
            rounds = [measure_round(name, env, site, app, args) for _ in range(args.rounds)]
        finally:
            with app.app_context():
                from consent_service.extensions import db

                db.engine.dispose()  # before the database is dropped
    report(name, rounds)


def report(name: str, rounds: list[dict[str, float]]) -> None:
    """The medians of the rounds, the floor, and the ratios it allows."""

    def median(key: str) -> float:
        return statistics.median(figures[key] for figures in rounds)

    http = median("hello") - median("hello in process")
    floor = http + median("insert") + median("receipt") + median("seal")
    outside = median("hello machine") - median("hello")  # wrk and the kernel, per request
    server, process = "database server {:.3f}".format, "in process {:.3f}".format
    lines = [
        ("hello-world through gunicorn", median("hello"), process(median("hello in process"))),
        ("consent write through gunicorn", median("write"), process(median("write in process"))),
        ("floor: HTTP and gunicorn", http, "hello-world's, less its own view"),
        ("floor: INSERT + COMMIT (driver)", median("insert"), server(median("insert server"))),
        ("floor: signed receipt + token", median("receipt"), ""),
        ("floor: sealing, per event", median("seal"), server(median("seal server"))),
        ("floor of a write", floor, ""),
        ("wrk and the kernel (hello-world)", outside, "what the machine spent beyond it"),
    ]
    print(f"{name}: CPU ms per request, median of {len(rounds)} rounds (worker + database server)")
    for label, value, note in lines:
        print(f"  {label:<34}{value:>7.3f}  {note}")
    machine_ratio = median("hello machine") / median("write machine")
    print(
        f"  writes/hello-world: measured {median('write rps') / median('hello rps'):.2f} (wrk), "
        f"by the machine's CPU {machine_ratio:.2f}; the floor allows at most "
        f"{(median('hello') + outside) / (floor + outside):.2f}"
    )
    room = 2 * (median("hello") + outside) - outside - floor  # at 0.5: twice hello-world's CPU
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    if args.only:
        run(args.only, args)
        return
    for name in ("sqlite", "postgresql"):  # one app per process, as bench/inprocess.py
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", name], check=True)


if __name__ == "__main__":
    main()
