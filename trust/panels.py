"""Dashboard sections of the trust context: an OPC's reputation, a client's payment reliability, an operator's
open reports and flagged messages."""

from __future__ import annotations

from typing import Any

from core.extensions import Panel
from organisations.capabilities import Capability, OrgKind


def panels(scope: Any) -> list[Panel]:
    org = scope.organisation
    if org is None:
        return []
    from trust import selectors

    if org.kind == OrgKind.OPC:
        return [Panel("trust/panel_opc.html", {"opc": org, "rep": selectors.reputation_of(org)}, order=40)]
    if org.kind == OrgKind.CLIENT:
        return [
            Panel(
                "trust/panel_client.html",
                {"client": org, "rel": selectors.payment_reliability_of(org)},
                order=40,
            )
        ]
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE):
        return [
            Panel(
                "trust/panel_operator.html",
                {
                    "open_reports": selectors.open_report_count(org),
                    "flagged": selectors.flagged_messages_for(scope).count(),
                },
                order=40,
            )
        ]
    return []
