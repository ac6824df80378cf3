"""The OpenAI-compatible endpoints, as Django async views (served by the project's ASGI application).

Why Django async views rather than a separate Starlette app: one process, one settings/ORM/i18n stack and one
test client, and the gateway's hot path is network-bound (the upstream call is awaited on the pooled httpx
client, never in a thread). The ORM work — authenticate, reserve, settle — is three short ``sync_to_async``
calls per request. Should the project's sync middleware stack prove too slow at scale, these views only
need a request body and headers, so they can be mounted in a bare ASGI router in front of Django.

Bodies are never stored: only counts, money and outcomes reach the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from gateway import services, tokens
from gateway.errors import (
    GatewayError,
    InvalidApiKey,
    InvalidRequest,
    ModelNotAllowed,
    ModelNotFound,
    RateLimited,
    UpstreamUnavailable,
    error_response,
)
from gateway.models import ChannelModel, ModelPrice, Outcome, UsageSource, VirtualKey
from gateway.upstream import Opened, Route, load_routes, open_upstream

R = TypeVar("R", bound=HttpResponseBase)

MAX_BODY_BYTES = 8 * 1024 * 1024
_SETTLING: set[asyncio.Future[None]] = set()
RESERVE_SAFETY = Decimal("1.25")  # local prompt counts are estimates; hold a little more


# --------------------------------------------------------------------------------------------- helpers


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _space, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _authenticate_sync(secret: str) -> VirtualKey:
    if not secret:
        raise InvalidApiKey(_("You didn't provide an API key (Authorization: Bearer …)."))
    key = services.authenticate_key(secret)
    if key is None:
        raise InvalidApiKey()
    if key.revoked_at is not None:
        raise InvalidApiKey(_("This API key has been revoked."))
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise InvalidApiKey(_("This API key has expired."))
    services.touch_key(key.pk)
    return key


async def _authenticate(request: HttpRequest) -> VirtualKey:
    return await sync_to_async(_authenticate_sync)(_bearer(request))


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise InvalidRequest(_("The request body is too large."))
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(_("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise InvalidRequest(_("The request body must be a JSON object."))
    return body


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(_("%(name)s must be a positive integer.") % {"name": name}, param=name)
    return value


@dataclass
class Plan:
    key: VirtualKey
    model: str
    price: ModelPrice
    routes: list[Route]


def _plan_sync(key: VirtualKey, model: Any) -> Plan:
    if not isinstance(model, str) or not model:
        raise InvalidRequest(_("You must provide a model parameter."), param="model")
    if not key.allows(model):
        raise ModelNotAllowed(_("This key may not use the model “%(model)s”.") % {"model": model})
    routes = load_routes(model)
    price = services.price_in_force(model)
    if not routes or price is None:
        raise ModelNotFound(
            _("The model “%(model)s” does not exist or is not served here.") % {"model": model}, param="model"
        )
    return Plan(key=key, model=model, price=price, routes=routes)


async def _rate_limit(key: VirtualKey, *, tokens_needed: int) -> None:
    """Fixed one-minute windows in the cache (shared when the cache is Redis)."""
    if key.rpm_limit is None and key.tpm_limit is None:
        return
    window = int(timezone.now().timestamp() // 60)
    if key.rpm_limit is not None:
        name = f"gw:rpm:{key.pk}:{window}"
        await cache.aadd(name, 0, 120)
        if await cache.aincr(name) > key.rpm_limit:
            raise RateLimited(_("This key may make %(n)d requests per minute.") % {"n": key.rpm_limit})
    if key.tpm_limit is not None:
        name = f"gw:tpm:{key.pk}:{window}"
        await cache.aadd(name, 0, 120)
        if await cache.aincr(name, tokens_needed) > key.tpm_limit:
            raise RateLimited(_("This key may use %(n)d tokens per minute.") % {"n": key.tpm_limit})


def _new_request_id() -> str:
    return f"gw-{uuid.uuid4().hex}"


def _upstream_error(opened: Opened) -> HttpResponse:
    """A non-retryable upstream error (e.g. 400), passed back in OpenAI's shape."""
    response = opened.response
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        return error_response(
            response.status_code,
            str(error.get("message") or ""),
            type=str(error.get("type") or "invalid_request_error"),
            code=error.get("code"),
            param=error.get("param"),
        )
    return error_response(response.status_code, _("The upstream refused the request."), type="api_error")


