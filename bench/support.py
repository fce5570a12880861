"""What the benchmarks share: a throw-away database of either kind with its environment, and
running one measured step of a benchmark in a child process (its own peak memory)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consent_service.ledger.signing import new_private_key_b64

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def backend(name: str) -> Iterator[dict[str, str]]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    env = {
        "CONSENT_SERVICE_INSTANCE": str(workdir),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LEDGER_SIGNING_KEY": new_private_key_b64(),
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        # A benchmark's load generator is one client on loopback: no per-client limit.
        "CONSENT_WRITES_PER_CLIENT": "0",
        # Children import this checkout's package, not whatever copy is installed.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    dbname = None
    if name == "postgresql":
        dbname = f"consent_bench_{secrets.token_hex(4)}"
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
        env["DATABASE_URL"] = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}"
    else:
        env["DATABASE_URL"] = ""
    try:
        yield env
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if dbname:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            admin.dispose()


def prepare_database(env: dict[str, str]) -> dict[str, str]:
    """Migrate and create the demo site in a child process with the bench environment."""
    code = (
        "import json\n"
        "from flask_migrate import upgrade\n"
        "from consent_service import create_app\n"
        "from consent_service.sites import demo\n"
        "from consent_service.sites.versions import current_policy\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    upgrade()\n"
        "    site, _ = demo.ensure_demo_site('http://127.0.0.1:8000')\n"
        "    print(json.dumps({'site_key': site.site_key, 'policy': current_policy(site).label,"
        " 'banner': site.banner_version_hash}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_child_step(
    script: str, env: dict[str, str], *command: str, extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `script --child COMMAND...` with the database's environment; its last line of
    output is the step's figures as JSON."""
    output = subprocess.run(
        [sys.executable, script, "--child", *command],
        env={**os.environ, **env, **(extra_env or {})},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if output.returncode:
        raise RuntimeError(f"{command[0]} failed:\n{output.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return figures
