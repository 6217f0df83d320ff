"""The probe server over a real socket: GET routes as before, and bodies for a handler."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sealbox.probes import PLAIN, ProbeServer, Reply, Request, Response


def _routes(path: str) -> Response | None:
    return (200, PLAIN, b"ok\n") if path == "/healthz" else None


async def _exchange(server: ProbeServer, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    await writer.wait_closed()
    return answer


def _serve(server: ProbeServer, scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        await server.start()
        try:
            await scenario()
        finally:
            await server.stop()

    asyncio.run(main())


def test_get_routes_answer_as_before_without_a_handler() -> None:
    server = ProbeServer("127.0.0.1", 0, _routes)

    async def scenario() -> None:
        ok = await _exchange(server, b"GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 OK\r\n")
        assert ok.endswith(b"\r\n\r\nok\n")
        head = await _exchange(server, b"HEAD /healthz HTTP/1.1\r\n\r\n")
        assert b"Content-Length: 3\r\n" in head
        assert head.endswith(b"\r\n\r\n")
        refused = await _exchange(server, b"POST /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
        assert refused.startswith(b"HTTP/1.1 405 ")
        missing = await _exchange(server, b"GET /nope HTTP/1.1\r\n\r\n")
        assert missing.startswith(b"HTTP/1.1 404 ")

    _serve(server, scenario)


def test_a_handler_sees_method_headers_and_body_within_the_cap() -> None:
    seen: list[Request] = []

    async def handler(request: Request) -> Reply | None:
        if request.path != "/echo":
            return None
        seen.append(request)
        return 200, "application/octet-stream", request.body[::-1], {"X-Seen": request.method}

    server = ProbeServer("127.0.0.1", 0, _routes, handler=handler, max_body=16)

    async def scenario() -> None:
        answer = await _exchange(
            server,
            b"PUT /echo?q HTTP/1.1\r\nContent-Length: 5\r\nX-Forwarded-For: 10.0.0.1\r\n\r\nhello",
        )
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"X-Seen: PUT\r\n" in answer
        assert answer.endswith(b"\r\n\r\nolleh")
        (request,) = seen
        assert request.path == "/echo"
        assert request.headers["x-forwarded-for"] == "10.0.0.1"

        too_big = await _exchange(server, b"POST /echo HTTP/1.1\r\nContent-Length: 17\r\n\r\n")
        assert too_big.startswith(b"HTTP/1.1 413 ")
        chunked = await _exchange(
            server, b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        assert chunked.startswith(b"HTTP/1.1 411 ")
        assert len(seen) == 1  # neither reached the handler

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /echo HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        await writer.drain()
        assert await reader.readline() == b"HTTP/1.1 100 Continue\r\n"
        writer.write(b"short")
        writer.write_eof()  # the body ends before its Content-Length
        rest = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        assert b"HTTP/1.1 400 Bad Request\r\n" in rest

        # the handler declined: the GET routes answer
        assert (await _exchange(server, b"GET /healthz HTTP/1.1\r\n\r\n")).endswith(b"ok\n")

    _serve(server, scenario)


def test_a_failing_handler_answers_500_and_the_server_keeps_serving() -> None:
    async def handler(request: Request) -> Reply | None:
        raise RuntimeError("bug")

    server = ProbeServer("127.0.0.1", 0, _routes, handler=handler)

    async def scenario() -> None:
        for _ in range(2):
            answer = await _exchange(server, b"GET /x HTTP/1.1\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 500 ")

    _serve(server, scenario)
