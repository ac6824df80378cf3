"""Top-navigation links of the service desk: the desk for every organisation (members open tickets, operators
route them, providers answer them) and licence assistance for members and operators."""

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
    found = [NavItem(_("Service desk"), reverse("servicedesk:desk"), "nav-service-desk", 45)]
    if scope.is_operator or org.kind == OrgKind.OPC:
        found.append(NavItem(_("Licences"), reverse("servicedesk:licences"), "nav-licences", 46))
    return found
