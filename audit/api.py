"""API: the audit trail, read-only. Records are appended by services; there is no write endpoint."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from accounts.api import ERRORS, MAX_ID
from audit.models import AuditRecord
from audit.selectors import audit_records_for
from organisations.access import scope_for
from organisations.capabilities import Capability

router = Router(tags=["audit"])


class AuditActorOut(Schema):
    id: int
    display_name: str


class AuditOrganisationOut(Schema):
    id: int
    name: str


class AuditRecordOut(Schema):
    id: int
    created_at: dt.datetime
    action: str
    actor: AuditActorOut | None
    organisation: AuditOrganisationOut | None
    object_type: str
    object_id: str
    object_repr: str
    summary: str
    changes: dict[str, Any]
    request_id: str


class AuditRecordPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[AuditRecordOut]


class AuditFilter(Schema):
    action: str = Field("", max_length=64, description="Prefix of the action, e.g. `organisation.`.")
    organisation: int | None = Field(None, ge=1, le=MAX_ID, description="Organisation id.")
    q: str = Field("", max_length=100, description="Text in the summary or object, or a request id.")
    since: dt.date | None = Field(None, description="From this day (inclusive).")
    until: dt.date | None = Field(None, description="Up to this day (inclusive).")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_ID)


def record_out(record: AuditRecord) -> AuditRecordOut:
    actor, org = record.actor, record.organisation
    return AuditRecordOut(
        id=record.pk,
        created_at=record.created_at,
        action=record.action,
        actor=AuditActorOut(id=actor.pk, display_name=actor.display_name) if actor is not None else None,
        organisation=AuditOrganisationOut(id=org.pk, name=org.name) if org is not None else None,
        object_type=record.object_type,
        object_id=record.object_id,
        object_repr=record.object_repr,
        summary=record.summary,
        changes=record.changes if isinstance(record.changes, dict) else {"value": record.changes},
        request_id=record.request_id,
    )


@router.get("/records", response={200: AuditRecordPage, **ERRORS}, summary="Browse the audit trail")
def list_records(request: HttpRequest, filters: Query[AuditFilter]) -> AuditRecordPage:
    """Requires `audit.view`. Operators see their own organisation's records and their members'; authorities
    those of the organisations they oversee. Newest first."""
    scope = scope_for(request)
    scope.require(Capability.AUDIT_VIEW)
    qs = audit_records_for(
        scope,
        action=filters.action,
        organisation_id=filters.organisation,
        text=filters.q,
        since=filters.since,
        until=filters.until,
    )
    page = qs[filters.offset : filters.offset + filters.limit]
    return AuditRecordPage(
        count=qs.count(), limit=filters.limit, offset=filters.offset, items=[record_out(r) for r in page]
    )
