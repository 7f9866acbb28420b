"""The request-body limit in front of the app (:mod:`triplanenet.app.body_limit`), on a small Starlette app."""
from __future__ import annotations

import contextlib

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from triplanenet.app.body_limit import DRAIN_FACTOR, BodyLimit, body_limit_bytes

LIMIT = 1000


def in_bytes(size_mb: float) -> str:
    """The refusal's message: the size it was given, back in bytes."""
    return f"{size_mb * 2**20:.0f} bytes"


def client() -> tuple[TestClient, list[int]]:
    """A client of an app that records the size of each body it reads, behind a :data:`LIMIT`-byte limit."""
    seen: list[int] = []

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        seen.append(len(body))
        return JSONResponse({"size": len(body)})

    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])],
                    middleware=[Middleware(BodyLimit, limit=LIMIT, message=in_bytes)])
    return TestClient(app), seen


def test_bodies_within_the_limit_reach_the_app():
    test, seen = client()
    assert test.post("/echo", content=b"x" * LIMIT).json() == {"size": LIMIT}
    assert seen == [LIMIT]


def test_a_declared_body_over_the_limit_is_refused_before_the_app_reads_it():
    test, seen = client()
    answer = test.post("/echo", content=b"x" * (LIMIT + 1))
    assert answer.status_code == 413 and answer.json() == {"detail": f"{LIMIT + 1} bytes"}
    assert seen == []


@pytest.mark.parametrize("chunks", [4, 40])
def test_a_body_without_a_declared_size_is_refused_once_it_passes_the_limit(chunks):
    test, seen = client()
    answer = test.post("/echo", content=(b"x" * 300 for _ in range(chunks)))
    assert answer.status_code == 413 and answer.text == f"{300 * chunks} bytes"  # Starlette's text for HTTPException
    assert seen == []


def run_asgi(chunks: int, declared: int | None) -> tuple[int, list[dict]]:
    """Send a body of ``chunks`` 300-byte messages through the limit to a reading app;
    the messages consumed and what was sent back."""
    import asyncio

    consumed, sent = 0, []

    async def receive() -> dict:
        nonlocal consumed
        consumed += 1
        return {"type": "http.request", "body": b"x" * 300, "more_body": consumed < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    async def app(scope, receive, send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})

    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    limited = BodyLimit(app, limit=LIMIT, message=in_bytes)
    with contextlib.suppress(HTTPException):
        asyncio.run(limited({"type": "http", "headers": headers}, receive, send))
    return consumed, sent


@pytest.mark.parametrize("declared", [None, 300 * 12])
def test_a_refused_body_is_read_to_its_end_so_the_client_gets_the_answer(declared):
    consumed, sent = run_asgi(12, declared)
    assert consumed == 12
    if declared is not None:
        assert sent[0]["status"] == 413 and b"3600 bytes" in b"".join(m.get("body", b"") for m in sent)


@pytest.mark.parametrize("declared", [None, 300 * 1000])
def test_a_huge_refused_body_is_cut_off(declared):
    consumed, _ = run_asgi(1000, declared)
    assert consumed <= DRAIN_FACTOR * LIMIT // 300 + 1


def test_the_limit_fits_an_inline_upload_of_the_allowed_size():
    assert 40 * 2**20 * 4 / 3 < body_limit_bytes(40) < 41 * 2**20 * 4 / 3
