"""Streaming multipart/form-data reader: file parts go straight to staging files, never whole into memory.

Each file is hashed while it is written. A file over the size limit stops being written but the body is
still read to its end (up to the request cap), so that every problem is reported in one answer and the
client reads an envelope instead of a reset connection.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import InvalidInput

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 200


@dataclass
class FilePart:
    field: str
    filename: str
    content_type: str
    path: Path | None  # None once the part went over the size limit (its bytes were dropped)
    size: int = 0
    sha256: str = ""


@dataclass
class Form:
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)
    # Parts that look like a field name we expect a file in, but came without a filename.
    fileless: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        for f in self.files:
            if f.path is not None:
                try:
                    f.path.unlink()
                except FileNotFoundError:
                    pass


def boundary_of(content_type: str | None) -> bytes:
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise InvalidInput(
            "Content-Type", f"must be multipart/form-data with a boundary, got {content_type or 'none'!r}"
        )
    return params[b"boundary"]


def _disposition(raw: bytes) -> tuple[str | None, str | None]:
    kind, params = parse_options_header(raw)
    if kind != b"form-data":
        return None, None
    name = params.get(b"name")
    filename = params.get(b"filename")
    # RFC 7578 says UTF-8; browsers and curl send it raw. Undecodable bytes are kept visible, not dropped.
    dec = lambda b: None if b is None else b.decode("utf-8", "backslashreplace")  # noqa: E731
    return dec(name), dec(filename)


async def read_form(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    staging: Path,
    *,
    max_file_bytes: int,
    max_files: int,
    max_body_bytes: int,
    file_fields: tuple[str, ...],
) -> Form:
    """Parse the body. Raises InvalidInput for a malformed body; the caller validates what was read."""
    boundary = boundary_of(content_type)
    staging.mkdir(parents=True, exist_ok=True)
    form = Form()
    state: dict = {"headers": {}, "hname": b"", "hvalue": b"", "part": None, "buf": None, "out": None}
    errors: list[InvalidInput] = []

    def on_part_begin() -> None:
        state["headers"] = {}
        state["hname"], state["hvalue"] = b"", b""

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["hname"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["hvalue"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["hname"].lower()] = state["hvalue"]
        state["hname"], state["hvalue"] = b"", b""

    def on_headers_finished() -> None:
        name, filename = _disposition(state["headers"].get(b"content-disposition", b""))
        if name is None:
            raise InvalidInput("multipart", "every part needs Content-Disposition: form-data with a name")
        if filename is not None:
            if len(form.files) >= max_files:
                raise InvalidInput("files", f"at most {max_files} files per request (server batch cap)")
            ctype = state["headers"].get(b"content-type", b"").decode("latin-1").strip()
            fd, path = tempfile.mkstemp(dir=staging, prefix="up-")
            part = FilePart(field=name, filename=filename, content_type=ctype, path=Path(path))
            form.files.append(part)
            state["part"], state["out"], state["hash"] = part, os.fdopen(fd, "wb"), hashlib.sha256()
            state["buf"] = None
        else:
            if len(form.fields) >= MAX_FIELDS:
                raise InvalidInput("multipart", f"at most {MAX_FIELDS} form fields per request")
            state["part"], state["buf"] = name, bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        part = state["part"]
        if isinstance(part, FilePart):
            part.size += len(chunk)
            if part.path is None:
                return
            if part.size > max_file_bytes:
                state["out"].close()
                part.path.unlink()
                part.path = None
                return
            state["out"].write(chunk)
            state["hash"].update(chunk)
        else:
            buf = state["buf"]
            if len(buf) + len(chunk) > MAX_FIELD_BYTES:
                raise InvalidInput(part, f"a form field may hold at most {MAX_FIELD_BYTES} bytes")
            buf.extend(chunk)

    def on_part_end() -> None:
        part = state["part"]
        if isinstance(part, FilePart):
            if part.path is not None:
                out = state["out"]
                out.flush()
                os.fsync(out.fileno())
                out.close()
                part.sha256 = state["hash"].hexdigest()
        else:
            try:
                text = bytes(state["buf"]).decode("utf-8")
            except UnicodeDecodeError:
                errors.append(InvalidInput(part, "must be UTF-8 text"))
                text = ""
            if part in file_fields:
                form.fileless.append(part)
            else:
                form.fields.append((part, text))
        state["part"] = None

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
        max_header_count=16,
    )
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > max_body_bytes:
                raise InvalidInput("request", f"body larger than the {max_body_bytes}-byte limit")
            try:
                parser.write(chunk)
            except (InvalidInput, OSError):  # OSError: the staging disk (ENOSPC is reported as such)
                raise
            except Exception as exc:  # the parser's own errors: a malformed body
                raise InvalidInput("multipart", f"malformed body ({exc})") from None
        if parser.state.name != "END":
            raise InvalidInput("multipart", "body ended before the closing boundary (truncated upload?)")
        if errors:
            raise errors[0]
    except BaseException:
        out = state.get("out")
        if out is not None and not out.closed:
            out.close()
        form.cleanup()
        raise
    return form
