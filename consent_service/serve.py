"""Run the app under gunicorn from Python (used by `consent-service demo` and the benchmarks)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from consent_service.gunicorn_conf import (
    PrivateLogger,
    access_log_format,
    forwarded_allow_ips,
    threads,
    worker_class,
)


class GunicornApp(BaseApplication):
    """Each worker builds its own app after the fork, so no connection crosses a fork."""

    def __init__(self, factory: Any, options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.factory()


def serve(bind: str, workers: int = 2, factory: Any = None, **options: Any) -> None:
    if factory is None:
        from consent_service import create_app

        factory = create_app
    settings = {
        "bind": bind,
        "workers": workers,
        "worker_class": worker_class,
        "threads": threads,
        "accesslog": "-",
        "access_log_format": access_log_format,
        "logger_class": PrivateLogger,
        "forwarded_allow_ips": forwarded_allow_ips,
        **options,
    }
    GunicornApp(factory, settings).run()
