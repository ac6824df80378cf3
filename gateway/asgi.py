"""The gateway's ASGI front: ``/v1/`` is answered by ``gateway.proxy`` directly, everything else by Django.

Why not through Django: the OpenAI-compatible API needs none of the site's middleware (sessions, CSRF,
locale, messages, the organisation scope…), and running them costs more than the gateway's own work. The
handlers are the same ``gateway.proxy`` functions Django's views call, so tests of one cover the other.

It also owns the process lifecycle (ASGI lifespan):
- startup: on PostgreSQL the money statements of a request run on the event loop (``gateway.sqlpath``),
  and most requests reserve and settle in memory from a quota lease of the worker, written in batches
  (``gateway.leases``; journals of workers that died are replayed first);
  other ORM calls move to a small pool of threads with persistent connections (``gateway.db``); a
  background loop posts settled usage to the ledger every 30 seconds and releases holds abandoned by a
  process that died (``services.post_all_usage`` / ``release_abandoned``);
- shutdown (after the server stopped taking requests and let the open ones finish): waits for settlements
  still running, writes the finished requests and gives the leases back, posts usage a last time, closes
  the connections. A restart therefore loses no settled usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from django.utils import translation
from django.utils.translation import trans_real

from gateway import db, leases, proxy, services, sqlpath, trace

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

# Posting usage to the ledger locks each member's meter row until its (synchronously committed) ledger
# transaction is on disk, and requests of that member wait for it: post every 30 s, not every few seconds.
# The meter is exact meanwhile (balances shown to members include it), and shutdown posts everything.
POST_EVERY = float(os.environ.get("GATEWAY_POST_EVERY", "30"))
SWEEP_EVERY = 300.0

ROUTES: dict[str, Callable[[proxy.Incoming], Awaitable[proxy.Outgoing]]] = {
    "/v1/chat/completions": proxy.chat_completions,
    "/v1/embeddings": proxy.embeddings,
    "/v1/models": proxy.models_list,
}


def _tune_gc() -> None:
    """The cyclic garbage collector stops the event loop while it runs, and every stream waits. After
    startup the process holds a few hundred thousand long-lived objects (Django, the apps, the caches),
    which every full collection walked: 100–300 ms, several times a minute under load. They are moved to
    the permanent generation (``gc.freeze``), which collections skip. The young generation is collected
    after 20 000 new objects instead of 700, the middle one after 10 of those, the oldest a tenth as often
    as by default (``GATEWAY_GC_THRESHOLD``, default ``20000,10,100``): a request's objects are freed by
    reference counting and the collections only catch the rare cycles, so collecting rarely costs little
    memory, and it cut the time the loop spent stopped by the collector about fourfold under 200 streams
    (≈ 35 young collections per worker in a 50 s benchmark instead of ≈ 250, and 3 middle ones of ≈ 1 ms
    instead of ≈ 20 of ≈ 8 ms). ``GATEWAY_GC_FREEZE=0`` keeps Python's behaviour."""
    if os.environ.get("GATEWAY_GC_FREEZE", "1") == "0":
        return
    gc.collect()
    gc.freeze()
    thresholds = os.environ.get("GATEWAY_GC_THRESHOLD", "20000,10,100")
    gc.set_threshold(*[int(n) for n in thresholds.split(",")][:3])


def _language(headers: dict[bytes, bytes]) -> str:
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    for code, _quality in trans_real.parse_accept_lang_header(accept):
        if code == "*":
            break
        try:
            return trans_real.get_supported_language_variant(code)
        except LookupError:
            continue
    from django.conf import settings

    return str(settings.LANGUAGE_CODE)


class GatewayASGI:
    def __init__(self, django_app: ASGIApp, *, background: bool = True) -> None:
        self.django_app = django_app
        self.background = background
        self._tasks: list[asyncio.Task[None]] = []
        self._profiler: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] == "http":
            path = scope["path"]
            if path.startswith("/v1/") or path == "/v1":
                await self.handle(scope, receive, send)
                return
        await self.django_app(scope, receive, send)

    # -- lifespan ----------------------------------------------------------------------------------------
    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # pragma: no cover - reported to the server
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        profile = os.environ.get("GATEWAY_PROFILE")  # a file: cProfile this worker until shutdown
        if profile:
            import cProfile

            self._profiler = cProfile.Profile()
            self._profiler.enable()
        # The event loop shares the GIL with the database threads (key and price loads, the background
        # posting): when one of them computes, a loop that released the GIL for a system call waits up to
        # the switch interval (5 ms by default) to get it back. 1 ms bounds that wait.
        sys.setswitchinterval(float(os.environ.get("GATEWAY_SWITCH_INTERVAL", "0.001")))
        db.use_pool()
        sqlpath.start()
        await leases.start()
        if self.background:
            self._tasks.append(asyncio.create_task(self._every(POST_EVERY, services.post_all_usage)))
            self._tasks.append(asyncio.create_task(self._every(SWEEP_EVERY, services.release_abandoned)))
        _tune_gc()

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await proxy.settle_pending()
        try:
            await leases.stop()
            await db.call(services.post_all_usage)
        finally:
            await sqlpath.stop()
            await asyncio.get_running_loop().run_in_executor(None, db.shutdown_pool)
        from gateway import upstream

        await upstream.close_clients()
        trace.dump()
        if self._profiler is not None:
            self._profiler.disable()
            self._profiler.dump_stats(f"{os.environ['GATEWAY_PROFILE']}.{os.getpid()}")

    async def _every(self, seconds: float, job: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await db.call(job)
            except Exception:  # keep the loop alive; the next round tries again
                log.exception("gateway background job %s failed", getattr(job, "__name__", job))

    # -- /v1/ --------------------------------------------------------------------------------------------
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        marks = trace.begin()
        try:
            await self._handle(scope, receive, send)
        finally:
            trace.end(marks)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        endpoint = ROUTES.get(scope["path"].rstrip("/"))
        with translation.override(_language(headers)):
            if endpoint is None:
                out = proxy.json_out(
                    {
                        "error": {
                            "message": translation.gettext("Unknown API path."),
                            "type": "invalid_request_error",
                            "code": "unknown_url",
                            "param": None,
                        }
                    },
                    404,
                )
            else:
                body = await self._body(receive)
                if body is None:
                    return  # the client left
                incoming = proxy.Incoming(
                    method=scope["method"],
                    authorization=headers.get(b"authorization", b"").decode("latin-1"),
                    body=body,
                )
                trace.mark("body")
                out = await endpoint(incoming)
            await self._send(out, receive, send)

    async def _body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= proxy.MAX_BODY_BYTES + 1:
                chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _send(self, out: proxy.Outgoing, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", out.content_type.encode())]
        headers += [(name.lower().encode(), value.encode("latin-1")) for name, value in out.headers.items()]
        if out.stream is None:
            headers.append((b"content-length", str(len(out.body)).encode()))
            await send({"type": "http.response.start", "status": out.status, "headers": headers})
            await send({"type": "http.response.body", "body": out.body})
            return
        await send({"type": "http.response.start", "status": out.status, "headers": headers})
        stream = out.stream

        async def relay() -> None:
            async for chunk in stream:
                last = isinstance(chunk, proxy.Last)
                await send({"type": "http.response.body", "body": chunk, "more_body": not last})
                trace.mark("sent")
                if last:
                    return
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        relaying = asyncio.create_task(relay())
        watching = asyncio.create_task(disconnected())
        try:
            await asyncio.wait({relaying, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watching, relaying):
                if not task.done():
                    task.cancel()
            for task in (relaying, watching):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
