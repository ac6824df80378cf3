"""DEMO / TEST UPSTREAM — a tiny fake that speaks the OpenAI protocol. It does not call any model: it echoes
canned text and reports token usage, so the gateway can be exercised without network access.

Use ``FakeUpstream().transport()`` with ``gateway.upstream.use_transport`` in tests (in-process,
``httpx.MockTransport``). Switches on the instance make it misbehave: ``fail_status`` (e.g. 500 or 429),
``connect_error``, ``die_after`` (stream chunks before the connection drops), ``report_usage``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
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
    requests: list[dict[str, Any]] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.connect_error:
            raise httpx.ConnectError("demo upstream refuses connections", request=request)
        body = json.loads(request.content or b"{}")
        self.requests.append({"url": str(request.url), "body": body})
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
        for i, word in enumerate(words):
            if self.die_after is not None and i >= self.die_after:
                raise httpx.ReadError("demo upstream died mid-stream")
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
