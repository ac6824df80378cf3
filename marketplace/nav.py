"""Top-navigation links of the marketplace (``core.extensions``): the market for everyone with an
organisation, each role's own pages, and notifications with the unread count."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from core.extensions import NavItem
from organisations.capabilities import OrgKind


def items(request: Any, scope: Any) -> list[NavItem]:
    org = scope.organisation
    if org is None:
        return []
    from marketplace.selectors import unread_notification_count

    found = [NavItem(_("Market"), reverse("marketplace:browse"), "nav-market", 10)]
    if org.kind == OrgKind.CLIENT:
        found.append(NavItem(_("My orders"), reverse("marketplace:my_orders"), "nav-my-orders", 11))
        found.append(NavItem(_("Contracts"), reverse("marketplace:my_contracts"), "nav-contracts", 12))
    elif org.kind == OrgKind.OPC:
        found.append(NavItem(_("My bids"), reverse("marketplace:my_bids"), "nav-my-bids", 11))
        found.append(NavItem(_("Contracts"), reverse("marketplace:my_contracts"), "nav-contracts", 12))
    elif scope.is_operator:
        found.append(NavItem(_("Disputes"), reverse("marketplace:disputes"), "nav-disputes", 11))
    unread = unread_notification_count(org)
    label = _("Notifications (%(count)d)") % {"count": unread} if unread else _("Notifications")
    found.append(NavItem(label, reverse("marketplace:notifications"), "nav-notifications", 90))
    return found
