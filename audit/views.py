from __future__ import annotations

import datetime as dt

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.selectors import audit_records_for
from core.http import parse_id
from organisations.access import capability_required, scope_for
from organisations.capabilities import Capability


def _date(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@capability_required(Capability.AUDIT_VIEW)
def audit_list(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    org_raw = request.GET.get("organisation", "")
    qs = audit_records_for(
        scope,
        action=request.GET.get("action", "")[:64],
        organisation_id=parse_id(org_raw),
        text=request.GET.get("q", "")[:100],
        since=_date(request.GET.get("since", "")),
        until=_date(request.GET.get("until", "")),
    )
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    organisations = scope.member_organisations().order_by("name").only("pk", "name")
    return render(request, "audit/list.html", {"page": page, "organisations": organisations})
