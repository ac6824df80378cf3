"""The OpenAI-compatible request path, independent of any web framework: ``Incoming`` (method, the
Authorization header, the body) in, ``Outgoing`` (status, JSON body or an SSE stream) out.

Two thin adapters serve it: Django async views (``gateway.views``: the test client, runserver, WSGI) and
the gateway's own ASGI app (``gateway.asgi``: production and the benchmark), which skips Django's middleware
stack for ``/v1/``.

Per request, in order: authenticate the key (cached; revocation is re-checked in the database by the
reservation), plan (model allowed, price in force, channels — cached), rate limits (Redis or in process),
**reserve** (one INSERT of the usage record + one guarded UPDATE of the member's meter, one transaction),
forward on the pooled httpx client with failover, **settle** (one UPDATE of the record + one of the meter,
one transaction) — for a stream, before the final ``[DONE]`` reaches the client, so a response the client saw
complete is always settled. Bodies are never stored: only counts, money and outcomes.

Served by the ASGI app on PostgreSQL, reserving and settling are one SQL statement each on the event loop
(``gateway.sqlpath``); whatever that statement does not cover (a top-up, an exhausted quota, a cost above
the hold, a repeated settlement) goes to ``gateway.services``, the reference implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from gateway import db, hotcache, leases, ratelimit, services, sqlpath, tokens, trace
from gateway.errors import (
    GatewayError,
    InvalidApiKey,
    InvalidRequest,
    ModelNotAllowed,
    ModelNotFound,
    QuotaExhausted,
    UpstreamUnavailable,
    error_payload,
)
from gateway.models import ModelPrice, Outcome, UsageRecord, UsageSource, UsageStatus, VirtualKey
from gateway.upstream import Opened, Route, candidate_routes, open_upstream

MAX_BODY_BYTES = 8 * 1024 * 1024
RESERVE_SAFETY = Decimal("1.25")  # local prompt counts are estimates; hold a little more
TOUCH_EVERY = 60.0
DRAIN_AFTER_DONE = os.environ.get("GATEWAY_DRAIN_UPSTREAM", "1") == "1"  # keep upstream connections alive
_SETTLING: set[asyncio.Future[None]] = set()
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')
_NULL_USAGE_BEFORE = re.compile(rb'\s*,\s*"usage"\s*:\s*null(?=\s*[,}])')
_NULL_USAGE_AFTER = re.compile(rb'"usage"\s*:\s*null\s*,\s*')
_touched: dict[int, float] = {}


class Last(bytes):
    """The final event of a stream (``[DONE]`` or the error): the ASGI front sends it together with the end
    of the response, one write instead of two."""


@dataclass
class Incoming:
    method: str
    authorization: str
    body: bytes


@dataclass
class Outgoing:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def json_out(data: Any, status: int = 200, request_id: str | None = None) -> Outgoing:
    out = Outgoing(status=status, body=_dumps(data))
    if request_id:
        out.headers["X-OPC-Request-Id"] = request_id
    return out


def error_out(error: GatewayError, request_id: str | None = None) -> Outgoing:
    return json_out(error.payload(), error.status, request_id)


def method_not_allowed(allowed: str) -> Outgoing:
    message = _("Use GET.") if allowed == "GET" else _("Use POST.")
    return json_out(error_payload(message, type="invalid_request_error"), 405)


# --------------------------------------------------------------------------------------------- steps


def _bearer(authorization: str) -> str:
    scheme, _space, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def authenticate(authorization: str) -> VirtualKey:
    secret = _bearer(authorization)
    if not secret:
        raise InvalidApiKey(_("You didn't provide an API key (Authorization: Bearer …)."))
    if not secret.startswith(VirtualKey.PREFIX):
        raise InvalidApiKey()
    digest = VirtualKey.digest_of(secret)
    found, key = hotcache.keys.peek(digest)
    if not found:
        key = await db.call(hotcache.keys.get, digest, lambda: hotcache.load_key(digest))
    if key is None:
        raise InvalidApiKey()
    if key.revoked_at is not None:
        raise InvalidApiKey(_("This API key has been revoked."))
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise InvalidApiKey(_("This API key has expired."))
    now = time.monotonic()
    if now - _touched.get(key.pk, -TOUCH_EVERY) >= TOUCH_EVERY:  # last_used_at, not a write per request
        _touched[key.pk] = now
        await db.later(services.touch_key, key.pk)
    return key


def parse_json(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest(_("The request body is too large."))
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(_("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise InvalidRequest(_("The request body must be a JSON object."))
    return data


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


def _load_model(model: str) -> tuple[list[ModelPrice] | None, list[Route] | None]:
    rows = hotcache.prices.get(model, lambda: hotcache.load_prices(model))
    routes = hotcache.routes.get(model, lambda: candidate_routes(model) or None)
    return rows, routes


async def plan(key: VirtualKey, model: Any) -> Plan:
    if not isinstance(model, str) or not model:
        raise InvalidRequest(_("You must provide a model parameter."), param="model")
    if not key.allows(model):
        raise ModelNotAllowed(_("This key may not use the model “%(model)s”.") % {"model": model})
    has_prices, rows = hotcache.prices.peek(model)
    has_routes, candidates = hotcache.routes.peek(model)
    if not (has_prices and has_routes):
        rows, candidates = await db.call(_load_model, model)
    price = hotcache.price_now(rows)
    if not candidates or price is None:
        raise ModelNotFound(
            _("The model “%(model)s” does not exist or is not served here.") % {"model": model}, param="model"
        )
    return Plan(key=key, model=model, price=price, routes=hotcache.ordered(candidates))


_ID_PREFIX = f"gw-{uuid.uuid4().hex[:16]}"
_ids = itertools.count(1)


def new_request_id() -> str:
    """Unique without asking the OS for randomness per request: a random per-process prefix + a counter."""
    return f"{_ID_PREFIX}-{next(_ids):x}"


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


def _upstream_error(opened: Opened, request_id: str) -> Outgoing:
    """A non-retryable upstream error (e.g. 400), passed back in OpenAI's shape."""
    response = opened.response
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        payload = error_payload(
            str(error.get("message") or ""),
            type=str(error.get("type") or "invalid_request_error"),
            code=error.get("code"),
            param=error.get("param"),
        )
    else:
        payload = error_payload(_("The upstream refused the request."), type="api_error")
    return json_out(payload, response.status_code, request_id)


