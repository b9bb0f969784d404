"""Raw requests into the service's ASGI app, byte for byte: headers an HTTP client would refuse or re-encode
(a Content-Type with a non-UTF-8 byte, a 64 KB header), exact bodies and Content-Length values.

The request runs on the TestClient's event loop (its portal), so it meets the same service instance, engine
and batchers as the client's own requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class RawRequest:
    method: str
    path: str
    headers: Headers = field(default_factory=list)
    body: bytes = b""


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


async def _exchange(app: Any, request: RawRequest, leave: Any = None) -> RawResponse:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": request.path,
        "raw_path": request.path.encode("latin-1", "replace"),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *((name.lower(), value) for name, value in request.headers)],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    body_sent = False
    response_done = anyio.Event()
    status = 0
    headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        if leave is None:
            await response_done.wait()  # like a client that stays connected until it has the whole answer
        else:  # a client that closes the connection when `leave` is set
            with anyio.move_on_after(30):
                while not (leave.is_set() or response_done.is_set()):
                    await anyio.sleep(0.005)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            headers.update(
                (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in message["headers"]
            )
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                response_done.set()

    await app(scope, receive, send)
    response_done.set()
    return RawResponse(status, headers, b"".join(chunks))


def exchange(client: Any, app: Any, request: RawRequest, leave: Any = None) -> RawResponse:
    """Send `request` to `app` on `client`'s event loop (inside a `with TestClient(...)` block); with `leave`
    (a threading.Event), the client disconnects once it is set."""
    if leave is None:
        return client.portal.call(_exchange, app, request)
    return client.portal.call(_exchange, app, request, _ThreadEvent(leave))


class _ThreadEvent:
    """A threading.Event seen through anyio.Event's is_set (the test thread sets it, the loop polls it)."""

    def __init__(self, event: Any) -> None:
        self.event = event

    def is_set(self) -> bool:
        return bool(self.event.is_set())


def json_request(path: str, payload: Any, headers: Headers | None = None) -> RawRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return RawRequest("POST", path, [(b"content-type", b"application/json"), *(headers or [])], body)


def multipart_request(
    path: str,
    parts: list[tuple[bytes, bytes]],
    boundary: bytes = b"hostile-boundary",
    headers: Headers | None = None,
    close: bool = True,
) -> RawRequest:
    """`parts`: (part headers, part body) each; `close=False` leaves out the closing boundary."""
    body = b"".join(
        b"--" + boundary + b"\r\n" + part_headers + b"\r\n\r\n" + data + b"\r\n" for part_headers, data in parts
    )
    if close:
        body += b"--" + boundary + b"--\r\n"
    content_type = b"multipart/form-data; boundary=" + boundary
    return RawRequest("POST", path, [(b"content-type", content_type), *(headers or [])], body)


def file_part(
    data: bytes, name: bytes = b"images", filename: bytes = b"x.png", content_type: bytes = b"image/png"
) -> tuple[bytes, bytes]:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"'
    return disposition + b"\r\nContent-Type: " + content_type, data


def field_part(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    return b'Content-Disposition: form-data; name="' + name + b'"', value
