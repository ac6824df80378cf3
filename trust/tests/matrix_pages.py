"""Permission-matrix rows for the trust pages (see ``tests/test_permission_matrix.py``).

Objects (``o.extra``, built through the real services): a completed contract between ``world.client`` and
``world.opc`` with their thread (one message with an attachment), an open report by the OPC about the client's
order (reviewed by ``world.operator``: the client has no community, the reporter's operator reviews it) and a
credit-profile consent of the OPC with one export."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from marketplace import services as market
from marketplace.models import Contract
from organisations.models import Skill
from trust import services
from trust.models import CreditConsent, CreditExport, Message, Report, Thread


@dataclass
class TrustObjects:
    contract: Contract
    thread: Thread
    message: Message
    attachment_id: int
    report: Report
    consent: CreditConsent
    export: CreditExport


def setup(o: Any) -> TrustObjects:
    w = o.world
    order = market.post_order(
        client=w.client,
        actor=w.client_user,
        title="矩阵宣传片",
        category=Skill.objects.get_or_create(
            code="ai-short-drama", defaults={"name_zh": "AI短剧", "name_en": "AI short drama"}
        )[0],
        budget_min=Decimal("1000"),
        budget_max=Decimal("9000"),
        deadline=timezone.localdate() + dt.timedelta(days=30),
        procurement_method="inquiry",
    )
    market.publish_order(order=order, client=w.client, actor=None)
    bid = market.submit_bid(order=order, opc=w.opc, actor=None, price=Decimal("5000"), timeline_days=10)
    contract = market.award_bid(order=order, bid=bid, client=w.client, actor=None)
    milestone = contract.milestones.get()
    market.fund_milestone(milestone=milestone, client=w.client, actor=None, idempotency_key="m-fund")
    market.deliver_milestone(milestone=milestone, opc=w.opc, actor=None, note="交付")
    market.accept_milestone(milestone=milestone, client=w.client, actor=None, idempotency_key="m-accept")
    contract.refresh_from_db()
    thread = services.open_contract_thread(contract=contract, organisation=w.opc, actor=None)
    message = services.post_message(
        thread=thread,
        sender=w.opc,
        actor=None,
        body="成片已交付",
        attachments=[SimpleUploadedFile("成片说明.txt", "说明".encode())],
    )
    report = services.file_report(
        reporter=w.opc,
        actor=None,
        target_kind="order",
        reported=w.client,
        reason="fraud",
        details="矩阵举报",
        order=order,
    )
    export = services.create_credit_export(
        opc=w.opc, actor=w.opc_user, recipient="宁波银行", purpose="订单贷", consent_given=True
    )
    return TrustObjects(
        contract=contract,
        thread=thread,
        message=message,
        attachment_id=message.attachments.get().pk,
        report=report,
        consent=export.consent,
        export=export,
    )


def _x(o: Any) -> TrustObjects:
    return o.extra  # type: ignore[no-any-return]


PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "trust:inbox": ("GET", None, None, "L A A A A A A"),
    "trust:thread_start": ("POST", None, lambda o: {"contract": _x(o).contract.pk}, "L A N N N N A"),
    "trust:thread_detail": ("GET", lambda o: {"pk": _x(o).thread.pk}, None, "L A A N N N A"),
    "trust:attachment": ("GET", lambda o: {"pk": _x(o).attachment_id}, None, "L A A N N N A"),
    "trust:review": ("GET", lambda o: {"pk": _x(o).contract.pk}, None, "L A N N N N A"),
    "trust:organisation": ("GET", lambda o: {"pk": o.world.opc.pk}, None, "L A A A A A A"),
    "trust:price_hint": ("GET", None, None, "L A A A A A A"),
    # Reporting the client: everybody logged in may; the client itself gets a form error (400).
    "trust:report_new": (
        "POST",
        None,
        lambda o: {"kind": "organisation", "target": o.world.client.pk, "reason": "spam", "details": "矩阵"},
        "L A A A A A A",
    ),
    "trust:my_reports": ("GET", None, None, "L A A A A A A"),
    "trust:report_queue": ("GET", None, None, "L F A A F F F"),
    "trust:report_detail": ("GET", lambda o: {"pk": _x(o).report.pk}, None, "L F A N F F F"),
    "trust:credit_list": ("GET", None, None, "L A F F A F F"),
    "trust:credit_export": ("POST", lambda o: {"pk": _x(o).consent.pk}, None, "L A F F N F F"),
    "trust:credit_revoke": ("POST", lambda o: {"pk": _x(o).consent.pk}, None, "L A F F N F F"),
    "trust:credit_pdf": ("GET", lambda o: {"pk": _x(o).export.pk}, None, "L A F F N F F"),
    "trust:credit_json": ("GET", lambda o: {"pk": _x(o).export.pk}, None, "L A F F N F F"),
    "trust:credit_lookup": ("GET", None, None, "A A A A A A A"),
    "trust:credit_verify": ("GET", lambda o: {"code": _x(o).export.code}, None, "A A A A A A A"),
}
