"""The files inside an upload (`POST /v1/files`, an Agent Skill's files: multipart/form-data),
for the classifier.

`uploaded_files(content_type, body)` finds the form's files — every part with a filename, or
named `file` — with `python-multipart`'s parser, in memory; a body that is not a multipart form
is taken as one file itself. `file_text(upload, limit)` is a file's text when its media type is
text (`zdr.gateway.media`), else None. Nothing here logs or keeps what it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from zdr.gateway.media import (
    decoder,
    is_generic_type,
    is_text_type,
    looks_like_text,
    parse_media_type,
)

FORM = b"multipart/form-data"
FILE_FIELD = b"file"


@dataclass(slots=True)
class UploadedFile:
    media_type: str
    charset: str | None
    data: bytes = field(repr=False)


@dataclass(slots=True)
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)

    def disposition(self) -> dict[bytes, bytes]:
        return parse_options_header(self.headers.get(b"content-disposition", b""))[1]


def uploaded_files(content_type: str | None, body: bytes) -> list[UploadedFile]:
    """The files of an upload's body (none if the form holds none)."""
    kind, params = parse_options_header(content_type or "")
    if kind.lower() != FORM:
        media_type, charset = parse_media_type(content_type)
        return [UploadedFile(media_type, charset, body)] if body else []
    boundary = params.get(b"boundary")
    parts = _parts(boundary, body) if boundary else None
    files = []
    for part in parts or ():
        disposition = part.disposition()
        if b"filename" in disposition or disposition.get(b"name") == FILE_FIELD:
            media_type, charset = parse_media_type(part.headers.get(b"content-type"))
            files.append(UploadedFile(media_type, charset, b"".join(part.chunks)))
    return files


def file_text(upload: UploadedFile, limit_chars: int) -> str | None:
    """The first `limit_chars` characters of the file's text; None when it is not text."""
    if is_text_type(upload.media_type):
        charset = upload.charset
    elif is_generic_type(upload.media_type) and looks_like_text(upload.data):
        charset = "utf-8"
    else:
        return None
    # At most 4 bytes a character: decoding more than this could only be cut off again.
    head = memoryview(upload.data)[:limit_chars * 4 + 4]
    return decoder(charset).decode(head, final=len(head) == len(upload.data))[:limit_chars]


def _parts(boundary: bytes, body: bytes) -> list[_Part] | None:
    parts: list[_Part] = []
    field_name = bytearray()
    value = bytearray()

    def on_part_begin() -> None:
        parts.append(_Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1].headers[bytes(field_name).lower()] = bytes(value)
        field_name.clear()
        value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].chunks.append(data[start:end])

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data,
    })
    try:
        parser.write(body)
        parser.finalize()
    except Exception:  # noqa: BLE001 - a malformed form: the upstream refuses it too
        return parts or None
    return parts
