"""A limit on the size of every request body, enforced before anything reads it.

Gradio parses a request's JSON body before any of our code runs, so an image sent
inline (a ``data:`` URL in the body of ``/gradio_api/queue/join``) used to be read,
parsed and held in memory in full before :func:`app.inline_bytes` could refuse it
(a 56 MiB body added about 200 MiB of RSS). :class:`BodyLimit` is an ASGI middleware
in front of every route:

* a body that declares a ``Content-Length`` over the limit is answered
  ``413 Payload Too Large`` without reaching the app;
* a body without one (chunked) is counted as it arrives, and the request fails with
  the same answer once the count passes the limit.

A refused body is read to its end and dropped chunk by chunk (up to
:data:`DRAIN_FACTOR` times the limit), so that a client that sends its whole body
before reading the answer gets the answer rather than a reset connection.

The answer is ``{"detail": message}`` as JSON, the way FastAPI answers its errors (a body
refused midway raises a 413 ``HTTPException``, which the app answers its own way).
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAYLOAD_TOO_LARGE = 413
BASE64_GROWTH = 4 / 3
"""Bytes of base64 text per byte of data: an image sent inline is this much larger than the file."""
ENVELOPE_BYTES = 2**20
"""Room for what surrounds an upload in a request: the JSON of the other inputs, multipart headers."""
DRAIN_FACTOR = 4
"""A refused body up to this many times the limit is read and dropped before the answer; a larger one is cut off."""


def body_limit_bytes(max_upload_mb: float) -> int:
    """The largest request body that can carry an upload of ``max_upload_mb`` MB (inline, as base64)."""
    return int(max_upload_mb * 2**20 * BASE64_GROWTH) + ENVELOPE_BYTES


class BodyLimit:
    """ASGI middleware refusing HTTP request bodies over ``limit`` bytes with 413 and ``message(size_mb)``.

    ``message`` receives the body's size in MB (its declared size, or how much had
    arrived when a body without a declared size passed the limit) and returns the
    text shown to the client.
    """

    def __init__(self, app: ASGIApp, limit: int, message: Callable[[float], str]):
        self.app, self.limit, self.message = app, limit, message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            if declared <= DRAIN_FACTOR * self.limit:
                await self._drain(receive)
            await self._refuse(send, declared)
            return
        await self.app(scope, self._counted(receive), send)

    def _counted(self, receive: Receive) -> Receive:
        """``receive`` that raises a 413 ``HTTPException`` once the body read so far passes the limit."""
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if message.get("more_body", False):
                        await self._drain(receive, received)
                    raise HTTPException(PAYLOAD_TOO_LARGE, self.message(received / 2**20))
            return message

        return counted

    async def _drain(self, receive: Receive, received: int = 0) -> None:
        """Read the rest of a refused body and drop it, up to :data:`DRAIN_FACTOR` times the limit."""
        while received <= DRAIN_FACTOR * self.limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps({"detail": self.message(size / 2**20)}).encode()
        await send({"type": "http.response.start", "status": PAYLOAD_TOO_LARGE,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    """The request's declared body size, or None when it declares none (or nonsense, left to the server)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
