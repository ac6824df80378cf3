"""Permission-matrix rows for contract review (see ``tests/test_permission_matrix.py``).

Objects (``o.extra``): a review the OPC ran; an open public tender of the client with a contract draft attached,
on which the OPC has bid (so the client and the OPC are parties, another OPC only sees the open order); an
investment intent with a term sheet between the OPC and an event organised by the operator; a marketplace
contract between the client and the OPC (for the fair model contracts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from contracts import services
from contracts.models import Review

TERMS = "第一条 乙方的全部作品著作权永久转让给投资方。\n第二条 争议提交投资方所在地人民法院管辖。"


@dataclass
class ReviewObjects:
    review: Review
    attachment_id: int
    intent_id: int
    contract_id: int


def setup(o: Any) -> ReviewObjects:
    from events.models import Event, InvestmentIntent
    from marketplace import services as market
    from marketplace.tests.conftest import awarded, bid, open_tender

    w = o.world
    review = services.review_text(organisation=w.opc, actor=w.opc_user, text=TERMS)
    order = open_tender(w)
    attachment = market.add_attachment(
        order=order,
        client=w.client,
        actor=w.client_user,
        upload=SimpleUploadedFile("合同草案.txt", TERMS.encode("utf-8")),
    )
    bid(w, order)
    start = timezone.now() + dt.timedelta(days=7)
    event = Event.objects.create(
        organiser=w.operator,
        community=w.community,
        title="AI 短剧投融资对接会",
        venue="海曙OPC云创Labo",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=3),
        capacity=50,
    )
    intent = InvestmentIntent(
        event=event, investor_name="某文化投资基金", opc=w.opc, amount=Decimal("10000000")
    )
    intent.term_sheet.save("term-sheet.txt", ContentFile(TERMS.encode("utf-8")), save=False)
    intent.term_sheet_name = "投资条款清单.txt"
    intent.save()
    contract = awarded(w)
    return ReviewObjects(
        review=review, attachment_id=attachment.pk, intent_id=intent.pk, contract_id=contract.pk
    )


PASTE = {"text": "甲方有权随时解除本合同，无需任何理由。"}

#   name: (method, kwargs(o) -> dict, data(o) -> dict, "anon opc operator other_operator other_opc authority client")
PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "contracts:reviews": ("GET", None, None, "L A A A A A A"),
    "contracts:review_new": ("POST", None, lambda o: PASTE, "L A A A A A A"),
    "contracts:review_detail": ("GET", lambda o: {"pk": o.extra.review.pk}, None, "L A N N N N N"),
    "contracts:review_pdf": ("GET", lambda o: {"pk": o.extra.review.pk}, None, "L A N N N N N"),
    # POST: source and id travel in the form (GET takes them from the query string)
    "contracts:review_from_file": (
        "POST",
        None,
        lambda o: {"source": "marketplace.attachment", "id": o.extra.attachment_id},
        "L A N N F N A",
    ),
    "contracts:templates": ("GET", None, None, "L A A A A A A"),
    # the model contracts are for the parties to the marketplace contract (its client and its OPC)
    "contracts:contract_template": ("GET", lambda o: {"pk": o.extra.contract_id}, None, "L A N N N N A"),
    "contracts:contract_template_pdf": ("GET", lambda o: {"pk": o.extra.contract_id}, None, "L A N N N N A"),
}

C = "/api/contracts"

#   (method, path): (path params(o) -> dict, json body(o) -> dict | None, "anon opc operator …")
API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", f"{C}/reviews"): (None, None, "L A A A A A A"),
    ("POST", f"{C}/reviews"): (None, lambda o: PASTE, "L A A A A A A"),
    # without a multipart file every caller gets a 422 (allowed through, refused by the schema)
    ("POST", f"{C}/reviews/upload"): (None, None, "L A A A A A A"),
    ("GET", f"{C}/reviews/{{review_id}}"): (
        lambda o: {"review_id": o.extra.review.pk},
        None,
        "L A N N N N N",
    ),
    ("POST", f"{C}/attachments/{{attachment_id}}/review"): (
        lambda o: {"attachment_id": o.extra.attachment_id},
        None,
        "L A N N F N A",
    ),
    ("POST", f"{C}/term-sheets/{{intent_id}}/review"): (
        lambda o: {"intent_id": o.extra.intent_id},
        None,
        "L A A N N N N",
    ),
    ("GET", f"{C}/rules"): (None, None, "L A A A A A A"),
    ("GET", f"{C}/marketplace-contracts/{{contract_id}}/template"): (
        lambda o: {"contract_id": o.extra.contract_id},
        None,
        "L A N N N N A",
    ),
}
