"""Top-navigation links of the subsidy layer: members see their subsidies, operators their claim batches
(and the review queue through it), authorities the reports."""

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
    if org.kind == OrgKind.OPC:
        return [NavItem(_("Subsidies"), reverse("subsidies:my"), "nav-subsidies", 40)]
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE):
        from subsidies.models import Expense, ExpenseStatus

        pending = Expense.objects.filter(
            organisation__home_community__operator=org, status=ExpenseStatus.SUBMITTED
        ).count()
        label = _("Subsidies (%(count)d to review)") % {"count": pending} if pending else _("Subsidies")
        return [NavItem(label, reverse("subsidies:batches"), "nav-subsidies", 40)]
    if scope.is_authority and scope.has(Capability.OVERSIGHT_VIEW):
        return [NavItem(_("Subsidy reports"), reverse("subsidies:oversight"), "nav-subsidies", 40)]
    return []
