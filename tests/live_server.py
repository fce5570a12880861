"""Apps served over real HTTP on loopback by a werkzeug thread, for tests whose clients speak
HTTP (Chromium, the CLI's `--service`, the scanner).

No request outlives the server: werkzeug's threaded server runs each connection in a daemon
thread it never waits for, so a request still running when a test ended used the app's
database after the test had disposed of its engine; its connection went back to the
discarded pool, and psycopg warned ("was deleted while still open") in whichever test the
garbage collector next ran in. Here the server waits for its connection threads when it
stops. (werkzeug closes every connection after one request; a connection opened but silent,
as a browser's preconnect, is given up after a few seconds, so stopping never waits long.)

Nor does a response outlive its request: werkzeug closes the app's response only once it was
all sent, so a client that hung up first (a browser removing an iframe that was still loading,
a context closed mid-load) left a static file open; the garbage collector's ResourceWarning,
made an error by `filterwarnings`, then failed whichever test was running. Here the handler
closes it whatever the client did.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

#: How long the server waits for a request in flight when it stops.
STOP_TIMEOUT = 30.0
#: Where the app's response is kept in the WSGI environ, for the handler to close it.
RESPONSE = "tests.live_server.response"


def keeping_response(app: Any) -> Any:
    """`app`, leaving the response it returns in the environ the handler also holds."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ[RESPONSE] = response = app(environ, start_response)
        return response

    return wsgi


class RequestHandler(WSGIRequestHandler):
    # Seconds a connection may stay silent (socket reads only, not the app's work).
    timeout = 3

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
        finally:
            response = getattr(self, "environ", {}).pop(RESPONSE, None)
            if hasattr(response, "close"):
                response.close()  # again if werkzeug did: files and generators close once


@contextmanager
def serving(app: Any, host: str = "127.0.0.1") -> Iterator[BaseWSGIServer]:
    """`app` served on `host` at a free port until the block ends, then stopped with every
    connection's thread finished."""
    server = make_server(
        host, 0, keeping_response(app), threaded=True, request_handler=RequestHandler
    )
    server.daemon_threads = False  # so that server_close() joins them
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()  # serve_forever ends with server_close(), which joins them
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"a request to {host} still runs {STOP_TIMEOUT:.0f} s after stop")
