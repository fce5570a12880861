"""Throughput and latency of the consent API against a hello-world baseline.

Starts gunicorn (2 workers, 4 threads each as the bundled settings; `--worker sync` for sync
workers) on loopback serving consent-service on SQLite and on PostgreSQL, and a hello-world
Flask app under the same gunicorn settings (a threaded worker keeps wrk's connections alive, a
sync one closes each: only the same settings compare); drives each with wrk for a fixed
time and prints requests/s, p50 and p99 latency and the ratio. The hello-world app is measured
again right before every row and the ratio is to that run, so a machine whose load changes
during the run (other work, thermal limits) still gives comparable ratios; `hello/s` shows it.

Rows per backend, the reads first: the config GET, its 304, the banner script GET; then the
consent write (the sealer runs every second in the same processes, so writes are measured
while the ledger is being sealed), the write with 64 connections, the write while another
process seals a backlog of `--seal-backlog` events (`ledger seal`, batches of 250; the p99
says how long a batch holds SQLite's write lock), and the write with the per-client limit on
(every write counted; the allowance set far above what the run posts). `--rows` picks some
of them. Before each hello-world run the bench waits until the last row's events are sealed,
so that sealing is counted in the row that wrote them and not in the baseline; hello-world
is run twice and the better run kept (one gunicorn worker now and then takes most of wrk's
connections, which makes a run far slower than the other). `split` says how the app's run
fell between the workers: established connections per worker, most first (16 or 15/1: the
row measured one worker, that is one core, and says little of the app's own cost).

    python bench/api.py [--seconds 10] [--connections 16] [--only sqlite|postgresql] [--profile]
        [--rows write,c64,config,304,script,sealing,limit] [--worker gthread:4|sync]
        [--seal-backlog 30000]

`--profile` also runs the write once more under cProfile and prints the ten entries of one
worker with the most cumulative time. Needs wrk (`apt-get install wrk`) and PostgreSQL at
TEST_POSTGRES_URL for the PostgreSQL part.
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from support import ROOT, backend, prepare_database

GUNICORN_SETTINGS = ["--workers", "2", "--backlog", "2048"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The rows `--rows` can pick.
ROWS = ("write", "c64", "config", "304", "script", "sealing", "limit")
#: Sealing every second (the default is every ten) keeps the sealer busy during every write run.
BENCH_APP_ENV = {"LEDGER_SEAL_INTERVAL": "1"}
#: "Limit on": every write is counted in the database, and none is refused.
LIMIT_ON_ENV = {"CONSENT_WRITES_PER_CLIENT": "1000000000"}


@contextmanager
def gunicorn(
    app: str,
    env: dict[str, str],
    cwd: Path,
    extra: Sequence[str] = (),
    worker: Sequence[str] = ("--worker-class", "sync"),
) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", *GUNICORN_SETTINGS, *worker, *extra]
    process = subprocess.Popen(
        [*command, "-b", f"127.0.0.1:{port}", app],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz" if "wsgi" in app else base + "/hello")
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    stderr = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"gunicorn did not start: {stderr}") from exc
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def wrk(
    url: str,
    seconds: int,
    connections: int,
    script: str | None = None,
    env: dict[str, str] | None = None,
    headers: list[str] | None = None,
) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers or []:
        command += ["-H", header]
    if script:
        command += ["-s", script]
    output = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": rps,
        "p50_ms": _latency(output, "50%"),
        "p99_ms": _latency(output, "99%"),
        "errors": float(non_2xx.group(1)) if non_2xx else 0.0,
    }


def connection_split(port: int) -> list[int]:
    """Established connections to `port` per process holding them, most first: how wrk's
    connections fell between gunicorn's workers (the clients' ends are wrk's, not counted)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED, the server's end
                inodes.add(f"socket:[{fields[9]}]")
    counts = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            held = sum(1 for fd in (entry / "fd").iterdir() if os.readlink(fd) in inodes)
        except OSError:
            continue
        if held:
            counts.append(held)
    return sorted(counts, reverse=True)


