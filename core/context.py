"""Per-request context (request id, client IP) carried in contextvars so services can audit without a request."""

from __future__ import annotations

import contextvars
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
client_ip_var: contextvars.ContextVar[str] = contextvars.ContextVar("client_ip", default="")


def current_request_id() -> str:
    """The id of the request being served, or a fresh one for work outside a request (tasks, commands)."""
    return request_id_var.get() or f"job-{uuid.uuid4().hex[:16]}"


def current_client_ip() -> str:
    return client_ip_var.get()