@dataclass
class Call:
    """One metered request between reservation and settlement."""

    request_id: str
    record: UsageRecord | sqlpath.Held | leases.Hold
    plan: Plan
    prompt_estimate: int
    admission: ratelimit.Admission | None
    settled: bool = False  # the money statement of ``settle`` went through (a repeated call does nothing)

    @property
    def model_record(self) -> UsageRecord | None:
        """The record as ``services.reserve`` returned it (saves reading it again), if it did."""
        return self.record if isinstance(self.record, UsageRecord) else None

    async def _finish_fast(self, **values: Any) -> bool:
        """Settle or release without the ORM: in memory from a lease, or with one statement. False when
        that does not apply (the caller then takes ``gateway.services``)."""
        if isinstance(self.record, leases.Hold):
            leases.finish(self.record, **values)
            return True
        return sqlpath.active() and await sqlpath.finish(record=self.record, **values)

    async def release(
        self, *, outcome: str, attempts: int = 0, status: int | None = None, channel_id: int | None = None
    ) -> None:
        done = await self._finish_fast(
            status=UsageStatus.RELEASED,
            cost=services.ZERO,
            prompt_tokens=0,
            completion_tokens=0,
            cached_tokens=0,
            source="",
            outcome=outcome,
            channel_id=channel_id,
            upstream_status=status,
            attempts=attempts,
        )
        if not done:
            await db.call(
                services.release,
                request_id=self.request_id,
                outcome=outcome,
                attempts=attempts,
                upstream_status=status,
                channel_id=channel_id,
                record=self.model_record,
            )
        await ratelimit.adjust(self.admission, used_tokens=0)

    async def settle(
        self,
        *,
        usage: tuple[int, int, int] | None,
        completion_estimate: int,
        outcome: str,
        opened: Opened,
    ) -> None:
        if self.settled:
            return
        if usage is not None:
            prompt, completion, cached = usage
            source = UsageSource.UPSTREAM
        else:
            prompt, completion, cached = self.prompt_estimate, completion_estimate, 0
            source = UsageSource.ESTIMATED
        prompt, completion, cached = max(prompt, 0), max(completion, 0), max(cached, 0)
        common: dict[str, Any] = {
            "source": source,
            "outcome": outcome,
            "channel_id": opened.route.channel_id,
            "upstream_status": opened.response.status_code,
            "attempts": opened.attempts,
        }
        cost = services.cost_of(
            self.plan.price, prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached
        )
        done = await self._finish_fast(
            status=UsageStatus.SETTLED,
            cost=cost,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            **common,
        )
        if not done:
            await db.call(
                services.settle,
                request_id=self.request_id,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cached_tokens=cached,
                record=self.model_record,
                **common,
            )
        self.settled = True
        await ratelimit.adjust(self.admission, used_tokens=prompt + completion)