@contextmanager
def split_during(url: str, seconds: int) -> Iterator[list[int]]:
    """Samples `connection_split` of the server at `url` a little into a run made meanwhile."""
    import threading

    port = urllib.parse.urlsplit(url).port
    assert port is not None, url  # gunicorn() serves on an explicit port
    split: list[int] = []

    def sample() -> None:
        time.sleep(min(2.0, seconds / 2))
        split.extend(connection_split(port))

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield split
    finally:
        thread.join()


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"{re.escape(percentile)}\s+([\d.]+)(us|ms|s)", output)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with gunicorn("hello_app:app", {}, ROOT / "bench", worker=args.worker) as hello_base:
        hello_url = hello_base + "/hello"
        wrk(hello_url, 2, args.connections)  # warm up

        def measure(
            key: str, endpoint: str, name: str, url: str, db_env: dict[str, str], **options: Any
        ) -> None:
            if key not in args.rows:
                return
            connections = options.pop("connections", args.connections)
            wait_until_sealed(db_env)  # the last row's events sealed: hello-world has both cores
            # The better of two runs: gthread workers each accept what they can, and now and
            # then one worker takes most of wrk's connections and the run gets a third less.
            hello = max(
                (wrk(hello_url, args.seconds, connections) for _ in range(2)),
                key=lambda run: run["rps"],
            )
            with split_during(url, args.seconds) as split:
                figures = wrk(url, args.seconds, connections, **options)
            rows.append(
                {
                    "backend": name,
                    "endpoint": endpoint,
                    **figures,
                    "hello": hello["rps"],
                    "ratio": figures["rps"] / hello["rps"],
                    "load": os.getloadavg()[0],
                    "split": "/".join(str(count) for count in split) or "-",
                }
            )

        for name in args.backends:
            with backend(name) as env:
                site = prepare_database(env)
                post_env = {
                    "SITE_PATH": f"/api/v1/sites/{site['site_key']}/consents",
                    "POLICY": site["policy"],
                    "BANNER": site["banner"],
                }
                post = {"script": str(ROOT / "bench" / "consent_post.lua"), "env": post_env}
                app_env = {**env, **BENCH_APP_ENV}
                with gunicorn("wsgi:app", app_env, ROOT, worker=args.worker) as base:
                    config_url = f"{base}/api/v1/sites/{site['site_key']}/config"
                    script_url = f"{base}/c/{site['site_key']}.js"
                    etag = urllib.request.urlopen(config_url).headers["ETag"]
                    wrk(config_url, 2, args.connections)
                    time.sleep(3)  # the app's first-request work (jobs starting) done
                    # The reads first: the sealer is idle then; the writes after them.
                    measure("config", "GET config", name, config_url, env)
                    headers = [f"If-None-Match: {etag}"]
                    measure("304", "GET config (304)", name, config_url, env, headers=headers)
                    measure("script", "GET banner script", name, script_url, env)
                    wrk(base, 2, args.connections, **post)
                    measure("write", "POST consents", name, base, env, **post)
                    measure("c64", "POST consents c64", name, base, env, connections=64, **post)
                if "sealing" in args.rows:
                    quiet_env = {**app_env, "LEDGER_AUTOSEAL": "0"}
                    with gunicorn("wsgi:app", quiet_env, ROOT, worker=args.worker) as base:
                        wrk(base, 2, args.connections, **post)
                        with sealing(env, site["site_key"], args.seal_backlog) as sealed:
                            measure("sealing", "POST while sealing", name, base, {}, **post)
                        print(
                            f"{name}: `ledger seal` of a {args.seal_backlog:,}-event backlog "
                            f"during the write: {sealed['sealed']:,} events in "
                            f"{sealed['seconds']:.1f} s",
                            flush=True,
                        )
                if "limit" in args.rows:
                    limit_env = {**app_env, **LIMIT_ON_ENV}
                    with gunicorn("wsgi:app", limit_env, ROOT, worker=args.worker) as base:
                        wrk(base, 2, args.connections, **post)
                        measure("limit", "POST limit on", name, base, env, **post)
                if args.profile:
                    profile_write(app_env, post, args.seconds, args.connections)
    return rows


