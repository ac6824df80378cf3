"""Dashboard sections of the gateway (``core.extensions``): the member's quota, the operator's pool."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from core.extensions import Panel
from organisations.capabilities import Capability, OrgKind


def panels(scope: Any) -> list[Panel]:
    from gateway import selectors
    from ledger.models import Purpose
    from ledger.services import account_for

    org = scope.organisation
    if org is None:
        return []
    if org.kind == OrgKind.OPC:
        month = selectors.UsageFilter(start=timezone.localdate().replace(day=1), end=timezone.localdate())
        totals = selectors.usage_totals(selectors.usage_records([org.pk], month))
        return [
            Panel(
                "gateway/_panel_member.html",
                {
                    "balance": selectors.balance_of(org),
                    "keys": selectors.keys_of(org).filter(revoked_at__isnull=True).count(),
                    "month": totals,
                },
                order=40,
            )
        ]
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE):
        month = selectors.UsageFilter(start=timezone.localdate().replace(day=1), end=timezone.localdate())
        member_ids = scope.member_organisations().values_list("pk", flat=True)
        totals = selectors.usage_totals(selectors.usage_records(member_ids, month))
        pool = account_for(owner=org, purpose=Purpose.FUNDING_POOL)
        return [Panel("gateway/_panel_operator.html", {"pool": pool, "month": totals}, order=40)]
    return []
