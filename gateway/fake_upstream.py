"""DEMO / TEST UPSTREAM — a tiny fake that speaks the OpenAI protocol. It does not call any model: it echoes
canned text and reports token usage, so the gateway can be exercised without network access.

- In process: ``FakeUpstream().transport()`` with ``gateway.upstream.use_transport`` (``httpx.MockTransport``).
- As a real HTTP server on 127.0.0.1 (browser tests, the benchmark, ``make demo``):
  ``python -m gateway.fake_upstream --port 8011`` or ``ServerThread(FakeUpstream())``; it is an ASGI app
  (``asgi_app``) run by uvicorn.

Switches on the instance make it misbehave: ``fail_status`` (e.g. 500 or 429), ``connect_error``,
``die_after`` (stream chunks before the connection drops), ``report_usage``; ``latency`` (seconds before the
answer) and ``chunk_delay`` (seconds between streamed chunks) make it slow like a real model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

REPLY = "你好！This is the OPC Hub demo upstream."
EMBEDDING_SIZE = 8


@dataclass
class FakeUpstream:
    api_key: str = "demo-upstream-key"
    fail_status: int | None = None
    connect_error: bool = False
    die_after: int | None = None
    report_usage: bool = True
    reply: str = REPLY
    prompt_tokens: int = 11
    cached_tokens: int = 0
    latency: float = 0.0
    chunk_delay: float = 0.0
    keep_requests: bool = True
    gate: threading.Event | None = None  # tests: hold every answer until the event is set
    waiting: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.connect_error:
            raise httpx.ConnectError("demo upstream refuses connections", request=request)
        body = json.loads(request.content or b"{}")
        if self.keep_requests:
            self.requests.append({"url": str(request.url), "body": body})
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.gate is not None and not self.gate.is_set():
            self.waiting += 1
            while not self.gate.is_set():
                await asyncio.sleep(0.01)
            self.waiting -= 1
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if self.fail_status is not None:
            return _error(self.fail_status, "demo upstream failure", "demo_failure")
        path = request.url.path
        if path.endswith("/chat/completions"):
            return self._chat(body)
        if path.endswith("/embeddings"):
            return self._embeddings(body)
        return _error(404, "Unknown path.", "not_found")

    def _usage(self, completion: int) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
        }

    def _chat(self, body: dict[str, Any]) -> httpx.Response:
        words = self.reply.split(" ")
        completion = len(words) * 2
        if not body.get("stream"):
            data: dict[str, Any] = {
                "id": "chatcmpl-demo",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.reply},
                        "finish_reason": "stop",
                    }
                ],
            }
            if self.report_usage:
                data["usage"] = self._usage(completion)
            return httpx.Response(200, json=data)
        include_usage = (body.get("stream_options") or {}).get("include_usage") is True
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=self._stream(body, words, include_usage and self.report_usage, completion),
        )

    async def _stream(
        self, body: dict[str, Any], words: list[str], include_usage: bool, completion: int
    ) -> AsyncIterator[bytes]:
        base = {
            "id": "chatcmpl-demo",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body["model"],
        }
        # Chunk i is due ``i * chunk_delay`` after the first, like a model generating at its own pace: a late
        # wake-up (this process waiting for the CPU) delays one chunk, not every chunk after it.
        due = time.monotonic()
        for i, word in enumerate(words):
            if self.die_after is not None and i >= self.die_after:
                raise httpx.ReadError("demo upstream died mid-stream")
            if self.chunk_delay and i:
                due += self.chunk_delay
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            delta = {"content": word if i == 0 else " " + word}
            if i == 0:
                delta["role"] = "assistant"
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            if include_usage:
                chunk["usage"] = None
            yield _sse(chunk)
        yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if include_usage:
            yield _sse({**base, "choices": [], "usage": self._usage(completion)})
        yield b"data: [DONE]\n\n"

    def _embeddings(self, body: dict[str, Any]) -> httpx.Response:
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.125 * (i + 1)] * EMBEDDING_SIZE}
            for i in range(len(items))
        ]
        usage = {"prompt_tokens": self.prompt_tokens, "total_tokens": self.prompt_tokens}
        return httpx.Response(
            200, json={"object": "list", "data": data, "model": body.get("model"), "usage": usage}
        )


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"


def _error(status: int, message: str, code: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}},
    )


# --------------------------------------------------------------------------------------------- as a server


def asgi_app(fake: FakeUpstream) -> Callable[..., Any]:
    """The fake as an ASGI application (HTTP only). A stream that "dies" aborts the connection."""

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        query = scope.get("query_string", b"").decode()
        url = f"http://{scope.get('server', ('127.0.0.1', 80))[0]}{scope['path']}" + (
            f"?{query}" if query else ""
        )
        request = httpx.Request(scope["method"], url, headers=headers, content=body)
        try:
            response = await fake.handle(request)
        except httpx.ConnectError:
            return  # no response: uvicorn answers 500 / drops; use a closed port for real refusals
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in response.headers.items()
                    if k.lower() not in {"content-length", "transfer-encoding"}
                ],
            }
        )
        try:
            await send({"type": "http.response.body", "body": response.content, "more_body": False})
            return
        except httpx.ResponseNotRead:  # a stream
            pass
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """Runs the fake on 127.0.0.1 in a background thread (tests). ``url`` is its ``/v1`` base URL."""

    def __init__(self, fake: FakeUpstream, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        config = uvicorn.Config(
            asgi_app(fake), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="demo-upstream", daemon=True)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the demo upstream did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def main() -> None:  # pragma: no cover - a command-line entry point
    parser = argparse.ArgumentParser(description="DEMO upstream: a fake OpenAI-compatible model service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--api-key", default=FakeUpstream.api_key)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait before answering")
    parser.add_argument("--chunk-ms", type=float, default=0.0, help="wait between streamed chunks")
    parser.add_argument("--reply-words", type=int, default=0, help="a reply of N words (N streamed chunks)")
    args = parser.parse_args()
    import uvicorn

    fake = FakeUpstream(
        api_key=args.api_key,
        latency=args.latency_ms / 1000,
        chunk_delay=args.chunk_ms / 1000,
        keep_requests=False,
    )
    if args.reply_words > 0:
        fake.reply = " ".join(["词元"] * args.reply_words)
    print(
        f"demo upstream (fake OpenAI-compatible, no real model) on http://{args.host}:{args.port}/v1",
        flush=True,
    )
    uvicorn.run(
        asgi_app(fake),
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":  # pragma: no cover
    main()
