"""The OpenAI-compatible endpoints end to end against the demo upstream (in-process)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone, translation
from django.utils.translation import gettext

from gateway import hotcache, services
from gateway.models import Channel, Outcome, QuotaMeter, UsageRecord, UsageSource, UsageStatus, VirtualKey
from gateway.tests.conftest import MODEL, Gateway, assert_books_sound, call
from ledger.models import Account


def _reserved_balance(gw: Gateway) -> Decimal:
    return QuotaMeter.objects.get(organisation=gw.world.opc).held


# --------------------------------------------------------------------------------------------- models


def test_models_lists_served_priced_allowed_models(gw: Gateway) -> None:
    reply = call("GET", "/v1/models", secret=gw.secret)
    assert reply.status == 200
    assert [m["id"] for m in reply.json()["data"]] == [MODEL, "text-embedding-3-small"]
    _key, narrow = services.issue_virtual_key(
        organisation=gw.world.opc, name="narrow", allowed_models=["text-embedding-3-small"]
    )
    assert [m["id"] for m in call("GET", "/v1/models", secret=narrow).json()["data"]] == [
        "text-embedding-3-small"
    ]


# --------------------------------------------------------------------------------------------- chat


def test_chat_completion_is_forwarded_and_settled_from_upstream_usage(gw: Gateway) -> None:
    reply = gw.chat(max_tokens=500)
    assert reply.status == 200, reply.body
    data = reply.json()
    assert data["model"] == MODEL  # the public name, not the upstream's
    assert data["choices"][0]["message"]["content"].startswith("你好")
    sent = gw.fake.requests[-1]["body"]
    assert sent["model"] == "deepseek-v3" and sent["max_tokens"] == 500

    record = UsageRecord.objects.get(request_id=reply.headers["X-OPC-Request-Id"])
    assert record.status == UsageStatus.SETTLED and record.outcome == Outcome.OK
    assert record.usage_source == UsageSource.UPSTREAM
    assert (record.prompt_tokens, record.completion_tokens) == (11, 14)
    assert record.cost == Decimal("0.00013400")  # (11 × 2 + 14 × 8) / 1M
    assert record.charged == record.cost  # exact: fractions of a fen are charged as used
    assert record.channel_id == gw.channel.pk
    assert _reserved_balance(gw) == 0
    assert services.quota_balance(gw.world.opc) == Decimal("9.999866")
    assert_books_sound()


def test_sub_fen_costs_carry_until_they_make_a_fen(gw: Gateway) -> None:
    gw.fake.prompt_tokens = 1000  # 1000 × 2 + 14 × 8 = 2112 per 1M = ¥0.002112 a request
    for _ in range(5):
        assert gw.chat(max_tokens=100).status == 200
    records = UsageRecord.objects.filter(organisation=gw.world.opc)
    total_cost = sum(r.cost for r in records)
    total_charged = sum(r.charged for r in records)
    assert total_cost == total_charged == Decimal("0.01056")
    assert services.quota_balance(gw.world.opc) == Decimal("9.98944")
    # The ledger moves whole fen when usage is posted; the sub-fen rest waits in the meter.
    assert services.post_usage(organisation_id=gw.world.opc.pk) == Decimal("0.01")
    assert QuotaMeter.objects.get(organisation=gw.world.opc).unposted == Decimal("0.00056000")
    assert Account.objects.get(code=services.CONSUMED_ACCOUNT_CODE).balance == Decimal("0.01")
    assert services.post_usage(organisation_id=gw.world.opc.pk) == 0
    assert services.quota_balance(gw.world.opc) == Decimal("9.98944")
    assert_books_sound()


def test_missing_usage_is_estimated_locally(gw: Gateway) -> None:
    gw.fake.report_usage = False
    reply = gw.chat()
    assert reply.status == 200
    record = UsageRecord.objects.get()
    assert record.usage_source == UsageSource.ESTIMATED
    assert record.prompt_tokens > 0 and record.completion_tokens > 0


def test_quota_exhausted_is_429_insufficient_quota(gw: Gateway) -> None:
    reply = gw.chat(max_tokens=2_000_000)  # could cost ¥16, the quota holds ¥10
    assert reply.status == 429
    assert reply.json()["error"]["type"] == "insufficient_quota"
    assert reply.json()["error"]["code"] == "insufficient_quota"
    assert UsageRecord.objects.count() == 0
    assert gw.fake.requests == []
    assert services.quota_balance(gw.world.opc) == Decimal("10.00")


def test_authentication_errors(gw: Gateway) -> None:
    missing = call("POST", "/v1/chat/completions", secret=None, body={})
    assert missing.status == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert gw.chat(secret="sk-opc-not-a-key").status == 401
    key, secret = services.issue_virtual_key(organisation=gw.world.opc, name="old")
    VirtualKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    expired = gw.chat(secret=secret)
    # Messages follow the request's language (zh-hans by default): compare with the catalog's own text.
    with translation.override("zh-hans"):
        expired_text = gettext("This API key has expired.")
        revoked_text = gettext("This API key has been revoked.")
    assert expired.status == 401 and expired.json()["error"]["message"] == expired_text
    services.revoke_virtual_key(key=gw.key)
    revoked = gw.chat()
    assert revoked.status == 401 and revoked.json()["error"]["message"] == revoked_text


def test_model_errors(gw: Gateway) -> None:
    unknown = gw.chat(model="gpt-99")
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "model_not_found"
    _key, narrow = services.issue_virtual_key(
        organisation=gw.world.opc, name="narrow", allowed_models=["text-embedding-3-small"]
    )
    refused = gw.chat(secret=narrow)
    assert refused.status == 403 and refused.json()["error"]["code"] == "model_not_allowed"


def test_malformed_bodies_are_400(gw: Gateway) -> None:
    bad_json = call("POST", "/v1/chat/completions", secret=gw.secret, raw=b"{not json")
    assert bad_json.status == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    no_messages = call("POST", "/v1/chat/completions", secret=gw.secret, body={"model": MODEL})
    assert no_messages.status == 400 and no_messages.json()["error"]["param"] == "messages"
    assert gw.chat(max_tokens=-3).status == 400
    assert UsageRecord.objects.count() == 0


def test_upstream_client_error_is_passed_back_and_nothing_charged(gw: Gateway) -> None:
    gw.fake.fail_status = 400
    reply = gw.chat()
    assert reply.status == 400 and reply.json()["error"]["code"] == "demo_failure"
    record = UsageRecord.objects.get()
    assert record.status == UsageStatus.RELEASED and record.charged == 0
    assert _reserved_balance(gw) == 0
    assert services.quota_balance(gw.world.opc) == Decimal("10.00")


def test_rate_limit_per_minute(gw: Gateway) -> None:
    _key, limited = services.issue_virtual_key(organisation=gw.world.opc, name="slow", rpm_limit=2)
    assert gw.chat(secret=limited).status == 200
    assert gw.chat(secret=limited).status == 200
    third = gw.chat(secret=limited)
    assert third.status == 429 and third.json()["error"]["code"] == "rate_limit_exceeded"


# --------------------------------------------------------------------------------------------- embeddings


def test_embeddings(gw: Gateway) -> None:
    reply = call(
        "POST",
        "/v1/embeddings",
        secret=gw.secret,
        body={"model": "text-embedding-3-small", "input": ["一", "two"]},
    )
    assert reply.status == 200, reply.body
    assert len(reply.json()["data"]) == 2
    record = UsageRecord.objects.get()
    assert record.endpoint == "embeddings" and record.prompt_tokens == 11
    assert record.cost == Decimal("0.00000550")


# --------------------------------------------------------------------------------------------- streaming


def test_stream_settles_from_injected_usage_and_hides_it(gw: Gateway) -> None:
    reply = gw.chat(stream=True)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    assert gw.fake.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    events = reply.events()
    assert events[-1] == "[DONE]"
    chunks = [e for e in events if isinstance(e, dict)]
    assert all("usage" not in c for c in chunks)  # the client did not ask for it
    assert all(c["model"] == MODEL for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == gw.fake.reply
    record = UsageRecord.objects.get()
    assert record.stream and record.usage_source == UsageSource.UPSTREAM
    assert (record.prompt_tokens, record.completion_tokens) == (11, 14)
    assert _reserved_balance(gw) == 0


def test_stream_passes_usage_when_asked(gw: Gateway) -> None:
    reply = gw.chat(stream=True, stream_options={"include_usage": True})
    usage = [e for e in reply.events() if isinstance(e, dict) and e.get("usage")]
    assert usage and usage[-1]["usage"]["completion_tokens"] == 14


def test_upstream_dying_mid_stream_charges_what_was_counted(gw: Gateway) -> None:
    gw.fake.die_after = 3
    gw.fake.prompt_tokens = 1
    reply = gw.chat(stream=True)
    assert reply.status == 200
    events = reply.events()
    assert events[-1]["error"]["code"] == "upstream_interrupted"
    record = UsageRecord.objects.get()
    assert record.status == UsageStatus.SETTLED
    assert record.outcome == Outcome.UPSTREAM_INTERRUPTED
    assert record.usage_source == UsageSource.ESTIMATED
    assert 0 < record.completion_tokens < 14  # three words were relayed, not the whole reply
    assert _reserved_balance(gw) == 0
    assert_books_sound()


# --------------------------------------------------------------------------------------------- failover


def _second_channel(gw: Gateway) -> Channel:
    from gateway.fake_upstream import FakeUpstream

    return services.create_channel(
        owner=gw.world.operator,
        name="demo-2",
        base_url="http://upstream-2.test/v1",
        api_key=FakeUpstream().api_key,
        models={MODEL: "deepseek-v3-backup"},
        priority=-1,
        max_output_tokens=1000,
    )


def _split_transport(gw: Gateway, first: object) -> None:
    """upstream-1 misbehaves as ``first`` says; upstream-2 is a healthy demo upstream."""
    import httpx

    from gateway import upstream
    from gateway.fake_upstream import FakeUpstream

    healthy = FakeUpstream()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "upstream-1.test":
            return await gw.fake.handle(request)
        return await healthy.handle(request)

    for name, value in dict(first).items():  # type: ignore[call-overload]
        setattr(gw.fake, name, value)
    upstream.use_transport(httpx.MockTransport(handler))


def test_failover_on_500_429_and_connect_error(gw: Gateway) -> None:
    second = _second_channel(gw)
    for misbehaviour in (
        {"fail_status": 500},
        {"fail_status": 429},
        {"connect_error": True, "fail_status": None},
    ):
        Channel.objects.update(cooldown_until=None, consecutive_failures=0)
        hotcache.clear()  # the in-process cool-down too
        _split_transport(gw, misbehaviour)
        reply = gw.chat()
        assert reply.status == 200, (misbehaviour, reply.body)
        record = UsageRecord.objects.get(request_id=reply.headers["X-OPC-Request-Id"])
        assert record.channel_id == second.pk and record.attempts == 2
        gw.channel.refresh_from_db()
        assert gw.channel.cooldown_until is not None  # the failed channel cools down
    # While it cools down, the healthy channel is tried first.
    reply = gw.chat()
    assert UsageRecord.objects.get(request_id=reply.headers["X-OPC-Request-Id"]).attempts == 1


def test_stream_failover_before_first_byte(gw: Gateway) -> None:
    second = _second_channel(gw)
    _split_transport(gw, {"fail_status": 503})
    reply = gw.chat(stream=True)
    assert reply.status == 200 and reply.events()[-1] == "[DONE]"
    assert UsageRecord.objects.get().channel_id == second.pk


def test_all_channels_failing_is_502_and_releases(gw: Gateway) -> None:
    gw.fake.fail_status = 500
    reply = gw.chat()
    assert reply.status == 502 and reply.json()["error"]["code"] == "upstream_unavailable"
    record = UsageRecord.objects.get()
    assert record.status == UsageStatus.RELEASED and record.outcome == Outcome.UPSTREAM_ERROR
    assert services.quota_balance(gw.world.opc) == Decimal("10.00")
    assert _reserved_balance(gw) == 0
