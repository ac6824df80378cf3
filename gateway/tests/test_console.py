"""The quota console pages (/quota/): members' keys and usage, operators' grants, prices, channels, usage,
daily totals, statements and invoices. Behaviour, not just status codes: what changed and what did not."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from audit.models import AuditRecord
from core.testing import make_org, make_user
from gateway import services, upstream
from gateway.crypto import decrypt_api_key
from gateway.fake_upstream import FakeUpstream
from gateway.models import (
    Channel,
    ConsumptionStatement,
    ModelPrice,
    ProviderInvoice,
    UsageDaily,
    UsageRecord,
    VirtualKey,
)
from gateway.tests.conftest import MODEL, Gateway, assert_books_sound
from ledger.models import Account, Purpose, Transaction
from organisations.capabilities import OrgKind, OrgSubkind


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _use(gw: Gateway, n: int = 3, **body: Any) -> list[str]:
    ids = []
    for _ in range(n):
        reply = gw.chat(**body)
        assert reply.status == 200, reply.body
        ids.append(reply.headers["X-OPC-Request-Id"])
    return ids


# --------------------------------------------------------------------------------------------- member


def test_member_creates_a_key_whose_secret_is_shown_once(gw: Gateway) -> None:
    client = _client(gw.world.opc_user)
    response = client.post(
        reverse("quota:keys"),
        {"name": "剪辑机", "tag": "星门", "allowed_models": [MODEL], "rpm_limit": "30", "expires_on": ""},
    )
    assert response.status_code == 201
    secret = response.context["secret"]
    key = VirtualKey.objects.get(name="剪辑机")
    assert (
        key.digest == VirtualKey.digest_of(secret) and key.allowed_models == [MODEL] and key.rpm_limit == 30
    )
    assert secret in response.content.decode() and response["Cache-Control"] == "no-store"
    page = client.get(reverse("quota:keys")).content.decode()
    assert secret not in page and key.prefix in page
    # The new key works on the gateway at once.
    assert gw.chat(secret=secret).status == 200


def test_key_form_refuses_bad_input_and_changes_nothing(gw: Gateway) -> None:
    client = _client(gw.world.opc_user)
    before = VirtualKey.objects.count()
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    for data in ({"name": ""}, {"name": "x", "expires_on": yesterday}, {"name": "x", "rpm_limit": "-1"}):
        assert client.post(reverse("quota:keys"), data).status_code == 400
    assert VirtualKey.objects.count() == before


def test_member_revokes_a_key_and_it_stops_working(gw: Gateway) -> None:
    assert gw.chat().status == 200
    client = _client(gw.world.opc_user)
    assert client.post(reverse("quota:key_revoke", args=[gw.key.pk])).status_code == 302
    assert gw.chat().status == 401
    # Another member's key is not found, not revoked.
    other_key, _ = services.issue_virtual_key(organisation=gw.world.other_opc, name="other")
    assert client.post(reverse("quota:key_revoke", args=[other_key.pk])).status_code == 404
    assert VirtualKey.objects.get(pk=other_key.pk).revoked_at is None


def test_member_usage_page_filters_charts_and_exports(gw: Gateway) -> None:
    _use(gw, 2)
    tagged, tagged_secret = services.issue_virtual_key(organisation=gw.world.opc, name="tagged", tag="出海")
    _use(gw, 1, secret=tagged_secret)
    client = _client(gw.world.opc_user)
    page = client.get(reverse("quota:usage"))
    assert page.status_code == 200
    assert page.context["totals"]["requests"] == 3
    assert page.context["chart"].bars  # an SVG bar per model and day with usage
    assert b"<svg" in page.content
    by_tag = client.get(reverse("quota:usage"), {"tag": "出海"})
    assert by_tag.context["totals"]["requests"] == 1
    by_key = client.get(reverse("quota:usage"), {"key": str(tagged.pk)})
    assert by_key.context["totals"]["requests"] == 1
    future = timezone.localdate() + dt.timedelta(days=3)
    later = {"start": future.isoformat(), "end": (future + dt.timedelta(days=1)).isoformat()}
    assert client.get(reverse("quota:usage"), later).context["totals"]["requests"] == 0
    assert client.get(reverse("quota:usage"), {"start": "2026-05-01", "end": "2026-04-01"}).status_code == 400

    csv = client.get(reverse("quota:usage_export", args=["csv"]))
    text = csv.content.decode("utf-8-sig")
    assert csv["Content-Type"].startswith("text/csv") and text.count(MODEL) == 3 and "出海" in text
    xlsx = client.get(reverse("quota:usage_export", args=["xlsx"]), {"tag": "出海"})
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][3] == "出海" and rows[1][4] == MODEL
    assert client.get(reverse("quota:usage_export", args=["pdf"])).status_code == 404


def test_member_quota_page_shows_balance_grants_and_keys(gw: Gateway) -> None:
    _use(gw, 1)
    page = _client(gw.world.opc_user).get(reverse("quota:mine"))
    assert page.status_code == 200
    balance = page.context["balance"]
    assert balance.available == services.quota_balance(gw.world.opc) < Decimal("10.00")
    assert [e.amount for e in page.context["grants"]] == [Decimal("10.00")]


# --------------------------------------------------------------------------------------------- operator


def test_operator_grants_once_per_form_even_when_submitted_twice(gw: Gateway) -> None:
    client = _client(gw.world.operator_user)
    form = client.get(reverse("quota:operator")).context["form"]
    token = form.initial["request_token"]
    data = {"member": gw.world.opc.pk, "amount": "25.00", "memo": "四月", "request_token": token}
    assert client.post(reverse("quota:operator"), data).status_code == 302
    assert client.post(reverse("quota:operator"), data).status_code == 302  # double click: same grant
    assert services.quota_balance(gw.world.opc) == Decimal("35.00")
    # A member of another operator's community is not offered (and not granted).
    data = {"member": gw.world.other_opc.pk, "amount": "1.00", "request_token": "x1"}
    assert client.post(reverse("quota:operator"), data).status_code == 400
    # More than the pool holds: a form error, nothing moved.
    pool = Account.objects.get(code=f"org-{gw.world.operator.pk}-funding-pool").balance
    data = {"member": gw.world.opc.pk, "amount": str(pool + 1), "request_token": "x2"}
    response = client.post(reverse("quota:operator"), data)
    assert response.status_code == 409 and response.context["form"].non_field_errors()
    assert services.quota_balance(gw.world.opc) == Decimal("35.00")


def test_operator_sets_a_list_price_with_its_source(gw: Gateway) -> None:
    client = _client(gw.world.operator_user)
    data = {"model": "qwen-plus", "input_per_million": "0.8", "output_per_million": "2", "kind": "list"}
    assert client.post(reverse("quota:prices"), data).status_code == 400  # a list price needs its source
    data |= {"source": "https://help.aliyun.com/zh/model-studio/models", "source_date": "2026-01-05"}
    assert client.post(reverse("quota:prices"), data).status_code == 302
    price = ModelPrice.objects.get(model="qwen-plus")
    assert price.cached_input_per_million == Decimal("0.8") and price.source_date == dt.date(2026, 1, 5)
    assert AuditRecord.objects.filter(action="gateway.price_set", object_id=str(price.pk)).exists()
    future = (timezone.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    data |= {"input_per_million": "0.6", "effective_from": future}
    assert client.post(reverse("quota:prices"), data).status_code == 302
    page = client.get(reverse("quota:prices"))
    current = {p.model: p for p in page.context["current"]}
    assert current["qwen-plus"].input_per_million == Decimal("0.8")  # the new one is not in force yet


def test_channel_crud_keeps_the_api_key_secret(gw: Gateway) -> None:
    client = _client(gw.world.operator_user)
    data = {
        "name": "阿里云百炼",
        "provider": "qwen",
        "base_url": "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "api_key": "sk-super-secret-1234",
        "models": "qwen-plus\nqwen-max = qwen-max-latest",
        "max_output_tokens": "8192",
        "priority": "5",
        "weight": "2",
        "connect_timeout": "5",
        "read_timeout": "120",
    }
    assert client.post(reverse("quota:channels"), data).status_code == 302
    channel = Channel.objects.get(name="阿里云百炼")
    assert decrypt_api_key(channel.api_key_encrypted) == "sk-super-secret-1234"
    assert {m.public_name: m.upstream_name for m in channel.models.all()} == {
        "qwen-plus": "qwen-plus",
        "qwen-max": "qwen-max-latest",
    }
    detail = client.get(reverse("quota:channel_detail", args=[channel.pk]))
    assert b"sk-super-secret-1234" not in detail.content and b"1234" in detail.content  # the hint only
    # Editing without a key keeps it; with one replaces it; models left out stop being served.
    edit = data | {"api_key": "", "models": "qwen-plus", "is_enabled": "on", "priority": "7"}
    assert client.post(reverse("quota:channel_detail", args=[channel.pk]), edit).status_code == 302
    channel.refresh_from_db()
    assert decrypt_api_key(channel.api_key_encrypted) == "sk-super-secret-1234" and channel.priority == 7
    assert list(channel.models.values_list("public_name", flat=True)) == ["qwen-plus"]
    edit |= {"api_key": "sk-rotated-5678"}
    client.post(reverse("quota:channel_detail", args=[channel.pk]), edit)
    channel.refresh_from_db()
    assert decrypt_api_key(channel.api_key_encrypted) == "sk-rotated-5678"
    # Bad input: a form error, nothing changed.
    bad = edit | {"models": "has space", "weight": "0"}
    assert client.post(reverse("quota:channel_detail", args=[channel.pk]), bad).status_code == 400
    # Another operator cannot see it; an unused channel can be deleted, a used one cannot.
    other = _client(gw.world.other_operator_user)
    assert other.get(reverse("quota:channel_detail", args=[channel.pk])).status_code == 404
    assert client.post(reverse("quota:channel_delete", args=[channel.pk])).status_code == 302
    assert not Channel.objects.filter(pk=channel.pk).exists()
    _use(gw, 1)
    client.post(reverse("quota:channel_delete", args=[gw.channel.pk]))
    assert Channel.objects.filter(pk=gw.channel.pk).exists()


def test_test_channel_action_reports_the_upstream_answer(gw: Gateway) -> None:
    client = _client(gw.world.operator_user)
    url = reverse("quota:channel_test", args=[gw.channel.pk])
    ok = client.post(url, headers={"HX-Request": "true"})
    assert ok.status_code == 200 and b'data-state="ok"' in ok.content
    assert gw.fake.requests[-1]["body"] == {
        "model": "deepseek-v3",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
    }
    assert UsageRecord.objects.count() == 0  # not metered
    gw.fake.fail_status = 401
    failed = client.post(url, headers={"HX-Request": "true"})
    assert b'data-state="failed"' in failed.content and b"401" in failed.content


def test_compute_provider_manages_its_own_channels_only(gw: Gateway) -> None:
    compute_user = make_user("compute")
    make_org(OrgKind.PROVIDER, "合规算力公司", compute_user, subkind=OrgSubkind.COMPUTE, verified=True)
    client = _client(compute_user)
    assert client.get(reverse("quota:channels")).status_code == 200
    assert client.get(reverse("quota:channel_detail", args=[gw.channel.pk])).status_code == 404
    assert client.get(reverse("quota:operator")).status_code == 403
    lawyer = _client(gw.world.provider_user)  # a law firm is a provider, not a compute provider
    assert lawyer.get(reverse("quota:channels")).status_code == 403


def test_operator_usage_covers_its_members_only(gw: Gateway) -> None:
    _use(gw, 2)
    page = _client(gw.world.operator_user).get(reverse("quota:operator_usage"))
    assert page.context["totals"]["requests"] == 2
    other = _client(gw.world.other_operator_user).get(reverse("quota:operator_usage"))
    assert other.context["totals"]["requests"] == 0
    export = _client(gw.world.operator_user).get(reverse("quota:operator_usage_export", args=["csv"]))
    assert gw.world.opc.name in export.content.decode("utf-8-sig")


# --------------------------------------------------------------------------------------------- roll-up


def test_daily_roll_up_is_idempotent_and_picks_up_late_settlements(gw: Gateway) -> None:
    ids = _use(gw, 3)
    today = timezone.localdate()
    assert services.roll_up_usage(day=today) == 1
    row = UsageDaily.objects.get()
    assert (row.requests, row.channel_id, row.model) == (3, gw.channel.pk, MODEL)
    assert row.charged == sum(r.charged for r in UsageRecord.objects.all())
    assert services.roll_up_usage(day=today) == 1 and UsageDaily.objects.count() == 1  # same rows again
    # A request settled after the first roll-up is included by the next one.
    price = ModelPrice.objects.get(model=MODEL)
    services.reserve(
        request_id="late",
        key=gw.key,
        endpoint="chat.completions",
        model=MODEL,
        stream=False,
        price=price,
        max_cost=Decimal("0.01"),
    )
    services.roll_up_usage(day=today)
    assert UsageDaily.objects.get().requests == 3  # in flight: not counted yet
    services.settle(request_id="late", prompt_tokens=10, completion_tokens=10, channel_id=gw.channel.pk)
    services.roll_up_usage(day=today)
    assert UsageDaily.objects.get().requests == 4
    assert len(ids) == 3
    # The operator's page and the background task (run inline in tests).
    client = _client(gw.world.operator_user)
    assert client.post(reverse("quota:rollup")).status_code == 302
    page = client.get(reverse("quota:daily"))
    assert [d.requests for d in page.context["page"]] == [4]


# --------------------------------------------------------------------------------------------- statements


def _last_month() -> dt.date:
    return (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def test_consumption_statement_pdf_freezes_last_months_usage(gw: Gateway) -> None:
    from pypdf import PdfReader

    ids = _use(gw, 3)
    start, _end = services.month_bounds(_last_month())
    UsageRecord.objects.filter(request_id__in=ids[:2]).update(started_at=start + dt.timedelta(days=3))
    client = _client(gw.world.operator_user)
    data = {"member": gw.world.opc.pk, "month": _last_month().isoformat()}
    assert client.post(reverse("quota:statements"), data).status_code == 302
    statement = ConsumptionStatement.objects.get()
    assert statement.facts["requests"] == 2 and statement.facts["rows"][0]["model"] == MODEL
    assert statement.facts["member_name"] == gw.world.opc.name
    # The member downloads it; the text carries the member, the model and the code.
    pdf = _client(gw.world.opc_user).get(reverse("quota:statement_pdf", args=[statement.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(b"".join(pdf.streaming_content))).pages)
    assert gw.world.opc.name in text and MODEL in text and statement.code in text
    # Anyone can verify the code.
    verify = Client().get(reverse("quota:statement_verify", args=[statement.code.lower()]))
    assert verify.status_code == 200 and verify.context["state"] == "valid"
    # One current statement per month; revoke to re-issue.
    again = client.post(reverse("quota:statements"), data)
    assert again.status_code == 409
    client.post(reverse("quota:statement_revoke", args=[statement.pk]), {"reason": "补录用量"})
    assert (
        Client().get(reverse("quota:statement_verify", args=[statement.code])).context["state"] == "revoked"
    )
    assert client.post(reverse("quota:statements"), data).status_code == 302
    assert ConsumptionStatement.objects.filter(revoked_at__isnull=True).count() == 1
    # The month not yet over is refused by the service.
    with pytest.raises(services.DomainError):
        services.issue_consumption_statement(
            operator=gw.world.operator,
            member=gw.world.opc,
            month=timezone.localdate(),
            actor=gw.world.operator_user,
        )


def test_unknown_statement_code_is_404(gw: Gateway) -> None:
    assert Client().get(reverse("quota:statement_verify", args=["ZZZZZZZZZZZZ"])).status_code == 404
    assert Client().get(reverse("quota:statement_lookup"), {"code": "abc"}).status_code == 302


# --------------------------------------------------------------------------------------------- invoices


def test_provider_invoice_is_reconciled_against_its_channels_usage(gw: Gateway) -> None:
    compute_user = make_user("compute")
    compute = make_org(
        OrgKind.PROVIDER, "合规算力公司", compute_user, subkind=OrgSubkind.COMPUTE, verified=True
    )
    provider_channel = services.create_channel(
        owner=compute,
        name="海外模型",
        base_url="http://upstream-1.test/v1",
        api_key=gw.fake.api_key,
        models={MODEL: "deepseek-v3"},
        priority=100,  # tried first
    )
    gw.fake.prompt_tokens = 100_000  # ¥0.2 + 14 × 8 / 1M a request
    ids = _use(gw, 3)
    assert set(UsageRecord.objects.filter(request_id__in=ids).values_list("channel_id", flat=True)) == {
        provider_channel.pk
    }
    start, _end = services.month_bounds(_last_month())
    UsageRecord.objects.filter(request_id__in=ids).update(started_at=start + dt.timedelta(days=1))
    usage = sum(r.cost for r in UsageRecord.objects.filter(request_id__in=ids)).quantize(Decimal("0.01"))
    client = _client(gw.world.operator_user)
    data = {
        "provider": compute.pk,
        "month": _last_month().isoformat(),
        "number": "26332000000012345678",
        "issued_on": timezone.localdate().isoformat(),
        "amount": str(usage + Decimal("1.50")),
        "tax_amount": "0.05",
        "note": "",
    }
    response = client.post(reverse("quota:invoices"), data)
    invoice = ProviderInvoice.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "quota:invoice_detail", args=[invoice.pk]
    )
    detail = client.get(response["Location"])
    r = detail.context["r"]
    assert r.usage_cost == usage and r.difference == Decimal("1.50") and r.requests == 3
    assert client.post(reverse("quota:invoices"), data).status_code == 409  # the same number twice
    law_firm = data | {"provider": gw.world.provider.pk, "number": "X-2"}
    assert client.post(reverse("quota:invoices"), law_firm).status_code == 400  # not a compute provider
    assert _client(gw.world.other_operator_user).get(response["Location"]).status_code == 404


# --------------------------------------------------------------------------------------------- language


def test_console_is_chinese_first_and_switches_to_english(gw: Gateway) -> None:
    client = _client(gw.world.opc_user)
    with translation.override("en"):
        english = gettext("My token quota")
    client.cookies["django_language"] = "en"
    assert english in client.get(reverse("quota:mine")).content.decode()


def test_books_stay_sound_through_console_and_gateway(gw: Gateway) -> None:
    _use(gw, 4, stream=True)
    services.post_all_usage()
    assert Transaction.objects.filter(kind="gateway.usage_posted").count() <= 1
    assert_books_sound()
    assert Account.objects.filter(purpose=Purpose.QUOTA, balance__lt=0).count() == 0


def test_channel_test_against_a_real_demo_upstream_server(gw: Gateway) -> None:
    from gateway.fake_upstream import ServerThread

    upstream.use_transport(None)
    fake = FakeUpstream()
    with ServerThread(fake) as server:
        channel = services.create_channel(
            owner=gw.world.operator, name="live", base_url=server.url, api_key=fake.api_key, models=["m"]
        )
        result = _client(gw.world.operator_user).post(
            reverse("quota:channel_test", args=[channel.pk]), headers={"HX-Request": "true"}
        )
    assert b'data-state="ok"' in result.content
