"""Reads of the contracts app, shared by the pages and the API.

A review belongs to the organisation that ran it; nobody else sees it (404). A document from another app that
the caller can see but is not party to is "not permitted" (403); one it cannot see at all is "not found" (404).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from contracts.models import Finding, Review
from contracts.services import attachment_party_ids, intent_party_ids
from core.errors import NotFound, NotPermitted
from core.http import parse_id
from organisations.access import Scope
from organisations.capabilities import OrgKind


def _id(raw: Any) -> int:
    value = parse_id(raw)
    if value is None:
        raise NotFound()
    return value


def reviews_for(scope: Scope) -> QuerySet[Review]:
    if scope.organisation is None:
        return Review.objects.none()
    return Review.objects.filter(organisation=scope.organisation).select_related("created_by")


def get_review(scope: Scope, pk: Any) -> Review:
    review = (
        reviews_for(scope)
        .filter(pk=_id(pk))
        .prefetch_related(Prefetch("findings", queryset=Finding.objects.order_by("position")))
        .first()
    )
    if review is None:
        raise NotFound()
    return review


def reviews_of_source(scope: Scope, source: str, source_id: int) -> QuerySet[Review]:
    return reviews_for(scope).filter(source=source, source_id=source_id)


def get_attachment_for_review(scope: Scope, pk: Any) -> Any:
    """A marketplace order attachment the caller is party to (403 when it can see the order but is not a
    party, 404 otherwise)."""
    from marketplace import selectors as market
    from marketplace.models import OrderAttachment

    attachment = OrderAttachment.objects.select_related("order").filter(pk=_id(pk)).first()
    org = scope.organisation
    if attachment is None or org is None:
        raise NotFound()
    if org.pk in attachment_party_ids(attachment):
        return attachment
    visible = False
    try:
        if org.kind == OrgKind.OPC:
            market.get_order_for_opc(org, attachment.order_id)
            visible = True
        elif scope.is_operator and scope.managed_community_ids:
            market.get_order_for_operator(scope.managed_community_ids, attachment.order_id)
            visible = True
    except NotFound:
        visible = False
    if visible:
        raise NotPermitted()
    raise NotFound()


def get_intent_for_review(scope: Scope, pk: Any) -> Any:
    """An investment intent with a term sheet whose OPC or event organiser is the caller (404 otherwise)."""
    from events.models import InvestmentIntent

    intent = InvestmentIntent.objects.select_related("event", "opc").filter(pk=_id(pk)).first()
    org = scope.organisation
    if intent is None or org is None or org.pk not in intent_party_ids(intent) or not intent.term_sheet:
        raise NotFound()
    return intent
