"""Dashboard sections: a member sees the policies it qualifies for now with the expected amounts and, for
the others of its place, what is missing; an operator sees its review queue and batches in progress."""

from __future__ import annotations

from typing import Any

from core.extensions import Panel
from organisations.capabilities import Capability, OrgKind


def panels(scope: Any) -> list[Panel]:
    org = scope.organisation
    if org is None:
        return []
    if org.kind == OrgKind.OPC:
        return [_member_panel(org)]
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE):
        return [_operator_panel(scope)]
    return []


def _member_panel(org: Any) -> Panel:
    from subsidies import catalog, selectors

    period = catalog.parse_period("")
    rows, _bundle = selectors.eligibility_for([org], period)
    mine = rows.get(org.pk, [])
    qualifies = [r for r in mine if r.qualifies]
    return Panel(
        "subsidies/panel_member.html",
        {
            "period": str(period),
            "qualifies": qualifies,
            "missing": [r for r in mine if not r.qualifies and r.in_region][:6],
            "consent_needed": [r for r in qualifies if r.needs_consent and r.consent is None],
        },
        order=40,
    )


def _operator_panel(scope: Any) -> Panel:
    from subsidies.models import BatchStatus
    from subsidies.selectors import batches_for, review_queue

    open_batches = batches_for(scope).exclude(
        status__in=[BatchStatus.DISTRIBUTED, BatchStatus.REJECTED, BatchStatus.CANCELLED]
    )
    return Panel(
        "subsidies/panel_operator.html",
        {"to_review": review_queue(scope).count(), "batches": list(open_batches[:5])},
        order=40,
    )
