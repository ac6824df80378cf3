"""Dashboard section: registered works and copies found (OPCs), open cases (OPCs and copyright agencies)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from core.extensions import Panel
from rights.models import Case, CaseStatus, Match, Work, WorkStatus
from rights.services import TERMINAL, can_register, can_scan, is_copyright_agency


def panels(scope: Any) -> list[Panel]:
    org = getattr(scope, "organisation", None)
    if org is None or not can_scan(org):
        return []
    works = Work.objects.filter(holder=org).aggregate(
        registered=Count("pk", filter=Q(status=WorkStatus.REGISTERED)),
        processing=Count("pk", filter=Q(status=WorkStatus.PROCESSING)),
    )
    open_cases = Case.objects.filter(Q(holder=org) | Q(agency=org)).exclude(status__in=TERMINAL)
    context = {
        "is_holder": can_register(org),
        "is_agency": is_copyright_agency(org),
        "registered": works["registered"],
        "processing": works["processing"],
        "copies_found": Match.objects.filter(work__holder=org).count(),
        "open_cases": open_cases.count(),
        "awaiting_agency": open_cases.filter(agency=org, status=CaseStatus.OPEN).count(),
    }
    return [Panel(template="rights/_panel.html", context=context, order=60)]