def _usage_numbers(usage: Any) -> tuple[int, int, int] | None:
    if not isinstance(usage, dict):
        return None
    try:
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    except (TypeError, ValueError):
        return None
    return prompt, completion, cached


async def _release(request_id: str, *, outcome: str, attempts: int = 0, status: int | None = None) -> None:
    await sync_to_async(services.release)(
        request_id=request_id, outcome=outcome, attempts=attempts, upstream_status=status
    )


def _with_id(response: R, request_id: str) -> R:
    response["X-OPC-Request-Id"] = request_id
    return response


# --------------------------------------------------------------------------------------------- endpoints


@csrf_exempt
async def models_list(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return error_response(405, _("Use GET."), type="invalid_request_error")
    try:
        key = await _authenticate(request)
    except GatewayError as error:
        return error.response()

    def names() -> list[str]:
        served = set(
            ChannelModel.objects.filter(is_enabled=True, channel__is_enabled=True).values_list(
                "public_name", flat=True
            )
        )
        priced = set(
            ModelPrice.objects.filter(model__in=served, effective_from__lte=timezone.now()).values_list(
                "model", flat=True
            )
        )
        return sorted(name for name in served & priced if key.allows(name))

    created = int(key.created_at.timestamp())
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "opchub"}
        for name in await sync_to_async(names)()
    ]
    return JsonResponse({"object": "list", "data": data})


