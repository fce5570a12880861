"""gunicorn config for `bench/api.py --profile`: each worker profiles its requests (not its
start-up) with cProfile and writes the statistics to BENCH_PROFILE_DIR/PID.prof on exit."""

from __future__ import annotations

import cProfile
import os
from typing import Any

_profile = cProfile.Profile()


def pre_request(worker: Any, req: Any) -> None:
    _profile.enable()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    _profile.disable()


def worker_exit(server: Any, worker: Any) -> None:
    _profile.dump_stats(os.path.join(os.environ["BENCH_PROFILE_DIR"], f"{os.getpid()}.prof"))
