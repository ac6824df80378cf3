"""How the gateway's async code reaches the database.

Served by the gateway's ASGI app (``gateway.asgi``, started with lifespan), ORM calls run on a small
dedicated thread pool: each thread keeps one persistent connection, so a request costs no connect and no
thread start-up (Django's own async handling gives every request a fresh thread and connection). The pool
size bounds the connections per process. A call that fails with a broken connection closes it, so the next
call on that thread reconnects.

Anywhere else (Django's test client, ``runserver``, WSGI) calls run thread-sensitively, like any Django
async view, so they share the caller's connection and transaction.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
)

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None
_thread_connections: list[Any] = []


def default_pool_size() -> int:
    return max(2, int(os.environ.get("GATEWAY_DB_THREADS", "8")))


def use_pool(size: int | None = None) -> None:
    """Run the gateway's ORM calls on a pool of ``size`` threads (one connection each)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=size or default_pool_size(),
            thread_name_prefix="gateway-db",
            initializer=_remember_connection,
        )


def _remember_connection() -> None:
    _thread_connections.append(connections[DEFAULT_DB_ALIAS])


def shutdown_pool() -> None:
    """Stop the pool and close its threads' connections (server shutdown)."""
    global _executor
    executor, _executor = _executor, None
    if executor is None:
        return
    executor.shutdown(wait=True)
    while _thread_connections:
        wrapper = _thread_connections.pop()
        wrapper.inc_thread_sharing()  # closed from this thread, once its own thread is done
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


def pooled() -> bool:
    return _executor is not None


def _guarded(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        return func(*args, **kwargs)
    except (OperationalError, InterfaceError):
        connection.close()  # the next call on this thread reconnects
        raise
    except DatabaseError:
        if connection.connection is not None and not connection.is_usable():
            connection.close()
        raise


async def call(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run the synchronous ``func`` (ORM work) from async code."""
    executor = _executor
    if executor is None:
        return await sync_to_async(func, thread_sensitive=True)(*args, **kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(_guarded, func, *args, **kwargs))


async def later(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Bookkeeping nobody waits for: queued on the pool when pooled, else simply awaited."""
    executor = _executor
    if executor is None:
        await sync_to_async(func, thread_sensitive=True)(*args, **kwargs)
        return
    executor.submit(functools.partial(_guarded, func, *args, **kwargs))
