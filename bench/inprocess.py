"""The service's own cost per request, in one process, without HTTP or a load generator.

Builds the app on a throw-away SQLite (WAL, synchronous FULL) or PostgreSQL database with the
demo site, then calls the WSGI app directly in a loop (the environ is made by hand, as gunicorn
would make it): the consent write, the config GET, its 304 and the banner script GET, plus a
hello-world Flask app for comparison. Prints milliseconds per request (the median of a few
rounds) and the load average, so a step on the write path can be judged on a shared machine
where wrk's figures are noise.

    python bench/inprocess.py [--requests 2000] [--rounds 5] [--only sqlite|postgresql]
        [--endpoint write|config|304|script|hello] [--profile] [--threads N]

`--threads N` posts the writes from N threads at once (what a gthread worker does) and prints
writes/s and CPU per write with group commit and without, the rounds interleaved. `--profile`
prints the 25 entries with most cumulative time of the first endpoint's loop
(BENCH_PROFILE_LINES for more; BENCH_PROFILE_SORT=tottime sorts by each function's own time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

# This checkout's package, not the installed copy (support imports it).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support import ROOT, backend, prepare_database


def environ(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    """A WSGI environ as gunicorn makes it for a request from loopback."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "wrk",
        "HTTP_ACCEPT_ENCODING": "gzip",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def call(app: Any, env: dict[str, Any]) -> str:
    status: list[str] = []
    chunks = app(env, lambda s, h, e=None: status.append(s))
    for _ in chunks:
        pass
    if hasattr(chunks, "close"):
        chunks.close()
    return status[0]


def requests(app: Any, site: dict[str, str]) -> dict[str, Callable[[], dict[str, Any]]]:
    key = site["site_key"]
    template = (
        '{"event_id":"%s","action":"custom","choices":{"analytics":true},'
        '"policy_version":"%s","banner_version":"%s","language":"en","source":"banner",'
        '"gpc":false,"url":"https://www.example.com/products"}'
    )
    config_path = f"/api/v1/sites/{key}/config"
    env = environ("GET", config_path)
    status = []
    body = b"".join(app(env, lambda s, h, e=None: status.append(dict(h))))
    etag = status[0]["ETag"]
    assert body

    def write() -> dict[str, Any]:
        payload = template % (uuid.uuid4(), site["policy"], site["banner"])
        return environ("POST", f"/api/v1/sites/{key}/consents", payload.encode())

    return {
        "write": write,
        "config": lambda: environ("GET", config_path),
        "304": lambda: environ("GET", config_path, headers={"If-None-Match": etag}),
        "script": lambda: environ("GET", f"/c/{key}.js"),
    }


EXPECTED = {"write": "201", "config": "200", "304": "304", "script": "200", "hello": "200"}


def time_loop(
    app: Any, make: Callable[[], dict[str, Any]], count: int, expected: str
) -> tuple[float, float]:
    """(wall, CPU) milliseconds per request; the environs are made before the clocks start.
    The CPU time is this process's alone: on a shared machine it moves far less than the wall
    time, and what the database server or the disk spend is in the wall time only."""
    envs = [make() for _ in range(count)]
    started, cpu = time.perf_counter(), time.process_time()
    for env in envs:
        status = call(app, env)
        if not status.startswith(expected):
            raise RuntimeError(f"answered {status}, expected {expected}")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall * 1000 / count, cpu * 1000 / count


def threaded_writes(app: Any, make: Callable[[], dict[str, Any]], args: argparse.Namespace) -> None:
    """Writes from `--threads` threads at once (as a gthread worker's threads would make them):
    writes/s of the process, with group commit and without (GROUP_COMMIT_MAX 1)."""
    import threading

    from consent_service import database

    rates: dict[int, list[float]] = {database.GROUP_COMMIT_MAX: [], 1: []}
    cpus: dict[int, list[float]] = {database.GROUP_COMMIT_MAX: [], 1: []}
    per_thread = args.requests // args.threads

    def work(mine: list[dict[str, Any]]) -> None:
        for env in mine:
            status = call(app, env)
            assert status.startswith("201"), status

    for _ in range(args.rounds):
        for batch_max, measured in rates.items():
            database.GROUP_COMMIT_MAX = batch_max
            envs = [[make() for _ in range(per_thread)] for _ in range(args.threads)]
            threads = [threading.Thread(target=work, args=(mine,)) for mine in envs]
            started, cpu = time.perf_counter(), time.process_time()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            measured.append(per_thread * args.threads / (time.perf_counter() - started))
            cpus[batch_max].append((time.process_time() - cpu) * 1000 / (per_thread * args.threads))
    for batch_max, measured in rates.items():
        print(
            f"{args.only:<11}write x{args.threads:<3} group commit max {batch_max:<3}"
            f"{statistics.median(measured):>8.0f} writes/s"
            f"{statistics.median(cpus[batch_max]):>8.3f} ms CPU per write"
            f"  (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )


def run(name: str, args: argparse.Namespace) -> None:
    with backend(name) as env:
        site = prepare_database(env)
        os.environ.update(env)
        os.environ["LEDGER_AUTOSEAL"] = "0"
        from consent_service import create_app

        app = create_app()
        sys.path.insert(0, str(ROOT / "bench"))
        from hello_app import app as hello

        makers = requests(app, site)
        makers["hello"] = lambda: environ("GET", "/hello")
        apps = {**{endpoint: app for endpoint in makers}, "hello": hello}
        if args.threads:
            time_loop(app, makers["write"], 200, "201")
            threaded_writes(app, makers["write"], args)
            return
        endpoints = [args.endpoint] if args.endpoint else list(makers)
        for endpoint in endpoints:
            time_loop(apps[endpoint], makers[endpoint], 200, EXPECTED[endpoint])  # warm up
            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                time_loop(apps[endpoint], makers[endpoint], args.requests, EXPECTED[endpoint])
                profile.disable()
                lines = int(os.environ.get("BENCH_PROFILE_LINES", "25"))
                pstats.Stats(profile).sort_stats(
                    os.environ.get("BENCH_PROFILE_SORT", "cumulative")
                ).print_stats(lines)
                continue
            rounds = [
                time_loop(apps[endpoint], makers[endpoint], args.requests, EXPECTED[endpoint])
                for _ in range(args.rounds)
            ]
            load = os.getloadavg()[0]
            wall = statistics.median(wall for wall, _ in rounds)
            cpu = statistics.median(cpu for _, cpu in rounds)
            print(
                f"{name:<11}{endpoint:<8}{wall:>8.3f} ms wall{cpu:>8.3f} ms CPU per request"
                f"  (load {load:.2f})",
                flush=True,
            )
        with app.app_context():
            from consent_service.extensions import db

            db.engine.dispose()  # before the database is dropped


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument("--endpoint", choices=list(EXPECTED), default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=0, help="N threads writing, with and without group commit"
    )
    args = parser.parse_args()
    if args.only:
        run(args.only, args)
        return
    for name in ("sqlite", "postgresql"):  # one app per process: each in a fresh interpreter
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", name], check=True)


if __name__ == "__main__":
    main()