@csrf_exempt
async def embeddings(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return error_response(405, _("Use POST."), type="invalid_request_error")
    try:
        key = await _authenticate(request)
        body = _json_body(request)
        if body.get("input") in (None, "", []):
            raise InvalidRequest(_("You must provide an input."), param="input")
        plan = await sync_to_async(_plan_sync)(key, body.get("model"))
        prompt_estimate = tokens.count_embedding_input(body["input"])
        await _rate_limit(key, tokens_needed=prompt_estimate)
        request_id = _new_request_id()
        max_cost = services.cost_of(
            plan.price, prompt_tokens=int(prompt_estimate * RESERVE_SAFETY) + 16, completion_tokens=0
        )
        await sync_to_async(services.reserve)(
            request_id=request_id,
            key=key,
            endpoint="embeddings",
            model=plan.model,
            stream=False,
            price=plan.price,
            max_cost=max_cost,
        )
    except GatewayError as error:
        return error.response()
    try:
        opened = await open_upstream(
            plan.routes,
            path="/embeddings",
            payload=lambda route: {**body, "model": route.upstream_model},
            stream=False,
        )
    except UpstreamUnavailable as error:
        await _release(request_id, outcome=Outcome.UPSTREAM_ERROR, attempts=getattr(error, "attempts", 0))
        return _with_id(error.response(), request_id)
    except BaseException:
        await _release(request_id, outcome=Outcome.UPSTREAM_ERROR)
        raise
    return await _finish_json(opened, request_id=request_id, plan=plan, prompt_estimate=prompt_estimate)


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return error_response(405, _("Use POST."), type="invalid_request_error")
    try:
        key = await _authenticate(request)
        body = _json_body(request)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest(_("messages must be a non-empty array."), param="messages")
        plan = await sync_to_async(_plan_sync)(key, body.get("model"))
        max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
        choices = _positive_int(body, "n") or 1
        stream = body.get("stream") is True
        prompt_estimate = tokens.count_messages(messages, body.get("tools"))
        max_output = max_tokens or max(route.max_output_tokens for route in plan.routes)
        await _rate_limit(key, tokens_needed=prompt_estimate + max_output * choices)
        request_id = _new_request_id()
        max_cost = services.cost_of(
            plan.price,
            prompt_tokens=int(prompt_estimate * RESERVE_SAFETY) + 16,
            completion_tokens=max_output * choices,
        )
        await sync_to_async(services.reserve)(
            request_id=request_id,
            key=key,
            endpoint="chat.completions",
            model=plan.model,
            stream=stream,
            price=plan.price,
            max_cost=max_cost,
        )
    except GatewayError as error:
        return error.response()

    client_wants_usage = False
    if stream:
        options = body.get("stream_options")
        options = dict(options) if isinstance(options, dict) else {}
        client_wants_usage = options.get("include_usage") is True
        options["include_usage"] = True  # so the upstream reports what the stream cost
        body["stream_options"] = options

    def payload(route: Route) -> dict[str, Any]:
        forwarded = {**body, "model": route.upstream_model}
        if max_tokens is None and "max_completion_tokens" not in body:
            forwarded["max_tokens"] = max_output  # never let the upstream exceed what was reserved
        return forwarded

    try:
        opened = await open_upstream(plan.routes, path="/chat/completions", payload=payload, stream=stream)
    except UpstreamUnavailable as error:
        await _release(
            request_id,
            outcome=Outcome.UPSTREAM_ERROR,
            attempts=getattr(error, "attempts", 0),
            status=getattr(error, "last_status", None),
        )
        return _with_id(error.response(), request_id)
    except BaseException:
        await _release(request_id, outcome=Outcome.UPSTREAM_ERROR)
        raise
    if not stream or opened.response.status_code != 200:
        return await _finish_json(opened, request_id=request_id, plan=plan, prompt_estimate=prompt_estimate)
    relay = StreamRelay(
        opened=opened,
        request_id=request_id,
        public_model=plan.model,
        prompt_estimate=prompt_estimate,
        client_wants_usage=client_wants_usage,
    )
    response = StreamingHttpResponse(relay.events(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return _with_id(response, request_id)


async def _finish_json(opened: Opened, *, request_id: str, plan: Plan, prompt_estimate: int) -> HttpResponse:
    response = opened.response
    common = {"channel_id": opened.route.channel_id, "attempts": opened.attempts}
    if response.status_code != 200:
        await sync_to_async(services.release)(
            request_id=request_id,
            outcome=Outcome.UPSTREAM_ERROR,
            upstream_status=response.status_code,
            **common,
        )
        return _with_id(_upstream_error(opened), request_id)
    try:
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        await sync_to_async(services.release)(
            request_id=request_id, outcome=Outcome.UPSTREAM_ERROR, upstream_status=200, **common
        )
        return _with_id(
            UpstreamUnavailable(_("The upstream sent an invalid response.")).response(), request_id
        )
    numbers = _usage_numbers(data.get("usage"))
    if numbers is not None:
        prompt, completion, cached = numbers
        source = UsageSource.UPSTREAM
    else:
        prompt, cached, source = prompt_estimate, 0, UsageSource.ESTIMATED
        completion = sum(
            tokens.count_text(str(((choice or {}).get("message") or {}).get("content") or ""))
            for choice in data.get("choices") or []
            if isinstance(choice, dict)
        )
    await sync_to_async(services.settle)(
        request_id=request_id,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        source=source,
        outcome=Outcome.OK,
        upstream_status=200,
        **common,
    )
    if "model" in data:
        data["model"] = plan.model
    return _with_id(JsonResponse(data), request_id)


# --------------------------------------------------------------------------------------------- streaming


@dataclass
class StreamRelay:
    """Relays the upstream's SSE events to the client, watching for the usage chunk, and settles when the
    stream ends — however it ends: finished, upstream died (charge what was counted, marked estimated), or
    client gone."""

    opened: Opened
    request_id: str
    public_model: str
    prompt_estimate: int
    client_wants_usage: bool
    usage: tuple[int, int, int] | None = None
    completion_text: list[str] = field(default_factory=list)
    done: bool = False
    buffer: bytes = b""

    def _event(self, raw: bytes) -> bytes | None:
        """One SSE event in, the bytes to send out (``None``: drop it)."""
        lines = raw.splitlines()
        data_lines = [line[5:].lstrip() for line in lines if line.startswith(b"data:")]
        if not data_lines:
            return raw + b"\n\n"
        data = b"\n".join(data_lines)
        if data.strip() == b"[DONE]":
            self.done = True
            return b"data: [DONE]\n\n"
        try:
            chunk = json.loads(data)
        except ValueError:
            return raw + b"\n\n"
        if not isinstance(chunk, dict):
            return raw + b"\n\n"
        numbers = _usage_numbers(chunk.get("usage"))
        if numbers is not None:
            self.usage = numbers
        for choice in chunk.get("choices") or []:
            delta = (choice or {}).get("delta") or {} if isinstance(choice, dict) else {}
            if isinstance(delta, dict):
                if delta.get("content"):
                    self.completion_text.append(str(delta["content"]))
                if delta.get("tool_calls"):
                    self.completion_text.append(str(delta["tool_calls"]))
        if "usage" in chunk and not self.client_wants_usage:
            if numbers is not None and not chunk.get("choices"):
                return None  # the usage-only chunk we asked for; the client did not
            del chunk["usage"]
        if "model" in chunk:
            chunk["model"] = self.public_model
        return b"data: " + json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"

    def _feed(self, data: bytes) -> bytes:
        self.buffer += data.replace(b"\r\n", b"\n")
        out = []
        while b"\n\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\n\n", 1)
            if raw.strip():
                event = self._event(raw)
                if event is not None:
                    out.append(event)
        return b"".join(out)

    async def events(self) -> AsyncIterator[bytes]:
        outcome = Outcome.OK
        try:
            try:
                first = self._feed(self.opened.first_chunk)
                if first:
                    yield first
                assert self.opened.chunks is not None
                async for data in self.opened.chunks:
                    out = self._feed(data)
                    if out:
                        yield out
                if not self.done:
                    outcome = Outcome.UPSTREAM_INTERRUPTED
            except httpx.TransportError:
                outcome = Outcome.UPSTREAM_INTERRUPTED
            if outcome == Outcome.UPSTREAM_INTERRUPTED:
                error = {
                    "error": {
                        "message": _("The upstream stopped in the middle of the response."),
                        "type": "api_error",
                        "code": "upstream_interrupted",
                        "param": None,
                    }
                }
                yield b"data: " + json.dumps(error, ensure_ascii=False).encode() + b"\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            outcome = Outcome.CLIENT_DISCONNECTED
            raise
        finally:
            # Shielded: a cancelled response (client gone) must still settle. The task is kept referenced
            # until done, so it is not garbage-collected half-way.
            settling = asyncio.ensure_future(self._settle(outcome))
            _SETTLING.add(settling)
            settling.add_done_callback(_SETTLING.discard)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(settling)

    async def _settle(self, outcome: str) -> None:
        try:
            await self.opened.response.aclose()
        finally:
            if self.usage is not None:
                prompt, completion, cached = self.usage
                source = UsageSource.UPSTREAM
            else:
                prompt, cached, source = self.prompt_estimate, 0, UsageSource.ESTIMATED
                completion = tokens.count_text("".join(self.completion_text))
            await sync_to_async(services.settle)(
                request_id=self.request_id,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cached_tokens=cached,
                source=source,
                outcome=outcome,
                channel_id=self.opened.route.channel_id,
                upstream_status=self.opened.response.status_code,
                attempts=self.opened.attempts,
            )
