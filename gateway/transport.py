"""A lean HTTP/1.1 transport for the gateway's pooled ``httpx.AsyncClient``.

httpx's default transport (httpcore + h11 + anyio) costs tens of microseconds of Python per streamed chunk
and scans its whole pool, with a ``poll()`` per connection, for every request. A gateway relaying 200 streams
of ~20 chunks spends more CPU there than in everything else it does. This transport keeps httpx's client API
(requests, responses, timeouts, exceptions — the rest of the gateway does not know it is there) and does the
wire work with uvicorn's parser (``httptools``) on an ``asyncio.Protocol``:

- keep-alive connections per origin in a LIFO list (taking one is O(1); a connection the server closed is
  noticed by the protocol and never reused);
- response bodies (Content-Length or chunked) arrive as the parser's body callbacks and are handed on as they
  come, with back-pressure (reading pauses while 1 MiB waits unread);
- timeouts: ``connect`` for opening, ``read`` for every wait of the response; errors are httpx's own
  (``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``RemoteProtocolError``…), so failover works as
  with httpcore. A reused connection that turns out closed before answering is retried once on a fresh
  one (the upstream never saw the request), instead of failing the channel.

HTTP and HTTPS without a proxy; with ``HTTP(S)_PROXY``/``ALL_PROXY`` in the environment the client keeps
httpx's default transport (``gateway.upstream``).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import httptools
import httpx

MAX_BUFFERED = 1 << 20
Origin = tuple[str, str, int]


class _Connection(asyncio.Protocol):
    """One upstream connection; parses one response at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.received_any = False
        self.timer: asyncio.TimerHandle | None = None
        self.timeout = 0.0
        self.wait_started = 0.0
        self.timed_out = False
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.message_done = False
        self.keep_alive = False
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.paused = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = exc
            self.close()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.message_done and self.error is None:
            self.error = exc or ConnectionResetError("the upstream closed the connection")
        self._wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > MAX_BUFFERED and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        self.message_done = True

    # for the transport
    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until more arrived, the connection ended, or ``timeout`` seconds passed without either
        (``TimeoutError``). One timer per connection is re-armed only when it fires, not one per wait: a
        stream waits ~20 times in a second with a timeout of minutes."""
        loop = asyncio.get_running_loop()
        self.waiter = waiter = loop.create_future()
        self.wait_started = loop.time()
        if timeout is not None:
            self.timeout = timeout
            if self.timer is None:
                self.timer = loop.call_later(timeout, self._check_timeout)
        try:
            await waiter
        finally:
            self.waiter = None
        if self.timed_out:
            self.timed_out = False
            raise TimeoutError

    def _check_timeout(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done() or self.closed:
            return  # not waiting now; the next wait arms the timer again
        loop = asyncio.get_running_loop()
        left = self.wait_started + self.timeout - loop.time()
        if left <= 0:
            self.timed_out = True
            waiter.set_result(None)
        else:
            self.timer = loop.call_later(left, self._check_timeout)

    def take(self) -> bytes:
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.paused and self.buffered <= MAX_BUFFERED // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.close()


class _Body(httpx.AsyncByteStream):
    def __init__(
        self,
        pool: LeanTransport,
        origin: Origin,
        conn: _Connection,
        request: httpx.Request,
        read: float | None,
    ) -> None:
        self.pool, self.origin, self.conn, self.request, self.read = pool, origin, conn, request, read
        self.finished = False
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self.conn
        while True:
            while conn.chunks:
                yield conn.take()
            if conn.message_done:
                self.finished = True
                return
            if conn.error is not None or conn.closed:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body", request=self.request
                )
            try:
                await conn.wait(self.read)
            except TimeoutError:
                raise httpx.ReadTimeout(
                    "timed out reading the upstream's response", request=self.request
                ) from None

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        conn = self.conn
        if self.finished and conn.keep_alive and not conn.closed and conn.error is None:
            self.pool.put_back(self.origin, conn)
        else:
            conn.close()


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_expiry: float = 10.0,
        max_idle: int = 512,
    ) -> None:
        self.ssl_context = ssl_context
        self.keepalive_expiry = keepalive_expiry
        self.max_idle = max_idle
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0

    def put_back(self, origin: Origin, conn: _Connection) -> None:
        if self._idle_count >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conn.received_any = False
        self._idle.setdefault(origin, []).append(conn)
        self._idle_count += 1

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if conn.closed or conn.received_any or now - conn.idle_since > self.keepalive_expiry:
                conn.close()  # closed by the server, sent something unasked for, or too old
                continue
            return conn
        return None

    async def _connect(self, origin: Origin, request: httpx.Request, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls: dict[str, Any] = {}
        if scheme == "https":
            tls = {"ssl": self.ssl_context or ssl.create_default_context(), "server_hostname": host}
        try:
            async with asyncio.timeout(timeout):
                _transport, conn = await loop.create_connection(_Connection, host, port, **tls)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from None
        return conn

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in {"http", "https"}:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}", request=request)
        origin: Origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts = request.extensions.get("timeout") or {}
        read_timeout = timeouts.get("read")
        body = request.content if isinstance(request.stream, httpx.ByteStream) else await request.aread()
        head = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1\r\n".encode("ascii")]
        head += [name + b": " + value + b"\r\n" for name, value in request.headers.raw]
        head.append(b"\r\n")
        message = b"".join(head) + body

        conn = self._take_idle(origin)
        reused = conn is not None
        while True:
            if conn is None:
                conn = await self._connect(origin, request, timeouts.get("connect"))
            conn._reset()
            conn.received_any = False
            assert conn.transport is not None
            conn.transport.write(message)
            try:
                while not conn.headers_done:
                    if conn.error is not None or conn.closed:
                        break
                    await conn.wait(read_timeout)
            except TimeoutError:
                conn.close()
                raise httpx.ReadTimeout(
                    "timed out waiting for the upstream's answer", request=request
                ) from None
            except BaseException:
                conn.close()
                raise
            if conn.headers_done:
                break
            conn.close()
            if reused and not conn.received_any:  # a stale keep-alive connection: once more, fresh
                reused, conn = False, None
                continue
            raise httpx.RemoteProtocolError(
                "the upstream closed the connection without answering", request=request
            )

        return httpx.Response(
            conn.status,
            headers=conn.raw_headers,
            stream=_Body(self, origin, conn, request, read_timeout),
            extensions={"http_version": b"HTTP/1.1"},
            request=request,
        )

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        self._idle_count = 0


def raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The response body's chunks as they arrive. For a response of this transport, its own iterator: the
    relay then skips httpx's wrappers (two async generators and a chunker per chunk, the gateway's hottest
    loop); closing the response still puts the connection back. Any other response: ``aiter_raw``."""
    stream = getattr(response.stream, "_stream", None)  # httpx's BoundAsyncStream around the transport's
    if isinstance(stream, _Body) and not response.is_stream_consumed:
        response.is_stream_consumed = True
        return stream.__aiter__()
    return response.aiter_raw()
