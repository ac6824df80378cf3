"""Gateway services called directly: channels, keys, grants, and the reserve/settle/release postings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from audit.models import AuditRecord
from core.errors import NotPermitted
from core.testing import World
from gateway import services
from gateway.crypto import decrypt_api_key
from gateway.errors import QuotaExhausted
from gateway.models import ModelPrice, Outcome, UsageRecord, UsageStatus, VirtualKey
from gateway.tests.conftest import MODEL, Gateway, assert_books_sound, fund_operator
from ledger.errors import InsufficientFunds
from ledger.models import Transaction


def test_channel_api_key_is_encrypted_at_rest(gw: Gateway) -> None:
    assert gw.fake.api_key not in gw.channel.api_key_encrypted
    assert decrypt_api_key(gw.channel.api_key_encrypted) == gw.fake.api_key
    assert gw.channel.api_key_hint == "…-key"
    assert AuditRecord.objects.filter(action="gateway.channel_created").exists()


def test_only_operators_and_providers_manage_channels(world: World) -> None:
    with pytest.raises(NotPermitted):
        services.create_channel(
            owner=world.opc, name="x", base_url="https://x.test/v1", api_key="k", models=[MODEL]
        )


def test_virtual_key_secret_is_shown_once_and_stored_as_digest(world: World) -> None:
    key, secret = services.issue_virtual_key(organisation=world.opc, name="ci", tag="短剧项目")
    assert secret.startswith("sk-opc-") and key.prefix == secret[:12]
    stored = VirtualKey.objects.get(pk=key.pk)
    assert secret not in {stored.digest, stored.prefix} and stored.digest == VirtualKey.digest_of(secret)
    assert services.authenticate_key(secret) == key
    services.revoke_virtual_key(key=key)
    services.revoke_virtual_key(key=key)  # idempotent: one audit record
    assert AuditRecord.objects.filter(action="gateway.key_revoked").count() == 1


def test_grant_quota_moves_funding_pool_to_member_quota_once(world: World) -> None:
    fund_operator(world, "100.00")
    for _ in range(2):
        services.grant_quota(
            operator=world.operator, member=world.opc, amount=Decimal("30.00"), idempotency_key="march"
        )
    assert services.quota_balance(world.opc) == Decimal("30.00")
    with pytest.raises(InsufficientFunds):
        services.grant_quota(
            operator=world.operator, member=world.opc, amount=Decimal("70.01"), idempotency_key="too-much"
        )


def test_grant_quota_only_to_own_members(world: World) -> None:
    fund_operator(world)
    with pytest.raises(NotPermitted):
        services.grant_quota(
            operator=world.operator, member=world.other_opc, amount=Decimal("1.00"), idempotency_key="x"
        )
    with pytest.raises(NotPermitted):
        services.grant_quota(
            operator=world.opc, member=world.opc, amount=Decimal("1.00"), idempotency_key="y"
        )


def _reserve(gw: Gateway, request_id: str, max_cost: str = "0.05") -> UsageRecord:
    return services.reserve(
        request_id=request_id,
        key=gw.key,
        endpoint="chat.completions",
        model=MODEL,
        stream=False,
        price=ModelPrice.objects.get(model=MODEL),
        max_cost=Decimal(max_cost),
    )


def test_reserve_settle_and_release_are_idempotent(gw: Gateway) -> None:
    first = _reserve(gw, "r1")
    assert _reserve(gw, "r1").pk == first.pk
    assert first.reserved == Decimal("0.05")
    assert services.quota_balance(gw.world.opc) == Decimal("9.95")
    settled = services.settle(request_id="r1", prompt_tokens=10_000, completion_tokens=1_000)
    again = services.settle(request_id="r1", prompt_tokens=99_999, completion_tokens=99_999)
    released = services.release(request_id="r1", outcome="upstream_error")
    assert settled.cost == again.cost == released.cost == settled.charged == Decimal("0.02800000")
    assert released.status == UsageStatus.SETTLED
    assert services.quota_balance(gw.world.opc) == Decimal("9.972")
    _reserve(gw, "r2")
    services.release(request_id="r2", outcome="upstream_error")
    assert services.quota_balance(gw.world.opc) == Decimal("9.972")
    # No ledger posting per request: the quota moved into the gateway once; usage is posted in whole fen.
    assert Transaction.objects.filter(kind="gateway.top_up").count() == 1
    assert services.post_usage(organisation_id=gw.world.opc.pk) == Decimal("0.02")
    assert services.quota_balance(gw.world.opc) == Decimal("9.972")
    assert_books_sound()


def test_reservation_refused_when_quota_cannot_cover_it(gw: Gateway) -> None:
    with pytest.raises(QuotaExhausted):
        _reserve(gw, "big", max_cost="10.00000001")
    assert not UsageRecord.objects.filter(request_id="big").exists()
    assert _reserve(gw, "all", max_cost="10.00").reserved == Decimal("10.00")
    assert services.quota_balance(gw.world.opc) == 0
    assert_books_sound()


def test_usage_beyond_the_reservation_is_taken_from_the_quota_or_recorded(gw: Gateway) -> None:
    _reserve(gw, "under", max_cost="0.01")
    record = services.settle(request_id="under", prompt_tokens=0, completion_tokens=100_000)  # ¥0.80
    assert record.charged == Decimal("0.80") and record.uncollected == 0
    assert services.quota_balance(gw.world.opc) == Decimal("9.20")
    _reserve(gw, "broke", max_cost="9.20")  # the whole quota
    record = services.settle(request_id="broke", prompt_tokens=0, completion_tokens=2_000_000)  # ¥16
    assert record.charged == Decimal("9.20")
    assert record.uncollected == Decimal("6.80")
    assert services.quota_balance(gw.world.opc) == 0
    assert_books_sound()


def test_a_grant_arriving_later_is_topped_up_into_the_gateway(gw: Gateway) -> None:
    _reserve(gw, "first", max_cost="9.00")
    with pytest.raises(QuotaExhausted):
        _reserve(gw, "second", max_cost="5.00")
    services.grant_quota(
        operator=gw.world.operator, member=gw.world.opc, amount=Decimal("20.00"), idempotency_key="more"
    )
    assert services.quota_balance(gw.world.opc) == Decimal("21.00")
    assert _reserve(gw, "second", max_cost="5.00").reserved == Decimal("5.00")
    assert services.quota_balance(gw.world.opc) == Decimal("16.00")
    assert_books_sound()


def test_abandoned_reservations_are_released_and_say_so(gw: Gateway) -> None:
    _reserve(gw, "stuck", max_cost="1.00")
    assert services.release_abandoned() == 0  # still young: may be in flight
    assert services.release_abandoned(older_than=dt.timedelta(0)) == 1
    record = UsageRecord.objects.get(request_id="stuck")
    assert record.status == UsageStatus.RELEASED and record.outcome == Outcome.ABANDONED
    assert services.quota_balance(gw.world.opc) == Decimal("10.00")
    assert_books_sound()
