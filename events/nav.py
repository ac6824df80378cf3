"""Top navigation links of the events app."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from core.extensions import NavItem
from organisations.capabilities import Capability


def items(request: Any, scope: Any) -> list[NavItem]:
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE):
        return [
            NavItem(_("Events"), reverse("events:manage_list"), testid="nav-events", order=60),
            NavItem(_("Dashboards"), reverse("events:dashboard"), testid="nav-dashboards", order=90),
        ]
    if scope.is_authority and scope.has(Capability.OVERSIGHT_VIEW):
        return [NavItem(_("Dashboards"), reverse("events:dashboard"), testid="nav-dashboards", order=90)]
    return []  # everyone else reaches the public events list from the header (base.html)