async def _begin(
    key: VirtualKey, p: Plan, *, endpoint: str, stream: bool, prompt_estimate: int, max_output: int
) -> Call:
    admission = await ratelimit.admit(
        key_id=key.pk, rpm_limit=key.rpm_limit, tpm_limit=key.tpm_limit, tokens=prompt_estimate + max_output
    )
    request_id = new_request_id()
    max_cost = services.cost_of(
        p.price, prompt_tokens=int(prompt_estimate * RESERVE_SAFETY) + 16, completion_tokens=max_output
    )
    try:
        record: UsageRecord | sqlpath.Held | leases.Hold | None = None
        if sqlpath.active():
            amount = services.reservation_for(max_cost)
            record = leases.try_hold(
                request_id=request_id,
                key=key,
                endpoint=endpoint,
                model=p.model,
                stream=stream,
                price_id=p.price.pk,
                amount=amount,
            )
            fast: dict[str, Any] = {
                "request_id": request_id,
                "key": key,
                "endpoint": endpoint,
                "model": p.model,
                "stream": stream,
                "price": p.price,
                "amount": amount,
            }
            if record is None:
                outcome = await sqlpath.reserve_or_explain(**fast)
                if isinstance(outcome, sqlpath.Held):
                    record = outcome
                elif isinstance(outcome, sqlpath.Refused) and outcome.exhausted:
                    if outcome.leased and await leases.reclaim(key.organisation_id):
                        # Leases of this member were given back or recalled: wait for them a little.
                        deadline = time.monotonic() + leases.RECALL_WAIT
                        while record is None and time.monotonic() < deadline:
                            await asyncio.sleep(0.03)
                            record = await sqlpath.reserve(**fast)
                    if record is None:
                        raise QuotaExhausted()
        if record is None:  # a top-up, an exhausted quota, a revoked key…: the ORM path explains
            record = await db.call(
                services.reserve,
                request_id=request_id,
                key=key,
                endpoint=endpoint,
                model=p.model,
                stream=stream,
                price=p.price,
                max_cost=max_cost,
            )
    except GatewayError:
        await ratelimit.adjust(admission, used_tokens=0)
        raise
    return Call(request_id, record, p, prompt_estimate, admission)


# --------------------------------------------------------------------------------------------- endpoints


async def models_list(incoming: Incoming) -> Outgoing:
    if incoming.method != "GET":
        return method_not_allowed("GET")
    try:
        key = await authenticate(incoming.authorization)
    except GatewayError as error:
        return error_out(error)
    names = await db.call(_served_and_priced)
    created = int(key.created_at.timestamp())
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "opchub"}
        for name in names
        if key.allows(name)
    ]
    return json_out({"object": "list", "data": data})


def _served_and_priced() -> list[str]:
    from gateway.models import ChannelModel

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
    return sorted(served & priced)


