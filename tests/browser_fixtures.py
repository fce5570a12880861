"""The Chromium fixtures the browser tests share (a plugin of conftest.py): one browser per
test module, the demo site served live per test, and a visit (a fresh browser context on the
demo page). A module that needs another server (other settings, other config) defines its own
`server` fixture, which takes precedence over this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.banner_support import LiveServer, Visit, launch_chromium, open_visit, serve


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture
def server(app: Flask) -> Iterator[LiveServer]:
    yield from serve(app)


@pytest.fixture
def visit(browser: Any, server: LiveServer) -> Iterator[Visit]:
    opened = open_visit(browser, server)
    yield opened
    opened.context.close()
