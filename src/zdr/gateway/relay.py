"""The relay: send an allowed request upstream (through the `zdr.ports.Upstream` port) and pass
the answer back as it arrives.

Server-sent events are written to the client chunk by chunk, exactly as received: each chunk is
what one read of the upstream's connection brought (never held back for more), in one send. The
observer (`zdr.gateway.observe`) sees each chunk before it is sent, for usage and completion.
The raw response is held in memory only for a `RetainingRecorder` (and, until the exchange is
over, for the classifier's text), and written durably before the chunk carrying
`message_stop` (or the JSON body) is sent, so a response the client saw complete is stored; a
stream that ends early is written by the recorder at the end of the exchange, as far as it was
relayed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from zdr.errors import UpstreamError, UpstreamTimeout
from zdr.gateway import upstream
from zdr.gateway.asgi import Send
from zdr.gateway.exchange import Exchange
from zdr.gateway.observe import MessageObserver
from zdr.gateway.recorders import MetadataRecorder, RetainingRecorder
from zdr.gateway.responses import (
    Headers,
    base_headers,
    error_payload,
    new_request_id,
    send_body,
    send_error,
)
from zdr.ports import RetainedContent, Upstream, UpstreamReply

MAX_ERROR_BODY = 1024 * 1024
SSE_TYPE = b"text/event-stream"
TRUNCATED = "The upstream connection ended before the response was complete."
STORE_FAILED = "The response could not be stored as this organization's retention requires."
Settle = Callable[[], Awaitable[None]]


class Relay:
    """One per worker: relays through `upstream` (`zdr.ports.Upstream`) under the provider's
    credential."""

    def __init__(self, upstream: Upstream, provider_key: str, *,
                 forward_knobs: bool = False) -> None:
        self.upstream = upstream
        self._provider_key = provider_key
        self._forward_knobs = forward_knobs

    async def start(self) -> None:
        await self.upstream.start()

    async def close(self) -> None:
        await self.upstream.close()

    async def run(
        self,
        ex: Exchange,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        send: Send,
        recorder: MetadataRecorder,
        observer: MessageObserver | None,
        settle: Settle | None = None,
    ) -> None:
        """Relay one request; sets `ex.status`, `ex.outcome` and the token counts. `settle`
        runs once, before the chunk that completes a Messages response is sent."""
        out_headers = upstream.request_headers(
            headers, self._provider_key, forward_knobs=self._forward_knobs
        )
        removed = ex.decision.betas_removed
        if removed:     # rule 5a: only the betas eligible under the org's arrangement go upstream
            out_headers.pop("anthropic-beta", None)
            if ex.decision.betas_kept:
                out_headers["anthropic-beta"] = ",".join(ex.decision.betas_kept)
        try:
            async with self.upstream.request(method, target, out_headers, body) as reply:
                ex.request_id = reply.headers.get("request-id") or new_request_id()
                common = base_headers(ex.request_id, ex.decision.retention_label)
                if removed:
                    common.append((b"zdr-betas-removed", ",".join(removed).encode()))
                common.extend(upstream.response_headers(reply.headers))
                content_type = reply.headers.get("content-type", "application/json")
                if reply.status >= 400:
                    await self._error(ex, reply, send, common)
                elif content_type.startswith("text/event-stream"):
                    await self._stream(ex, reply, body, send, recorder, observer, common,
                                       settle)
                elif observer is not None:
                    await self._message(ex, reply, body, send, recorder, observer, common,
                                        content_type, settle)
                else:
                    await self._passthrough(ex, reply, send, common, content_type)
        except UpstreamError as error:    # translated by the Upstream (zdr.errors)
            ex.request_id = ex.request_id or new_request_id()
            ex.outcome = "timeout" if isinstance(error, UpstreamTimeout) else "upstream_error"
            if ex.ttfb is None:   # nothing sent yet: an ordinary error response
                ex.status = error.status
                await send_error(send, error.status, error.error_type, error.message,
                                 ex.request_id, ex.decision.retention_label)
            else:                 # mid-stream: an SSE error event, as the API itself sends
                await _send_sse_error(send, error.error_type, error.message, ex.request_id)
        if observer is not None:
            ex.input_tokens = observer.input_tokens
            ex.output_tokens = observer.output_tokens

    async def _error(
        self, ex: Exchange, reply: UpstreamReply, send: Send, common: Headers
    ) -> None:
        data = bytearray()
        async for chunk in reply.chunks():   # bounded: an error body is never streamed on
            data += chunk[:MAX_ERROR_BODY - len(data)]
            if len(data) >= MAX_ERROR_BODY:
                break
        ex.status = reply.status
        ex.outcome = upstream.outcome_for_status(reply.status)
        ex.mark_first_byte()
        await send_body(send, reply.status, upstream.error_body(reply.status, bytes(data),
                                                                   ex.request_id), common)

    async def _stream(
        self,
        ex: Exchange,
        reply: UpstreamReply,
        request_body: bytes,
        send: Send,
        recorder: MetadataRecorder,
        observer: MessageObserver | None,
        common: Headers,
        settle: Settle | None,
    ) -> None:
        ex.stream = True
        ex.status = reply.status
        await send({
            "type": "http.response.start",
            "status": reply.status,
            "headers": [(b"content-type", SSE_TYPE), (b"cache-control", b"no-cache"), *common],
        })
        ex.mark_first_byte()
        retaining = recorder if isinstance(recorder, RetainingRecorder) else None
        if retaining is not None and observer is not None:
            retaining.relaying(request_body)     # kept as relayed, even if it ends early
        async for chunk in reply.chunks():
            if observer is not None:
                final = observer.feed(chunk)
                if retaining is not None:
                    retaining.relayed(chunk)
                    if final:
                        ex.input_tokens, ex.output_tokens = (observer.input_tokens,
                                                             observer.output_tokens)
                        if not await _retained(retaining, ex, retaining.content()):
                            await _send_sse_error(send, "api_error", STORE_FAILED, ex.request_id)
                            return
                if final and settle is not None:
                    await settle()
                    settle = None
            if settle is None and (observer is None or observer.completed) and reply.ended:
                # the last chunk of a complete stream: it ends the answer, in the same send
                await send({"type": "http.response.body", "body": chunk, "more_body": False})
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if settle is not None:          # ended without `message_stop`: what was seen is settled
            await settle()
        if observer is not None and not observer.completed:
            ex.outcome = "upstream_error"
            if not observer.errored:
                await _send_sse_error(send, "api_error", TRUNCATED, ex.request_id, final=False)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _message(
        self,
        ex: Exchange,
        reply: UpstreamReply,
        request_body: bytes,
        send: Send,
        recorder: MetadataRecorder,
        observer: MessageObserver,
        common: Headers,
        content_type: str,
        settle: Settle | None,
    ) -> None:
        data = await reply.read()
        ex.status = reply.status
        observer.message(data)
        if settle is not None:
            await settle()
        ex.input_tokens, ex.output_tokens = observer.input_tokens, observer.output_tokens
        if isinstance(recorder, RetainingRecorder) and not await _retained(
            recorder, ex, RetainedContent(request_body, data)
        ):
            ex.status = 503
            await send_error(send, 503, "api_error", STORE_FAILED, ex.request_id,
                             ex.decision.retention_label)
            return
        ex.mark_first_byte()
        await send_body(send, reply.status, data, common, content_type.encode("latin-1"))

    async def _passthrough(
        self, ex: Exchange, reply: UpstreamReply, send: Send, common: Headers,
        content_type: str,
    ) -> None:
        ex.status = reply.status
        await send({
            "type": "http.response.start",
            "status": reply.status,
            "headers": [(b"content-type", content_type.encode("latin-1")), *common],
        })
        ex.mark_first_byte()
        async for chunk in reply.chunks():
            ended = reply.ended
            await send({"type": "http.response.body", "body": chunk, "more_body": not ended})
            if ended:
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_sse_error(
    send: Send, error_type: str, message: str, request_id: str, *, final: bool = True
) -> None:
    payload = error_payload(error_type, message, request_id)
    chunk = b"event: error\ndata: " + payload + b"\n\n"
    await send({"type": "http.response.body", "body": chunk, "more_body": not final})


async def _retained(recorder: RetainingRecorder, ex: Exchange, content: RetainedContent) -> bool:
    """Write the retained content durably; False (and the outcome set) if the store failed."""
    try:
        await recorder.retain(ex.metadata(), content)
    except Exception:  # noqa: BLE001 - any store failure: the client must not see "complete"
        ex.outcome = "store_unavailable"
        return False
    return True
