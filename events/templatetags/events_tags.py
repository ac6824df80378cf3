"""Template helpers of the events app. ``{% load events_tags %}{% opc_badges org %}`` shows an OPC's winner
badges anywhere (e.g. on its profile page)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from events import tickets

register = template.Library()


@register.inclusion_tag("events/_badges.html")
def opc_badges(org: Any) -> dict[str, Any]:
    from events.selectors import badges_for

    pk = getattr(org, "pk", None)
    return {"badges": list(badges_for(pk)) if pk else [], "org": org}


@register.filter
def ticket(registration: Any) -> str:
    """The signed ticket code of a registration (its ticket page URL argument)."""
    return tickets.sign(registration.code)


@register.filter
def order_url(order_id: Any) -> str:
    """The marketplace page of an order, or "" while the marketplace has no such page."""
    try:
        return reverse("marketplace:order_detail", args=[order_id])
    except NoReverseMatch:
        return ""


@register.filter
def review_url(intent: Any) -> str:
    from events.services import contract_review_url

    return contract_review_url(intent) or ""


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None
