from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from audit.models import AuditRecord
from organisations.access import Scope
from organisations.capabilities import Capability


def audit_records_for(
    scope: Scope,
    *,
    action: str = "",
    organisation_id: int | None = None,
    text: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet[AuditRecord]:
    """Records the caller may browse: operators see their own organisation's and their members'; authorities
    those of the organisations they oversee. Filters narrow the result."""
    if not scope.has(Capability.AUDIT_VIEW):
        return AuditRecord.objects.none()
    qs = AuditRecord.objects.filter(organisation_id__in=scope.visible_organisation_ids())
    if action:
        qs = qs.filter(action__startswith=action)
    if organisation_id is not None:
        qs = qs.filter(organisation_id=organisation_id)
    if text:
        qs = qs.filter(Q(summary__icontains=text) | Q(object_repr__icontains=text) | Q(request_id=text))
    if since:
        qs = qs.filter(created_at__date__gte=since)
    if until:
        qs = qs.filter(created_at__date__lte=until)
    return qs.select_related("actor", "organisation")
