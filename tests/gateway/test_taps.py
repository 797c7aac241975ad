"""Reading a relayed response for the classifier: unchanged for the client, bounded in memory."""

import asyncio

import orjson
import pytest

from zdr.gateway import taps
from zdr.gateway.taps import JsonReader, ResponseTap, ResultsReader, TextReader
from zdr.gateway.textbudget import PIECE_CHARS, TextBudget, pieces


def result(text, kind="succeeded"):
    line = {"custom_id": "c", "result": {"type": kind}}
    if kind == "succeeded":
        line["result"]["message"] = {"content": [{"type": "text", "text": text}]}
    return orjson.dumps(line) + b"\n"


def relay(reader, chunks, status=200, content_type=b"application/json"):
    """Send a response through a tap; returns what the client got."""
    sent = []

    async def client(message):
        sent.append(message)

    async def run():
        tap = ResponseTap(client, reader)
        await tap({"type": "http.response.start", "status": status,
                   "headers": [(b"content-type", content_type)]})
        for chunk in chunks:
            await tap({"type": "http.response.body", "body": chunk, "more_body": True})
        await tap({"type": "http.response.body", "body": b"", "more_body": False})
        reader.close()

    asyncio.run(run())
    return sent


def test_the_client_gets_every_message_unchanged():
    reader = ResultsReader(TextBudget())
    body = result("one") + result("two")
    sent = relay(reader, [body])
    assert b"".join(m.get("body", b"") for m in sent) == body and len(sent) == 3


def test_results_split_anywhere_across_chunks():
    body = result("first answer") + result("", kind="errored") + result("second answer")
    for size in (1, 2, 7, 64):
        reader = ResultsReader(TextBudget())
        relay(reader, [body[i:i + size] for i in range(0, len(body), size)])
        assert reader.texts == ["first answer", "second answer"]


def test_a_last_line_without_newline_is_read():
    reader = ResultsReader(TextBudget())
    relay(reader, [result("a") + result("b")[:-1]])
    assert reader.texts == ["a", "b"]


def test_an_error_answer_is_not_read():
    reader = ResultsReader(TextBudget())
    relay(reader, [result("secret")], status=404)
    assert reader.texts == []


def test_results_past_the_budget_are_marked_not_scored():
    reader = ResultsReader(TextBudget(limit=2 * PIECE_CHARS))
    long = "x" * PIECE_CHARS
    relay(reader, [result(long) * 5])
    assert len(reader.texts) == 2 and reader.not_scored == {"size_limit"}


def test_an_overlong_line_is_skipped_not_held(monkeypatch):
    monkeypatch.setattr(taps, "MAX_LINE_BYTES", 150)
    reader = ResultsReader(TextBudget())
    relay(reader, [result("y" * 500)[:50], result("y" * 500)[50:] + result("short")])
    assert reader.texts == ["short"] and reader.not_scored == {"size_limit"}


def test_a_text_download_is_read_in_pieces():
    text = "word " * 10_000
    reader = TextReader(TextBudget())
    data = text.encode()
    relay(reader, [data[i:i + 3000] for i in range(0, len(data), 3000)],
          content_type=b"text/plain")
    assert "".join(p[:-200] for p in reader.texts[:-1]) + reader.texts[-1] == text
    assert all(len(p) <= PIECE_CHARS for p in reader.texts) and not reader.not_scored


@pytest.mark.parametrize(("content_type", "data", "read"), [
    (b"image/png", b"\x89PNG....", False),
    (b"application/octet-stream", b"\x89PNG\x00\x00", False),
    (b"application/octet-stream", "plain words ü".encode(), True),
])
def test_a_download_that_is_not_text_is_marked(content_type, data, read):
    reader = TextReader(TextBudget())
    relay(reader, [data], content_type=content_type)
    assert bool(reader.texts) is read
    assert reader.not_scored == (set() if read else {"media_type"})


def test_a_json_answer_is_read_whole():
    reader = JsonReader(TextBudget())
    body = orjson.dumps({"transcript": ["hello", {"text": "there"}], "id": 3})
    relay(reader, [body[:5], body[5:]])
    assert reader.texts == ["hello\nthere"]


def test_a_json_answer_past_its_limit_is_dropped(monkeypatch):
    monkeypatch.setattr(taps, "MAX_JSON_BYTES", 10)
    reader = JsonReader(TextBudget())
    relay(reader, [b'{"a": "0123456789"}'])
    assert reader.texts == [] and reader.not_scored == {"size_limit"}


def test_pieces_overlap_and_respect_the_budget():
    text = "".join(chr(0x41 + i % 26) for i in range(20_000))
    found = pieces(text, TextBudget())
    assert [len(p) for p in found] == [8000, 8000, 4400]
    assert found[1].startswith(found[0][-200:])
    budget = TextBudget(limit=9000)
    assert [len(p) for p in pieces(text, budget)] == [8000, 1000] and budget.exceeded
