"""The lean HTTP/1.1 transport under the gateway's httpx client, against a real demo upstream server."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest

from gateway.fake_upstream import FakeUpstream, ServerThread, free_port
from gateway.transport import LeanTransport


def _client(transport: LeanTransport, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, timeout=timeout)


def _chat(stream: bool, **extra: Any) -> dict[str, Any]:
    return {"model": "demo", "messages": [{"role": "user", "content": "你好"}], "stream": stream, **extra}


def test_plain_and_streamed_answers_reuse_one_connection() -> None:
    fake = FakeUpstream(reply="第一幕：星门开启。")
    transport = LeanTransport()

    async def run() -> tuple[list[Any], list[bytes], int]:
        async with _client(transport) as client:
            auth = {"Authorization": f"Bearer {fake.api_key}"}
            plain = []
            for _ in range(3):
                response = await client.post(
                    f"{server.url}/chat/completions", json=_chat(False), headers=auth
                )
                plain.append(response.json())
            request = client.build_request(
                "POST", f"{server.url}/chat/completions", json=_chat(True), headers=auth
            )
            response = await client.send(request, stream=True)
            chunks = [chunk async for chunk in response.aiter_raw()]
            await response.aclose()
            refused = await client.post(f"{server.url}/chat/completions", json=_chat(False))
            idle = sum(len(conns) for conns in transport._idle.values())
            return [*plain, refused.status_code, idle], chunks, response.status_code

    with ServerThread(fake) as server:
        results, chunks, status = asyncio.run(run())
    *plain, refused, idle = results
    assert [p["choices"][0]["message"]["content"] for p in plain] == [fake.reply] * 3
    assert status == 200 and b"".join(chunks).endswith(b"data: [DONE]\n\n")
    events = [json.loads(e[6:]) for e in b"".join(chunks).decode().split("\n\n") if e.startswith("data: {")]
    assert (
        "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"]) == fake.reply
    )
    assert refused == 401
    assert idle == 1  # every request went over the same keep-alive connection


def test_connect_errors_and_timeouts_are_httpx_errors() -> None:
    closed_port = free_port()
    slow = FakeUpstream(latency=2.0)
    transport = LeanTransport()

    async def run() -> list[type[BaseException]]:
        raised: list[type[BaseException]] = []
        async with _client(transport, timeout=0.3) as client:
            for url in (f"http://127.0.0.1:{closed_port}/v1/models", f"{server.url}/chat/completions"):
                try:
                    await client.post(
                        url, json=_chat(False), headers={"Authorization": f"Bearer {slow.api_key}"}
                    )
                except httpx.TransportError as exc:
                    raised.append(type(exc))
        return raised

    with ServerThread(slow) as server:
        assert asyncio.run(run()) == [httpx.ConnectError, httpx.ReadTimeout]


def test_an_upstream_dying_mid_stream_is_a_transport_error_and_a_stale_connection_is_retried() -> None:
    fake = FakeUpstream(die_after=2)
    transport = LeanTransport()

    async def run() -> tuple[int, str]:
        async with _client(transport) as client:
            auth = {"Authorization": f"Bearer {fake.api_key}"}
            request = client.build_request(
                "POST", f"{server.url}/chat/completions", json=_chat(True), headers=auth
            )
            response = await client.send(request, stream=True)
            with pytest.raises(httpx.TransportError):
                async for _chunk in response.aiter_raw():
                    pass
            await response.aclose()
            fake.die_after = None
            ok = await client.post(f"{server.url}/chat/completions", json=_chat(False), headers=auth)
            # The server closes the idle connection behind our back: the next request still succeeds.
            for conns in transport._idle.values():
                for conn in conns:
                    assert conn.transport is not None
                    sock = conn.transport.get_extra_info("socket")
                    sock.shutdown(socket.SHUT_RD)
            again = await client.post(f"{server.url}/chat/completions", json=_chat(False), headers=auth)
            return ok.status_code + again.status_code, again.json()["choices"][0]["message"]["content"]

    with ServerThread(fake) as server:
        statuses, content = asyncio.run(run())
    assert statuses == 400 and content == fake.reply
