"""Top-navigation links of the trust context: the inbox for parties, the report queue (with its open count)
for operators, the credit profile for OPCs."""

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
    out: list[NavItem] = []
    if org.kind in (OrgKind.OPC, OrgKind.CLIENT):
        out.append(NavItem(_("Messages"), reverse("trust:inbox"), testid="nav-messages", order=60))
    if org.kind == OrgKind.OPC and scope.has(Capability.ORG_MANAGE):
        out.append(NavItem(_("Credit profile"), reverse("trust:credit_list"), testid="nav-credit", order=65))
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE):
        from trust.selectors import open_report_count

        count = open_report_count(org)
        label = _("Reports (%(count)d)") % {"count": count} if count else _("Reports")
        out.append(NavItem(label, reverse("trust:report_queue"), testid="nav-reports", order=70))
    return out
