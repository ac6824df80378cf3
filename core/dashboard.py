"""What each role sees first after logging in."""

from __future__ import annotations

from typing import Any

from communities.selectors import communities_with_occupancy, occupancy_totals, open_residencies
from organisations.access import Scope
from organisations.capabilities import OrgKind
from organisations.models import VerificationStatus


def dashboard_context(scope: Scope) -> dict[str, Any]:
    from ledger.selectors import accounts_for_organisation

    org = scope.organisation
    context: dict[str, Any] = {"org": org}
    if org is None:
        return context
    from core.extensions import dashboard_panels

    context["accounts"] = accounts_for_organisation(org)
    context["panels"] = dashboard_panels(scope)
    if org.kind == OrgKind.OPERATOR:
        members = scope.member_organisations()
        context["pending_members"] = members.filter(
            verification_status__in=[VerificationStatus.PENDING, VerificationStatus.UNVERIFIED]
        ).count()
        context["member_count"] = members.count()
        context["communities"] = communities_with_occupancy(scope.managed_communities())
        context["totals"] = occupancy_totals(scope.managed_communities())
    elif org.kind == OrgKind.AUTHORITY:
        context["communities"] = communities_with_occupancy(scope.overseen_communities())
        context["totals"] = occupancy_totals(scope.overseen_communities())
    elif org.kind == OrgKind.OPC:
        context["residency"] = (
            open_residencies().filter(organisation=org).select_related("workstation__community").first()
        )
        context["profile"] = getattr(org, "opc_profile", None)
    return context
