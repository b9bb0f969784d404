"""multipart/form-data bodies parsed in memory, with limits that answer as the API documents.

Why not Starlette's `Request.form()`: it spools every file part over 1 MB to a temporary file on disk (request
bodies must never touch the disk here; the body is already in memory, bounded by SCENARIO_SERVE_MAX_BODY_BYTES),
and its limits answer 400 with its own text (66 files get "Too many files", where this API promises 413 naming
the limit). This parser runs python-multipart's state machine synchronously over the body in memory, so it runs
in a worker thread, and stops at the first part beyond a limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from service.errors import InvalidRequest, PayloadTooLarge, echo

MAX_PART_HEADERS = 8
"""Header lines per part (Content-Disposition, Content-Type, ...)."""
MAX_PART_HEADER_BYTES = 1024
"""Bytes of one part header line."""


@dataclass(frozen=True)
class FormLimits:
    max_files: int
    max_fields: int
    max_file_bytes: int
    max_field_bytes: int


@dataclass(frozen=True)
class FilePart:
    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    """The parts in order: files (parts with a filename) and text fields."""

    files: list[FilePart] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)


def boundary_of(content_type: str) -> bytes:
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary", b"")
    if not boundary:
        raise InvalidRequest("malformed multipart body: the Content-Type has no boundary", field="body")
    return boundary


def utf8_text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"malformed multipart body: {what} is not UTF-8", field="body") from None


class _Collector:
    """python-multipart callbacks that assemble the parts and enforce the limits as each part arrives."""

    def __init__(self, limits: FormLimits) -> None:
        self.limits = limits
        self.form = Form()
        self.finished = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._data = bytearray()
        self._name = ""
        self._filename: str | None = None

    # -- callbacks ---------------------------------------------------------------------------------------------

    def on_part_begin(self) -> None:
        self._headers = {}
        self._data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise InvalidRequest(
                'malformed multipart body: a part lacks Content-Disposition: form-data; name="..."', field="body"
            )
        self._name = utf8_text(params[b"name"], "a part name")
        self._filename = utf8_text(params[b"filename"], "a file name") if b"filename" in params else None
        if self._filename is not None and len(self.form.files) >= self.limits.max_files:
            raise PayloadTooLarge(
                f"more than {self.limits.max_files} image files; at most {self.limits.max_files} per request",
                field="images",
                limit=self.limits.max_files,
            )
        if self._filename is None and len(self.form.fields) >= self.limits.max_fields:
            raise InvalidRequest(
                f"more than {self.limits.max_fields} form fields", field="body", limit=self.limits.max_fields
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]
        if self._filename is not None and len(self._data) > self.limits.max_file_bytes:
            where = f"images[{len(self.form.files)}]"
            raise PayloadTooLarge(
                f"{where} is over {self.limits.max_file_bytes} bytes", field=where, limit=self.limits.max_file_bytes
            )
        if self._filename is None and len(self._data) > self.limits.max_field_bytes:
            name = echo(self._name)
            raise InvalidRequest(
                f"form field '{name}' is over {self.limits.max_field_bytes} bytes",
                field=name,
                limit=self.limits.max_field_bytes,
            )

    def on_part_end(self) -> None:
        if self._filename is None:
            self.form.fields.append((self._name, utf8_text(bytes(self._data), f"form field '{echo(self._name)}'")))
            return
        content_type = self._headers.get(b"content-type", b"application/octet-stream").decode("latin-1")
        self.form.files.append(FilePart(self._name, self._filename, content_type, bytes(self._data)))

    def on_end(self) -> None:
        self.finished = True


def parse_form(body: bytes, content_type: str, limits: FormLimits) -> Form:
    """Every part of a multipart/form-data body, in memory. CPU-bound: call it off the event loop."""
    collector = _Collector(limits)
    try:
        parser = MultipartParser(
            boundary_of(content_type),
            {
                "on_part_begin": collector.on_part_begin,
                "on_part_data": collector.on_part_data,
                "on_part_end": collector.on_part_end,
                "on_header_field": collector.on_header_field,
                "on_header_value": collector.on_header_value,
                "on_header_end": collector.on_header_end,
                "on_headers_finished": collector.on_headers_finished,
                "on_end": collector.on_end,
            },
            max_header_count=MAX_PART_HEADERS,
            max_header_size=MAX_PART_HEADER_BYTES,
        )
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:  # MultipartParseError and the boundary-length check
        raise InvalidRequest(f"malformed multipart body: {echo(str(exc), 120)}", field="body") from None
    if not collector.finished:
        raise InvalidRequest("malformed multipart body: no closing boundary (truncated?)", field="body")
    return collector.form
