"""The quota console API (/api/gateway/): the same services as the pages, with a token or the session."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.test import Client
from django.utils import timezone

from accounts.services import issue_api_token
from core.testing import make_org, make_user
from gateway import services
from gateway.models import Channel, VirtualKey
from gateway.tests.conftest import MODEL, Gateway
from organisations.capabilities import OrgKind, OrgSubkind


def _api(user: Any, organisation: Any) -> tuple[Client, dict[str, str]]:
    _token, secret = issue_api_token(user=user, organisation=organisation, name="t")
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_member_keys_balance_and_usage_over_the_api(gw: Gateway) -> None:
    client, auth = _api(gw.world.opc_user, gw.world.opc)
    created = client.post(
        "/api/gateway/keys",
        {"name": "ci", "tag": "出海", "allowed_models": [MODEL], "tpm_limit": 100000},
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert created.json()["base_url"].endswith("/v1")
    assert VirtualKey.objects.get(pk=created.json()["key"]["id"]).digest == VirtualKey.digest_of(secret)
    listed = client.get("/api/gateway/keys", **auth).json()
    assert all("secret" not in k and "digest" not in k for k in listed)
    assert gw.chat(secret=secret).status == 200
    usage = client.get("/api/gateway/usage", {"tag": "出海"}, **auth).json()
    assert usage["count"] == 1 and usage["results"][0]["model"] == MODEL
    balance = client.get("/api/gateway/balance", **auth).json()
    assert Decimal(balance["available"]) == services.quota_balance(gw.world.opc)
    revoked = client.post(f"/api/gateway/keys/{created.json()['key']['id']}/revoke", **auth)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert gw.chat(secret=secret).status == 401
    bad = client.get("/api/gateway/usage", {"start": "2026-05-02", "end": "2026-05-01"}, **auth)
    assert bad.status_code == 400


def test_operator_grants_prices_and_channels_over_the_api(gw: Gateway) -> None:
    client, auth = _api(gw.world.operator_user, gw.world.operator)
    body = {"member_id": gw.world.opc.pk, "amount": "5.00", "idempotency_key": "may-2026"}
    first = client.post("/api/gateway/grants", body, content_type="application/json", **auth)
    again = client.post("/api/gateway/grants", body, content_type="application/json", **auth)
    assert first.status_code == again.status_code == 201
    assert first.json()["transaction_id"] == again.json()["transaction_id"]
    assert services.quota_balance(gw.world.opc) == Decimal("15.00")
    foreign = client.post(
        "/api/gateway/grants",
        body | {"member_id": gw.world.other_opc.pk},
        content_type="application/json",
        **auth,
    )
    assert foreign.status_code == 404
    members = client.get("/api/gateway/members", **auth).json()
    assert [m["member_id"] for m in members] == [gw.world.opc.pk]

    price = client.post(
        "/api/gateway/prices",
        {"model": "qwen-plus", "input_per_million": "0.8", "output_per_million": "2", "kind": "list"},
        content_type="application/json",
        **auth,
    )
    assert price.status_code == 400  # a list price needs its source and date
    price = client.post(
        "/api/gateway/prices",
        {
            "model": "qwen-plus",
            "input_per_million": "0.8",
            "output_per_million": "2",
            "kind": "list",
            "source": "https://help.aliyun.com/zh/model-studio/models",
            "source_date": "2026-01-05",
        },
        content_type="application/json",
        **auth,
    )
    assert price.status_code == 201 and price.json()["cached_input_per_million"] == "0.8000"

    created = client.post(
        "/api/gateway/channels",
        {
            "name": "百炼",
            "base_url": "https://dashscope.aliyuncs.com/compatible-mode/v1",
            "api_key": "sk-secret-9999",
            "models": {"qwen-plus": "qwen-plus"},
        },
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 201 and "api_key" not in created.json()
    assert created.json()["api_key_hint"] == "…9999"
    channel_id = created.json()["id"]
    patched = client.patch(
        f"/api/gateway/channels/{channel_id}",
        {"priority": 9, "is_enabled": False},
        content_type="application/json",
        **auth,
    )
    assert patched.json()["priority"] == 9 and patched.json()["is_enabled"] is False
    assert patched.json()["models"] == [
        {"public_name": "qwen-plus", "upstream_name": "qwen-plus", "max_output_tokens": 4096}
    ]
    probe = client.post(f"/api/gateway/channels/{gw.channel.pk}/test", **auth)
    assert probe.status_code == 200 and probe.json()["ok"] is True
    assert client.delete(f"/api/gateway/channels/{channel_id}", **auth).status_code == 204
    assert not Channel.objects.filter(pk=channel_id).exists()
    other, other_auth = _api(gw.world.other_operator_user, gw.world.other_operator)
    assert other.get(f"/api/gateway/channels/{gw.channel.pk}", **other_auth).status_code == 404


def test_statements_and_invoices_over_the_api(gw: Gateway) -> None:
    client, auth = _api(gw.world.operator_user, gw.world.operator)
    last_month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    issued = client.post(
        "/api/gateway/statements",
        {"member_id": gw.world.opc.pk, "month": last_month.isoformat()},
        content_type="application/json",
        **auth,
    )
    assert issued.status_code == 201 and issued.json()["verify_url"].endswith(f"/{issued.json()['code']}/")
    member, member_auth = _api(gw.world.opc_user, gw.world.opc)
    assert [s["code"] for s in member.get("/api/gateway/statements", **member_auth).json()] == [
        issued.json()["code"]
    ]
    compute = make_org(
        OrgKind.PROVIDER, "合规算力", make_user("compute"), subkind=OrgSubkind.COMPUTE, verified=True
    )
    invoice = client.post(
        "/api/gateway/invoices",
        {
            "provider_id": compute.pk,
            "month": last_month.isoformat(),
            "number": "INV-1",
            "issued_on": timezone.localdate().isoformat(),
            "amount": "12.00",
        },
        content_type="application/json",
        **auth,
    )
    assert invoice.status_code == 201
    assert invoice.json()["usage_cost"] == "0.00" and invoice.json()["difference"] == "12.00"
    assert client.get(f"/api/gateway/invoices/{invoice.json()['id']}", **auth).status_code == 200
    unknown = client.post(
        "/api/gateway/invoices",
        {
            "provider_id": gw.world.provider.pk,  # a law firm
            "month": last_month.isoformat(),
            "number": "INV-2",
            "issued_on": timezone.localdate().isoformat(),
            "amount": "1.00",
        },
        content_type="application/json",
        **auth,
    )
    assert unknown.status_code == 404
