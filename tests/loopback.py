"""A loopback HTTP server that answers every POST with one fixed status and JSON body: a stand-in server for
client-side tests (load generators, probes), never a stand-in for the service."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def answering(status: int, body: bytes, close: bool = False) -> Iterator[int]:
    """`with answering(503, b'{...}') as port:` a threaded HTTP/1.1 server on 127.0.0.1:port (keep-alive, or with
    `close` each answer says `Connection: close` and ends its connection) that answers every GET and POST with
    `status` and `body`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