def wait_until_sealed(env: dict[str, str], timeout: float = 120.0) -> None:
    """Until no event waits for its seal (the app's sealer runs every second), so what the
    last row wrote is not sealed while hello-world is measured; raises if that does not come
    (the app is not sealing). Nothing for `{}`."""
    if not env:
        return
    url = env["DATABASE_URL"] or "sqlite:///" + str(
        Path(env["CONSENT_SERVICE_INSTANCE"]) / "consent-service.sqlite"
    )
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                waiting = connection.scalar(sa.text("SELECT count(*) FROM ledger_queue"))
            if not waiting:
                return
            time.sleep(0.5)
    finally:
        engine.dispose()
    raise RuntimeError(f"{waiting} events still wait for their seal after {timeout:.0f} s")


@contextmanager
def sealing(env: dict[str, str], site_key: str, backlog: int) -> Iterator[dict[str, Any]]:
    """A backlog of unsealed events, sealed by another process (as `consent-service ledger
    seal` does, in batches) while the caller measures; the sealer's figures once it is done."""
    import threading

    from ledger import run_step

    run_step(env, "seed", site_key, str(backlog))
    figures: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: figures.update(run_step(env, "seal")))
    thread.start()
    try:
        yield figures
    finally:
        thread.join()


def profile_write(
    env: dict[str, str], post: dict[str, Any], seconds: int, connections: int
) -> None:
    """The write under cProfile: the ten entries of one worker with most cumulative time."""
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as directory:
        config = ["-c", str(ROOT / "bench" / "profile_gunicorn.py")]
        profiled_env = {**env, "BENCH_PROFILE_DIR": directory}
        with gunicorn("wsgi:app", profiled_env, ROOT, extra=config) as base:
            figures = wrk(base, seconds, connections, **post)
        deadline = time.monotonic() + 10
        while not list(Path(directory).glob("*.prof")) and time.monotonic() < deadline:
            time.sleep(0.2)
        profiles = sorted(Path(directory).glob("*.prof"))
        print(f"profile of one worker, POST consents, {figures['rps']:.0f} req/s under cProfile:")
        if profiles:
            pstats.Stats(str(profiles[0])).sort_stats("cumulative").print_stats(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument("--profile", action="store_true", help="profile one worker's writes")
    parser.add_argument(
        "--seal-backlog",
        type=int,
        default=30000,
        help="unsealed events that another process seals during the `sealing` row",
    )
    parser.add_argument(
        "--rows",
        default=",".join(ROWS),
        help=f"which rows, comma-separated (default all: {','.join(ROWS)})",
    )
    parser.add_argument(
        "--worker",
        default="gthread:4",
        help="the app's gunicorn worker: gthread:N (N threads per worker; the bundled\n"
        "settings' gthread:4 by default) or sync",
    )
    args = parser.parse_args()
    args.backends = [args.only] if args.only else ["sqlite", "postgresql"]
    args.rows = set(args.rows.split(","))
    if not args.rows <= set(ROWS):
        parser.error(f"--rows takes {','.join(ROWS)}")
    kind, _, threads = args.worker.partition(":")
    args.worker = ["--worker-class", kind] + (["--threads", threads] if threads else [])
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    rows = run(args)
    print(
        f"gunicorn {' '.join(GUNICORN_SETTINGS + args.worker)} (hello-world alike); "
        f"wrk -t2 -c{args.connections} -d{args.seconds}s"
    )
    header = ["req/s", "p50 ms", "p99 ms", "ratio", "non-2xx", "hello/s", "load", "split"]
    print(f"{'backend':<11}{'endpoint':<20}" + "".join(f"{name:>9}" for name in header))
    for row in rows:
        print(
            f"{row['backend']:<11}{row['endpoint']:<20}{row['rps']:>9.0f}{row['p50_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{row['ratio']:>9.2f}{row['errors']:>9.0f}{row['hello']:>9.0f}"
            f"{row['load']:>9.2f}{row['split']:>9}"
        )


if __name__ == "__main__":
    main()
