"""The tests' live server: no request outlives it (one that did used the test's database after
its engine was disposed, and left a connection to the garbage collector)."""

from __future__ import annotations

import socket
import threading
import time
from urllib.request import urlopen

from werkzeug.wrappers import Request, Response

from tests.live_server import serving


def test_a_request_in_flight_finishes_before_the_server_is_stopped():
    started, finished = threading.Event(), threading.Event()

    @Request.application
    def slow(request: Request) -> Response:
        started.set()
        time.sleep(0.5)  # still working when the block below ends
        finished.set()
        return Response("done")

    answers: list[bytes] = []
    with serving(slow) as server:
        url = f"http://127.0.0.1:{server.server_port}/"
        client = threading.Thread(target=lambda: answers.append(urlopen(url).read()))
        client.start()
        assert started.wait(10)
    assert finished.is_set()
    client.join(10)
    assert answers == [b"done"]


def test_a_silent_connection_does_not_hold_the_server():
    @Request.application
    def quick(request: Request) -> Response:
        return Response("ok")

    with serving(quick) as server:
        silent = socket.create_connection(("127.0.0.1", server.server_port))  # a preconnect
        assert urlopen(f"http://127.0.0.1:{server.server_port}/").read() == b"ok"
    # Stopped (no RuntimeError): the silent connection's thread gave up on it.
    assert silent.recv(1) == b""  # closed by the server
    silent.close()
