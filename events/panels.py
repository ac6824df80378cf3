"""Dashboard panels: the operator's coming events, a member's registrations and badges, an authority's
headline figures."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from core.extensions import Panel
from events import selectors
from events.models import Registration, RegistrationStatus
from organisations.capabilities import Capability


def panels(scope: Any) -> list[Panel]:
    org = scope.organisation
    if org is None:
        return []
    now = timezone.now()
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE):
        events = list(
            selectors.with_counts(selectors.managed_events(scope).filter(ends_at__gte=now)).order_by(
                "starts_at"
            )[:5]
        )
        return [Panel("events/_panel_operator.html", {"events": events}, order=60)]
    if scope.is_authority:
        return [Panel("events/_panel_authority.html", {}, order=60)]
    registrations = list(
        Registration.objects.filter(organisation=org, event__ends_at__gte=now)
        .exclude(status=RegistrationStatus.CANCELLED)
        .select_related("event")
        .order_by("event__starts_at")[:5]
    )
    badges = list(selectors.badges_for(org.pk)[:10])
    upcoming = list(selectors.public_events()[:3])
    if not (registrations or badges or upcoming):
        return []
    return [
        Panel(
            "events/_panel_member.html",
            {"registrations": registrations, "badges": badges, "upcoming": upcoming, "org": org},
            order=60,
        )
    ]
