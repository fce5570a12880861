"""Throughput and latency of the consent API against a hello-world baseline.

Starts gunicorn (2 workers) on loopback serving consent-service on SQLite and on PostgreSQL,
and, in the same run, a hello-world Flask app under the same gunicorn settings; drives each
with wrk for a fixed time and prints requests/s, p50 and p99 latency and the ratios.

    python bench/api.py [--seconds 10] [--connections 16] [--only sqlite|postgresql]

Needs wrk (`apt-get install wrk`) and PostgreSQL at TEST_POSTGRES_URL for the PostgreSQL part.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support import ROOT, backend, prepare_database

GUNICORN_SETTINGS = [
    "--workers", "2", "--worker-class", "sync", "--backlog", "2048"
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(app: str, env: dict[str, str], cwd: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *GUNICORN_SETTINGS, "-b", f"127.0.0.1:{port}", app],
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


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"{re.escape(percentile)}\s+([\d.]+)(us|ms|s)", output)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with gunicorn("hello_app:app", {}, ROOT / "bench") as base:
        wrk(base + "/hello", 2, args.connections)  # warm up
        hello = wrk(base + "/hello", args.seconds, args.connections)
    rows.append({"backend": "-", "endpoint": "hello-world", **hello})
    for name in args.backends:
        with backend(name) as env:
            site = prepare_database(env)
            with gunicorn("wsgi:app", env, ROOT) as base:
                config_url = f"{base}/api/v1/sites/{site['site_key']}/config"
                etag = urllib.request.urlopen(config_url).headers["ETag"]
                wrk(config_url, 2, args.connections)
                post_env = {
                    "SITE_PATH": f"/api/v1/sites/{site['site_key']}/consents",
                    "POLICY": site["policy"],
                    "BANNER": site["banner"],
                }
                script = str(ROOT / "bench" / "consent_post.lua")
                measured = {
                    "POST consents": wrk(base, args.seconds, args.connections, script, post_env),
                    "GET config": wrk(config_url, args.seconds, args.connections),
                    "GET config (304)": wrk(
                        config_url,
                        args.seconds,
                        args.connections,
                        headers=[f"If-None-Match: {etag}"],
                    ),
                }
            for endpoint, figures in measured.items():
                rows.append({"backend": name, "endpoint": endpoint, **figures})
    for row in rows:
        row["ratio"] = row["rps"] / hello["rps"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    args.backends = [args.only] if args.only else ["sqlite", "postgresql"]
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    rows = run(args)
    print(f"gunicorn {' '.join(GUNICORN_SETTINGS)}; wrk -t2 -c{args.connections} -d{args.seconds}s")
    header = ["req/s", "p50 ms", "p99 ms", "ratio", "non-2xx"]
    print(f"{'backend':<11}{'endpoint':<19}" + "".join(f"{name:>9}" for name in header))
    for row in rows:
        print(
            f"{row['backend']:<11}{row['endpoint']:<19}{row['rps']:>9.0f}{row['p50_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{row['ratio']:>8.2f}{row['errors']:>9.0f}"
        )


if __name__ == "__main__":
    main()
