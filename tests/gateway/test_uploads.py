"""What the classifier reads of an upload: the form's file, as text only when it is text."""

import pytest

from zdr.gateway.media import looks_like_text, parse_media_type
from zdr.gateway.uploads import UploadedFile, file_text, uploaded_files

BOUNDARY = "zdr-test-boundary"
FORM = f"multipart/form-data; boundary={BOUNDARY}"


def form(*parts):
    """A multipart body of (name, filename, content type, bytes) parts."""
    out = b""
    for name, filename, content_type, data in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def test_the_file_part_is_found_among_others():
    body = form(("purpose", None, None, b"ignored"),
                ("file", "notes.md", "text/markdown; charset=utf-8", b"# Notes\nhello"))
    assert uploaded_files(FORM, body) == [
        UploadedFile("text/markdown", "utf-8", b"# Notes\nhello")]


def test_every_part_with_a_filename_is_a_file():
    # An Agent Skill's upload: several files, one of them not text.
    body = form(("files[]", "skill/SKILL.md", "text/markdown", b"# Skill"),
                ("display_title", None, None, b"title"),
                ("files[]", "skill/run.py", "text/x-python", b"print(1)"),
                ("files[]", "skill/logo.png", "image/png", b"\x89PNG"))
    assert [f.data for f in uploaded_files(FORM, body)] == [b"# Skill", b"print(1)", b"\x89PNG"]


@pytest.mark.parametrize(("content_type", "body"), [
    (FORM, form(("purpose", None, None, b"x"))),          # no file at all
    ("multipart/form-data", b"--x\r\n"),                  # no boundary
    (FORM, b""),                                          # empty
], ids=["no-file", "no-boundary", "empty"])
def test_forms_without_a_file(content_type, body):
    assert uploaded_files(content_type, body) == []


def test_a_body_that_is_not_a_form_is_the_file_itself():
    assert uploaded_files("text/plain", b"raw text") == [
        UploadedFile("text/plain", None, b"raw text")]


@pytest.mark.parametrize(("media_type", "charset", "data", "expected"), [
    ("text/plain", None, b"plain", "plain"),
    ("text/markdown", None, b"# md", "# md"),
    ("text/csv", None, b"a,b", "a,b"),
    ("application/json", None, b'{"a": 1}', '{"a": 1}'),
    ("application/ld+json", None, b"{}", "{}"),
    ("text/plain", "latin-1", "café".encode("latin-1"), "café"),
    ("text/plain", "no-such-charset", b"ok", "ok"),               # unknown: UTF-8
    ("text/plain", None, b"bad \xff byte", "bad \ufffd byte"),       # replaced, not refused
    ("application/octet-stream", None, "Markdown ü".encode(), "Markdown ü"),   # sniffed
    ("", None, b"no type at all", "no type at all"),
    ("application/octet-stream", None, b"\x89PNG\r\n\x1a\n\x00\x00", None),  # binary
    ("application/pdf", None, b"%PDF-1.7 text-looking", None),    # declared not text
    ("image/png", None, b"looks like text", None),
], ids=["plain", "markdown", "csv", "json", "json-suffix", "latin-1", "unknown-charset",
        "bad-utf8", "sniffed", "untyped", "binary", "pdf", "image"])
def test_file_text(media_type, charset, data, expected):
    assert file_text(UploadedFile(media_type, charset, data), 1000) == expected


def test_file_text_is_cut_at_the_limit():
    assert file_text(UploadedFile("text/plain", None, "é".encode() * 100), 10) == "é" * 10


def test_media_type_and_sniffing():
    assert parse_media_type(b'Text/Plain; Charset="UTF-8"') == ("text/plain", "utf-8")
    assert parse_media_type(None) == ("", None)
    cut = "é".encode()[:1]
    assert looks_like_text(b"abc" + cut, whole=False)       # a character cut at the end
    assert not looks_like_text(b"abc" + cut)
    assert not looks_like_text(b"a\x00b")
