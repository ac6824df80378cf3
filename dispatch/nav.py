"""Top-navigation links of dispatch: operators get the batch-dispatch page, OPCs their offers."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from core.extensions import NavItem
from organisations.capabilities import Capability, OrgKind


def items(request: Any, scope: Any) -> list[NavItem]:
    org = scope.organisation
    if org is None:
        return []
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE):
        return [NavItem(_("Dispatch"), reverse("dispatch:runs"), "nav-dispatch", 20)]
    if org.kind == OrgKind.OPC:
        from dispatch.models import Offer, OfferStatus

        waiting = Offer.objects.filter(opc=org, status=OfferStatus.PENDING).count()
        label = _("Offers (%(count)d)") % {"count": waiting} if waiting else _("Offers")
        return [NavItem(label, reverse("dispatch:my_offers"), "nav-offers", 20)]
    return []