async def embeddings(incoming: Incoming) -> Outgoing:
    if incoming.method != "POST":
        return method_not_allowed("POST")
    try:
        key = await authenticate(incoming.authorization)
        body = parse_json(incoming.body)
        if body.get("input") in (None, "", []):
            raise InvalidRequest(_("You must provide an input."), param="input")
        p = await plan(key, body.get("model"))
        prompt_estimate = tokens.count_embedding_input(body["input"])
        call = await _begin(
            key, p, endpoint="embeddings", stream=False, prompt_estimate=prompt_estimate, max_output=0
        )
    except GatewayError as error:
        return error_out(error)
    try:
        opened = await open_upstream(
            p.routes,
            path="/embeddings",
            payload=lambda route: {**body, "model": route.upstream_model},
            stream=False,
        )
    except UpstreamUnavailable as error:
        await call.release(outcome=Outcome.UPSTREAM_ERROR, attempts=getattr(error, "attempts", 0))
        return error_out(error, call.request_id)
    except BaseException:
        await _release_shielded(call)
        raise
    return await _finish_json(opened, call)


async def chat_completions(incoming: Incoming) -> Outgoing:
    if incoming.method != "POST":
        return method_not_allowed("POST")
    try:
        key = await authenticate(incoming.authorization)
        body = parse_json(incoming.body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest(_("messages must be a non-empty array."), param="messages")
        p = await plan(key, body.get("model"))
        max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
        choices = _positive_int(body, "n") or 1
        stream = body.get("stream") is True
        prompt_estimate = tokens.count_messages(messages, body.get("tools"))
        max_output = max_tokens or max(route.max_output_tokens for route in p.routes)
        trace.mark("planned")
        call = await _begin(
            key,
            p,
            endpoint="chat.completions",
            stream=stream,
            prompt_estimate=prompt_estimate,
            max_output=max_output * choices,
        )
    except GatewayError as error:
        return error_out(error)
    trace.mark("reserved")

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
        opened = await open_upstream(p.routes, path="/chat/completions", payload=payload, stream=stream)
    except UpstreamUnavailable as error:
        await call.release(
            outcome=Outcome.UPSTREAM_ERROR,
            attempts=getattr(error, "attempts", 0),
            status=getattr(error, "last_status", None),
        )
        return error_out(error, call.request_id)
    except BaseException:
        await _release_shielded(call)
        raise
    trace.mark("upstream_first")
    if not stream or opened.response.status_code != 200:
        return await _finish_json(opened, call)
    relay = StreamRelay(
        opened=opened,
        call=call,
        public_model=p.model,
        client_wants_usage=client_wants_usage,
        upstream_model=opened.route.upstream_model,
    )
    return Outgoing(
        status=200,
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-OPC-Request-Id": call.request_id},
        stream=relay.events(),
    )


async def _release_shielded(call: Call) -> None:
    """Release even when the request task is being cancelled (client gone before the upstream answered)."""
    task = asyncio.ensure_future(call.release(outcome=Outcome.CLIENT_DISCONNECTED))
    _SETTLING.add(task)
    task.add_done_callback(_SETTLING.discard)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(task)


async def _finish_json(opened: Opened, call: Call) -> Outgoing:
    response = opened.response
    common: dict[str, Any] = {"channel_id": opened.route.channel_id, "attempts": opened.attempts}
    if response.status_code != 200:
        await call.release(outcome=Outcome.UPSTREAM_ERROR, status=response.status_code, **common)
        return _upstream_error(opened, call.request_id)
    try:
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        await call.release(outcome=Outcome.UPSTREAM_ERROR, status=200, **common)
        return error_out(UpstreamUnavailable(_("The upstream sent an invalid response.")), call.request_id)
    completion = sum(
        tokens.count_text(str(((choice or {}).get("message") or {}).get("content") or ""))
        for choice in data.get("choices") or []
        if isinstance(choice, dict)
    )
    await call.settle(
        usage=_usage_numbers(data.get("usage")),
        completion_estimate=completion,
        outcome=Outcome.OK,
        opened=opened,
    )
    if "model" in data:
        data["model"] = call.plan.model
    return json_out(data, 200, call.request_id)


# --------------------------------------------------------------------------------------------- streaming


@dataclass
class StreamRelay:
    """Relays the upstream's SSE events to the client, watching for the usage chunk. Settles before the
    final ``[DONE]`` (or the error event) is sent — however the stream ends: finished, upstream died
    (charged what was counted, marked estimated), or client gone (settled in the background)."""

    opened: Opened
    call: Call
    public_model: str
    client_wants_usage: bool
    upstream_model: str = ""
    usage: tuple[int, int, int] | None = None
    completion_text: list[str] = field(default_factory=list)
    deltas: list[bytes] = field(default_factory=list)
    done: bool = False
    buffer: bytes = b""
    settling: asyncio.Future[None] | None = None
    settled: bool = False
    upstream_closing: bool = False
    _model_names: tuple[bytes, bytes, bytes, re.Pattern[bytes]] | None = None

    def _event(self, raw: bytes) -> bytes | None:
        """One SSE event in, the bytes to send out (``None``: drop it; ``[DONE]`` is held back).

        Fast path: an ordinary delta chunk (no usage object) is passed through as bytes, only its model
        name rewritten; it is kept to count the completion locally should the upstream never report usage.
        Only a chunk that carries a usage object is parsed."""
        if raw.startswith(b"data: ") and b"\n" not in raw:  # the usual event: one data line
            data = raw[6:]
        else:
            data_lines = [line[5:].lstrip() for line in raw.splitlines() if line.startswith(b"data:")]
            if not data_lines:
                return raw + b"\n\n"
            data = b"\n".join(data_lines)
        if data.strip() == b"[DONE]":
            self.done = True
            return None
        if not _USAGE_OBJECT.search(data):
            rewritten = self._rename(data)
            if rewritten is not None and not self.client_wants_usage and b'"usage"' in rewritten:
                # "usage": null, sent in every chunk once usage was asked for: the client did not ask.
                if b',"usage":null' in rewritten:  # compact JSON, as most upstreams send it
                    rewritten = rewritten.replace(b',"usage":null', b"", 1)
                elif b', "usage": null' in rewritten:  # Python's json.dumps
                    rewritten = rewritten.replace(b', "usage": null', b"", 1)
                else:
                    rewritten = _NULL_USAGE_AFTER.sub(
                        b"", _NULL_USAGE_BEFORE.sub(b"", rewritten, count=1), count=1
                    )
                if b'"usage"' in rewritten:
                    rewritten = None
            if rewritten is not None:
                self.deltas.append(data)
                return b"data: " + rewritten + b"\n\n"
        try:
            chunk = json.loads(data)
        except ValueError:
            return raw + b"\n\n"
        if not isinstance(chunk, dict):
            return raw + b"\n\n"
        numbers = _usage_numbers(chunk.get("usage"))
        if numbers is not None:
            self.usage = numbers
        self._collect(chunk)
        if "usage" in chunk and not self.client_wants_usage:
            if numbers is not None and not chunk.get("choices"):
                return None  # the usage-only chunk we asked for; the client did not
            del chunk["usage"]
        if "model" in chunk:
            chunk["model"] = self.public_model
        return b"data: " + _dumps(chunk) + b"\n\n"

    def _rename(self, data: bytes) -> bytes | None:
        """The chunk with the upstream's model name replaced by the public one (None: not sure how)."""
        if self.upstream_model == self.public_model or b'"model"' not in data:
            return data
        if self._model_names is None:
            upstream_name = json.dumps(self.upstream_model).encode()
            self._model_names = (
                b'"model":' + upstream_name,
                b'"model": ' + upstream_name,
                b'"model":' + _dumps(self.public_model),
                re.compile(rb'"model"\s*:\s*' + re.escape(upstream_name)),
            )
        compact, spaced, public, pattern = self._model_names
        if compact in data:  # compact JSON (or Python's): a plain byte replacement
            return data.replace(compact, public, 1)
        if spaced in data:
            return data.replace(spaced, public, 1)
        replaced, count = pattern.subn(public, data, count=1)
        return replaced if count == 1 else None

    def _collect(self, chunk: dict[str, Any]) -> None:
        for choice in chunk.get("choices") or []:
            delta = (choice or {}).get("delta") or {} if isinstance(choice, dict) else {}
            if isinstance(delta, dict):
                if delta.get("content"):
                    self.completion_text.append(str(delta["content"]))
                if delta.get("tool_calls"):
                    self.completion_text.append(str(delta["tool_calls"]))

    def completion_estimate(self) -> int:
        """Completion tokens counted locally from what was relayed (only needed without upstream usage)."""
        for data in self.deltas:
            with contextlib.suppress(ValueError):
                chunk = json.loads(data)
                if isinstance(chunk, dict):
                    self._collect(chunk)
        self.deltas.clear()
        return tokens.count_text("".join(self.completion_text))

    def _feed(self, data: bytes) -> bytes:
        self.buffer += data.replace(b"\r\n", b"\n")
        out = []
        while b"\n\n" in self.buffer and not self.done:
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
                if not self.done:
                    async for data in self.opened.chunks:
                        out = self._feed(data)
                        if out:
                            yield out
                        if self.done:
                            break
                if not self.done:
                    outcome = Outcome.UPSTREAM_INTERRUPTED
            except httpx.TransportError:
                outcome = Outcome.UPSTREAM_INTERRUPTED
            trace.mark("upstream_done")
            await self._settle_inline(outcome)
            trace.mark("settled")
            if outcome == Outcome.UPSTREAM_INTERRUPTED:
                error = error_payload(
                    _("The upstream stopped in the middle of the response."),
                    type="api_error",
                    code="upstream_interrupted",
                )
                yield Last(b"data: " + _dumps(error) + b"\n\n")
            else:
                yield Last(b"data: [DONE]\n\n")
        except (asyncio.CancelledError, GeneratorExit):
            outcome = Outcome.CLIENT_DISCONNECTED
            raise
        finally:
            if not self.settled and (self.settling is None or not self.settling.done()):
                with contextlib.suppress(asyncio.CancelledError):
                    await self._settle(outcome)

    async def _settle_inline(self, outcome: str) -> None:
        """The stream's normal end: settle in the relay's own task, so ``[DONE]`` follows the statement's
        answer at once (a task of its own would cost two turns of a busy event loop, several milliseconds
        under load). Should the client leave meanwhile (the relay is cancelled), ``events`` finishes the
        settlement in a task of its own; settling twice is harmless (only the first moves money)."""
        await self._settle_now(outcome)
        self.settled = True

    async def _settle(self, outcome: str) -> None:
        """Settle once, in a task of its own that a cancelled response (client gone) cannot interrupt; the
        task stays referenced until done, so it is not garbage-collected half-way."""
        if self.settling is None:
            self.settling = asyncio.ensure_future(self._settle_now(outcome))
            _SETTLING.add(self.settling)
            self.settling.add_done_callback(_SETTLING.discard)
        await asyncio.shield(self.settling)

    async def _settle_now(self, outcome: str) -> None:
        try:
            await self.call.settle(
                usage=self.usage,
                completion_estimate=0 if self.usage is not None else self.completion_estimate(),
                outcome=outcome,
                opened=self.opened,
            )
        finally:
            # After [DONE] the end of the upstream's body is read so its connection goes back to the pool (no
            # new connection per request); otherwise it is closed. Served by the gateway's ASGI app (which
            # waits for these on shutdown) that happens in the background, not before the client's [DONE].
            # Once: a settlement interrupted by the client leaving is finished by a second call.
            if self.upstream_closing:
                pass
            elif db.pooled():
                self.upstream_closing = True
                closing = asyncio.ensure_future(self._close_upstream())
                _SETTLING.add(closing)
                closing.add_done_callback(_SETTLING.discard)
            else:
                self.upstream_closing = True
                await self._close_upstream()

    async def _close_upstream(self) -> None:
        try:
            if self.done and DRAIN_AFTER_DONE:
                assert self.opened.chunks is not None
                with contextlib.suppress(httpx.HTTPError, TimeoutError, RuntimeError):
                    async with asyncio.timeout(1.0):
                        async for _rest in self.opened.chunks:
                            pass
        finally:
            with contextlib.suppress(httpx.HTTPError, RuntimeError):
                await self.opened.response.aclose()


async def settle_pending(timeout: float = 30.0) -> None:
    """Wait for settlements still running in the background (server shutdown)."""
    pending = list(_SETTLING)
    if pending:
        await asyncio.wait(pending, timeout=timeout)
