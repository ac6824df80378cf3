"""Communities API (mounted at /api/communities/): the public directory and statement verification without
authentication; the operator's communities, workstations, residencies and statements with a token or session.

Handlers are thin: they take objects from ``request.org_scope`` (foreign ids → 404) and call
``communities.services``; domain errors become ``{"detail": …}`` with their status (see ``opchub.api``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Router, Schema, Status

from accounts.api import ERRORS, MAX_ID, ErrorOut
from communities import selectors
from communities.models import Community, CommunityNetwork, LandUse, Residency, SiteStatement, Workstation
from communities.pdf import verification_url
from communities.services import (
    add_workstations,
    assign_workstation,
    create_community,
    end_residency,
    issue_site_statement,
)
from core.errors import DomainError, NotFound
from core.http import acting_user
from organisations.access import Scope, scope_for
from organisations.capabilities import Capability
from organisations.models import Skill

router = Router(tags=["communities"])

FEN = Decimal("0.01")
MoneyOut = Annotated[
    str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["0.00"], description="CNY to the fen, as a string.")
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# Answers of the operator endpoints besides success: bad value (400), unknown/foreign id (404), state (409).
WRITE_ERRORS: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}


# -- schemas -------------------------------------------------------------------------------------------------------
class CommunityOut(Schema):
    id: int
    name: str
    city: str
    district: str
    address: str
    land_use: str
    land_use_label: str
    positioning: str
    operator: str
    network: str | None
    sectors: list[str]
    workstations: int
    occupied: int
    residents: int
    occupancy_rate: float


class CommunityIn(Schema):
    name: str = Field(..., max_length=120)
    city: str = Field(..., max_length=40)
    address: str = Field(..., max_length=200)
    district: str = Field("", max_length=40)
    land_use: LandUse = LandUse.OFFICE
    positioning: str = Field("", max_length=200)
    description: str = Field("", max_length=5000)
    opened_on: dt.date | None = None
    is_public: bool = True
    network_id: Id | None = None
    sectors: list[str] = Field(default_factory=list, max_length=50, description="skill codes")


class WorkstationOut(Schema):
    id: int
    code: str
    zone: str
    status: str
    resident_id: int | None
    resident: str | None


class WorkstationBatchIn(Schema):
    zone: str = Field("", max_length=40)
    prefix: str = Field("", max_length=12, description='e.g. "A-" gives A-01, A-02, …')
    first: int = Field(1, ge=0, le=999999)
    last: int = Field(..., ge=0, le=999999)
    width: int = Field(2, ge=1, le=6, description="digits, zero-padded")


class AssignIn(Schema):
    workstation_id: Id
    organisation_id: Id
    start_date: dt.date
    monthly_rent: Decimal = Field(Decimal("0"), ge=0, max_digits=10, decimal_places=2)


class ResidencyOut(Schema):
    id: int
    organisation_id: int
    organisation: str
    workstation_id: int
    workstation_code: str
    community_id: int
    start_date: dt.date
    end_date: dt.date | None
    monthly_rent: MoneyOut


class EndResidencyIn(Schema):
    end_date: dt.date


class StatementIn(Schema):
    purpose: str = Field(..., min_length=1, max_length=200)


class StatementOut(Schema):
    id: int
    code: str
    verify_url: str
    pdf_sha256: str
    issued_at: dt.datetime


class StatementVerification(Schema):
    code: str
    status: str = Field(..., description='"valid" or "revoked"')
    issued_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_reason: str
    residency_ended_on: dt.date | None
    pdf_sha256: str
    facts: dict[str, Any]


# -- converters ----------------------------------------------------------------------------------------------------
def _community_out(c: Community) -> CommunityOut:
    total = getattr(c, "workstation_count", 0)
    occupied = getattr(c, "occupied_count", 0)
    return CommunityOut(
        id=c.pk,
        name=c.name,
        city=c.city,
        district=c.district,
        address=c.address,
        land_use=c.land_use,
        land_use_label=str(c.get_land_use_display()),
        positioning=c.positioning,
        operator=c.operator.name,
        network=c.network.name if c.network else None,
        sectors=[s.code for s in c.sectors.all()],
        workstations=total,
        occupied=occupied,
        residents=getattr(c, "resident_count", 0),
        occupancy_rate=round(100 * occupied / total, 1) if total else 0.0,
    )


def _residency_out(r: Residency) -> ResidencyOut:
    return ResidencyOut(
        id=r.pk,
        organisation_id=r.organisation_id,
        organisation=r.organisation.name,
        workstation_id=r.workstation_id,
        workstation_code=r.workstation.code,
        community_id=r.workstation.community_id,
        start_date=r.start_date,
        end_date=r.end_date,
        monthly_rent=format(r.monthly_rent.quantize(FEN), "f"),
    )


def _scope(request: HttpRequest, capability: Capability) -> Scope:
    scope = scope_for(request)
    scope.require(capability)
    return scope


# -- public --------------------------------------------------------------------------------------------------------
@router.get(
    "/", auth=None, response={200: list[CommunityOut], 422: ERRORS[422]}, summary="Public community directory"
)
def public_list(request: HttpRequest, city: str = "", sector: str = "", q: str = "") -> list[CommunityOut]:
    qs = selectors.public_communities(city=city[:40], sector=sector[:40], text=q[:60])
    return [_community_out(c) for c in qs]


@router.get(
    "/{int:community_id}",
    auth=None,
    response={200: CommunityOut, 404: ErrorOut, 422: ERRORS[422]},
    summary="Public community page",
)
def public_detail(request: HttpRequest, community_id: int = Path(..., ge=1, le=MAX_ID)) -> CommunityOut:
    community = selectors.public_community(community_id)
    if community is None:
        raise NotFound()
    return _community_out(community)


@router.get(
    "/statements/{code}",
    auth=None,
    response={200: StatementVerification, 404: ErrorOut, 422: ERRORS[422]},
    summary="Verify a site statement by its code",
)
def verify_statement(request: HttpRequest, code: str = Path(..., max_length=64)) -> StatementVerification:
    statement = selectors.statement_by_code(code)
    if statement is None:
        raise NotFound(_("No statement has this verification code."))
    return StatementVerification(
        code=statement.code,
        status="revoked" if statement.revoked_at else "valid",
        issued_at=statement.issued_at,
        revoked_at=statement.revoked_at,
        revoked_reason=statement.revoked_reason,
        residency_ended_on=statement.residency.end_date,
        pdf_sha256=statement.pdf_sha256,
        facts=statement.facts,
    )


# -- operator ------------------------------------------------------------------------------------------------------
@router.get("/managed", response={200: list[CommunityOut], **ERRORS}, summary="Communities you operate")
def managed_list(request: HttpRequest) -> list[CommunityOut]:
    scope = _scope(request, Capability.COMMUNITY_MANAGE)
    qs = selectors.communities_with_occupancy(scope.managed_communities()).prefetch_related("sectors")
    return [_community_out(c) for c in qs.order_by("name")]


@router.post(
    "/managed",
    response={201: CommunityOut, **WRITE_ERRORS},
    summary="Create a community",
)
def managed_create(request: HttpRequest, payload: CommunityIn) -> Status[CommunityOut]:
    scope = _scope(request, Capability.COMMUNITY_MANAGE)
    operator = scope.organisation
    assert operator is not None
    network = None
    if payload.network_id is not None:
        network = CommunityNetwork.objects.filter(operator=operator, pk=payload.network_id).first()
        if network is None:
            raise NotFound(_("Unknown community network."))
    codes = sorted(set(payload.sectors))
    sectors = list(Skill.objects.filter(code__in=codes))
    if len(sectors) != len(codes):
        unknown = sorted(set(codes) - {s.code for s in sectors})
        raise DomainError(_("Unknown sectors: %(codes)s.") % {"codes": ", ".join(unknown)[:200]})
    community = create_community(
        operator=operator,
        actor=acting_user(request),
        name=payload.name,
        city=payload.city,
        address=payload.address,
        district=payload.district,
        land_use=payload.land_use.value,
        positioning=payload.positioning,
        description=payload.description,
        opened_on=payload.opened_on,
        is_public=payload.is_public,
        network=network,
        sectors=sectors,
    )
    out = selectors.communities_with_occupancy(Community.objects.filter(pk=community.pk)).get()
    return Status(201, _community_out(out))


@router.get(
    "/managed/{int:community_id}/workstations",
    response={200: list[WorkstationOut], 404: ErrorOut, **ERRORS},
    summary="Workstations of a community you operate",
)
def workstation_list(
    request: HttpRequest, community_id: int = Path(..., ge=1, le=MAX_ID)
) -> list[WorkstationOut]:
    scope = _scope(request, Capability.COMMUNITY_MANAGE)
    community = scope.get_managed_community(community_id)
    out = []
    for w in selectors.workstations_of(community):
        current = w.current[0] if w.current else None  # type: ignore[attr-defined]
        out.append(
            WorkstationOut(
                id=w.pk,
                code=w.code,
                zone=w.zone,
                status=w.status,
                resident_id=current.organisation_id if current else None,
                resident=current.organisation.name if current else None,
            )
        )
    return out


@router.post(
    "/managed/{int:community_id}/workstations",
    response={201: list[WorkstationOut], **WRITE_ERRORS},
    summary="Add a numbered batch of workstations",
)
def workstation_batch(
    request: HttpRequest, payload: WorkstationBatchIn, community_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[list[WorkstationOut]]:
    scope = _scope(request, Capability.COMMUNITY_MANAGE)
    community = scope.get_managed_community(community_id)
    created = add_workstations(
        community=community,
        actor=acting_user(request),
        zone=payload.zone,
        prefix=payload.prefix,
        first=payload.first,
        last=payload.last,
        width=payload.width,
    )
    return Status(
        201,
        [
            WorkstationOut(
                id=w.pk, code=w.code, zone=w.zone, status=w.status, resident_id=None, resident=None
            )
            for w in created
        ],
    )


@router.post(
    "/residencies",
    response={201: ResidencyOut, **WRITE_ERRORS},
    summary="Assign a workstation to a verified OPC member",
)
def residency_create(request: HttpRequest, payload: AssignIn) -> Status[ResidencyOut]:
    scope = _scope(request, Capability.COMMUNITY_MANAGE)
    workstation = selectors.managed_object(scope, Workstation, payload.workstation_id, "community")
    organisation = scope.get_member_organisation(payload.organisation_id)
    residency = assign_workstation(
        workstation=workstation,
        organisation=organisation,
        start_date=payload.start_date,
        monthly_rent=payload.monthly_rent,
        actor=acting_user(request),
    )
    return Status(201, _residency_out(residency))


@router.post(
    "/residencies/{int:residency_id}/end",
    response={200: ResidencyOut, **WRITE_ERRORS},
    summary="End a residency",
)
def residency_end(
    request: HttpRequest, payload: EndResidencyIn, residency_id: int = Path(..., ge=1, le=MAX_ID)
) -> ResidencyOut:
    scope = _scope(request, Capability.COMMUNITY_MANAGE)
    residency = selectors.managed_object(scope, Residency, residency_id, "workstation__community")
    ended = end_residency(residency=residency, end_date=payload.end_date, actor=acting_user(request))
    ended = Residency.objects.select_related("organisation", "workstation").get(pk=ended.pk)
    return _residency_out(ended)


@router.post(
    "/residencies/{int:residency_id}/statements",
    response={201: StatementOut, **WRITE_ERRORS},
    summary="Issue a site statement (场地情况说明) PDF for a current residency",
)
def statement_create(
    request: HttpRequest, payload: StatementIn, residency_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[StatementOut]:
    scope = _scope(request, Capability.STATEMENTS_ISSUE)
    residency = selectors.managed_object(scope, Residency, residency_id, "workstation__community")
    statement: SiteStatement = issue_site_statement(
        residency=residency,
        purpose=payload.purpose,
        actor=acting_user(request),
    )
    return Status(
        201,
        StatementOut(
            id=statement.pk,
            code=statement.code,
            verify_url=verification_url(statement.code),
            pdf_sha256=statement.pdf_sha256,
            issued_at=statement.issued_at,
        ),
    )
