"""Permission-matrix rows of the quota console pages and the /api/gateway/ API (see
``tests/test_permission_matrix.py``). Objects: a channel run by the operator, the OPC's key, a consumption
statement the operator issued to the OPC, and an invoice of a compute provider to the operator."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.utils import timezone

from core.testing import make_org, make_user
from gateway import services
from gateway.models import Channel, ConsumptionStatement, ProviderInvoice, VirtualKey
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import Organisation

MODEL = "deepseek-chat"


@dataclass
class Extra:
    channel: Channel
    key: VirtualKey
    statement: ConsumptionStatement
    invoice: ProviderInvoice
    compute: Organisation
    last_month: dt.date


def setup(o: Any) -> Extra:
    w = o.world
    channel = services.create_channel(
        owner=w.operator,
        name="matrix channel",
        base_url="http://127.0.0.1:9/v1",  # the discard port: the test action fails fast
        api_key="sk-matrix-upstream",
        models=[MODEL],
    )
    services.set_model_price(model=MODEL, input_per_million=Decimal("2"), output_per_million=Decimal("8"))
    key, _secret = services.issue_virtual_key(organisation=w.opc, name="matrix")
    last_month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    statement = ConsumptionStatement(
        organisation=w.opc, operator=w.operator, month=last_month, issued_by=w.operator_user, facts={}
    )
    statement.pdf.save("matrix.pdf", ContentFile(b"%PDF-1.4 permission matrix\n"), save=False)
    statement.save()
    compute = make_org(
        OrgKind.PROVIDER, "合规算力（矩阵）", make_user("compute"), subkind=OrgSubkind.COMPUTE, verified=True
    )
    invoice = services.record_provider_invoice(
        operator=w.operator,
        provider=compute,
        month=last_month,
        number="MATRIX-0001",
        issued_on=timezone.localdate(),
        amount=Decimal("100.00"),
        actor=w.operator_user,
    )
    return Extra(channel, key, statement, invoice, compute, last_month)


def _e(o: Any) -> Extra:
    extra: Extra = o.extra
    return extra


MEMBER = "L A F F A F F"
OPERATOR = "L F A A F F F"
OPERATOR_OBJECT = "L F A N F F F"

PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "quota:mine": ("GET", None, None, MEMBER),
    "quota:keys": ("GET", None, None, MEMBER),
    "quota:key_revoke": ("POST", lambda o: {"pk": _e(o).key.pk}, None, "L A F F N F F"),
    "quota:usage": ("GET", None, None, MEMBER),
    "quota:usage_export": ("GET", lambda o: {"fmt": "csv"}, None, MEMBER),
    "quota:statement_lookup": ("GET", None, None, "A A A A A A A"),
    "quota:statement_verify": ("GET", lambda o: {"code": _e(o).statement.code}, None, "A A A A A A A"),
    "quota:statement_pdf": ("GET", lambda o: {"pk": _e(o).statement.pk}, None, "L A A N N N N"),
    "quota:operator": ("GET", None, None, OPERATOR),
    "quota:operator_usage": ("GET", None, None, OPERATOR),
    "quota:operator_usage_export": ("GET", lambda o: {"fmt": "xlsx"}, None, OPERATOR),
    "quota:daily": ("GET", None, None, OPERATOR),
    "quota:rollup": ("POST", None, None, OPERATOR),
    "quota:statements": ("GET", None, None, OPERATOR),
    "quota:statement_revoke": (
        "POST",
        lambda o: {"pk": _e(o).statement.pk},
        lambda o: {"reason": "数据有误"},
        OPERATOR_OBJECT,
    ),
    "quota:invoices": ("GET", None, None, OPERATOR),
    "quota:invoice_detail": ("GET", lambda o: {"pk": _e(o).invoice.pk}, None, OPERATOR_OBJECT),
    "quota:prices": ("GET", None, None, OPERATOR),
    "quota:channels": ("GET", None, None, OPERATOR),
    "quota:channel_detail": ("GET", lambda o: {"pk": _e(o).channel.pk}, None, OPERATOR_OBJECT),
    "quota:channel_test": ("POST", lambda o: {"pk": _e(o).channel.pk}, None, OPERATOR_OBJECT),
    "quota:channel_delete": ("POST", lambda o: {"pk": _e(o).channel.pk}, None, OPERATOR_OBJECT),
}

API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", "/api/gateway/balance"): (None, None, MEMBER),
    ("GET", "/api/gateway/keys"): (None, None, MEMBER),
    ("POST", "/api/gateway/keys"): (None, lambda o: {"name": "ci", "tag": "短剧"}, MEMBER),
    ("POST", "/api/gateway/keys/{id}/revoke"): (lambda o: {"id": _e(o).key.pk}, None, "L A F F N F F"),
    ("GET", "/api/gateway/usage"): (None, None, "L A A A A F F"),
    ("GET", "/api/gateway/usage/daily"): (None, None, "L A A A A F F"),
    ("GET", "/api/gateway/channels"): (None, None, OPERATOR),
    ("POST", "/api/gateway/channels"): (
        None,
        lambda o: {
            "name": "api channel",
            "base_url": "https://api.example.cn/v1",
            "api_key": "sk-example",
            "models": {"qwen-plus": "qwen-plus"},
        },
        OPERATOR,
    ),
    ("GET", "/api/gateway/channels/{id}"): (lambda o: {"id": _e(o).channel.pk}, None, OPERATOR_OBJECT),
    ("PATCH", "/api/gateway/channels/{id}"): (
        lambda o: {"id": _e(o).channel.pk},
        lambda o: {"priority": 5},
        OPERATOR_OBJECT,
    ),
    ("DELETE", "/api/gateway/channels/{id}"): (lambda o: {"id": _e(o).channel.pk}, None, OPERATOR_OBJECT),
    ("POST", "/api/gateway/channels/{id}/test"): (lambda o: {"id": _e(o).channel.pk}, None, OPERATOR_OBJECT),
    ("GET", "/api/gateway/prices"): (None, None, "L A A A A A A"),
    ("POST", "/api/gateway/prices"): (
        None,
        lambda o: {"model": "qwen-plus", "input_per_million": "0.8", "output_per_million": "2"},
        OPERATOR,
    ),
    ("GET", "/api/gateway/members"): (None, None, OPERATOR),
    ("POST", "/api/gateway/grants"): (
        None,
        lambda o: {"member_id": o.world.opc.pk, "amount": "1.00", "idempotency_key": "matrix"},
        OPERATOR_OBJECT,
    ),
    ("GET", "/api/gateway/statements"): (None, None, "L A A A A F F"),
    ("POST", "/api/gateway/statements"): (
        None,
        lambda o: {"member_id": o.world.opc.pk, "month": _e(o).last_month.isoformat()},
        OPERATOR_OBJECT,
    ),
    ("GET", "/api/gateway/invoices"): (None, None, OPERATOR),
    ("POST", "/api/gateway/invoices"): (
        None,
        lambda o: {
            "provider_id": _e(o).compute.pk,
            "month": _e(o).last_month.isoformat(),
            "number": "MATRIX-0002",
            "issued_on": timezone.localdate().isoformat(),
            "amount": "80.00",
        },
        OPERATOR,
    ),
    ("GET", "/api/gateway/invoices/{id}"): (lambda o: {"id": _e(o).invoice.pk}, None, OPERATOR_OBJECT),
}
