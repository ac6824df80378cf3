"""API: organisations — the public skill taxonomy and OPC directory, the caller's own organisation and OPC
profile, and the operator's member verification queue.

Tenancy comes from ``request.org_scope`` (``organisations.access``): an organisation outside the caller's view is
404, an action without the named capability is 403. Writes go through ``organisations.services``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema
from pydantic import ConfigDict, StringConstraints, field_validator

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import DomainError, NotFound, NotPermitted
from core.http import acting_user
from organisations.access import Scope, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import OPCProfile, Organisation, Skill, TalentLevel, VerificationStatus
from organisations.selectors import (
    members_for_operator,
    organisation_for_viewer,
    public_opc_directory,
    skills,
)
from organisations.services import (
    reject_organisation,
    update_opc_profile,
    update_organisation,
    verify_organisation,
)

router = Router(tags=["organisations"])

FEN = Decimal("0.01")
MoneyOut = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["1234.50"])]


def money(value: Decimal | None) -> str | None:
    """CNY as a string to the fen ("1234.50"); JSON numbers would be floats."""
    return None if value is None else format(value.quantize(FEN), "f")


# -- schemas ------------------------------------------------------------------------------------------------


class SkillOut(Schema):
    code: str
    name: str = Field(description="In the request's language.")
    name_zh: str
    name_en: str


class CommunityRef(Schema):
    id: int
    name: str


class OrganisationOut(Schema):
    """An organisation. The ``legal_…``, ``contact_…`` and ``verification_note`` fields are null unless the
    caller is the organisation itself or the operator that verifies it."""

    id: int
    kind: str
    subkind: str
    name: str
    uscc: str | None
    city: str
    district: str
    description: str
    community: CommunityRef | None
    verification_status: str
    verified_at: dt.datetime | None
    legal_representative: str | None = None
    legal_rep_id_masked: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    verification_note: str | None = None


class PortfolioItemOut(Schema):
    id: int
    title: str
    description: str
    link: str
    year: int | None
    image_url: str | None


class OPCProfileOut(Schema):
    founder_name: str
    headcount: int
    skills: list[SkillOut]
    tags: list[str]
    capacity: int = Field(description="Concurrent orders.")
    rate_min: MoneyOut | None
    rate_max: MoneyOut | None
    talent_level: str
    founded_on: dt.date | None
    listed_publicly: bool
    portfolio: list[PortfolioItemOut]


class OrganisationDetailOut(OrganisationOut):
    profile: OPCProfileOut | None = Field(None, description="OPCs only.")


class DirectoryEntryOut(Schema):
    id: int
    name: str
    city: str
    district: str
    community: CommunityRef | None
    skills: list[SkillOut]
    headcount: int
    capacity: int
    rate_min: MoneyOut | None
    rate_max: MoneyOut | None
    talent_level: str


class DirectoryPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[DirectoryEntryOut]


class MemberPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[OrganisationOut]


class DirectoryFilter(Schema):
    skill: str = Field("", max_length=40, description="A skill code.")
    q: str = Field("", max_length=60, description="Part of the name.")
    limit: int = Field(30, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_ID)


class MemberFilter(Schema):
    status: VerificationStatus | Literal[""] = Field("", description="`pending` includes unverified members.")
    kind: OrgKind | Literal[""] = ""
    q: str = Field("", max_length=60, description="Part of the name or the USCC.")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_ID)


class OrganisationPatchIn(Schema):
    """Only the fields sent are changed; null also leaves a field unchanged. A new USCC or legal
    representative ID sends a verified organisation back to its operator for verification."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=120)
    city: str | None = Field(None, max_length=40)
    district: str | None = Field(None, max_length=40)
    contact_phone: str | None = Field(None, max_length=20)
    contact_email: str | None = Field(None, max_length=254)
    description: str | None = Field(None, max_length=5000)
    legal_representative: str | None = Field(None, max_length=60)
    uscc: str | None = Field(None, max_length=30, description="统一社会信用代码 (18 characters).")
    legal_rep_id: str | None = Field(
        None, max_length=30, description="居民身份证号码 of the legal representative; stored masked."
    )

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and value.strip():
            try:
                validate_email(value.strip())
            except DjangoValidationError as exc:
                raise ValueError(" ".join(str(m) for m in exc.messages)) from None
        return value


Tag = Annotated[str, StringConstraints(max_length=100)]


class OPCProfileIn(Schema):
    """The whole profile (PUT). Amounts are CNY, at most two decimal places; send them as strings."""

    model_config = ConfigDict(extra="forbid")

    founder_name: str = Field("", max_length=60, description="Empty keeps the current founder name.")
    headcount: int = Field(description="1 to 3 people.")
    capacity: int = Field(description="Concurrent orders, 1 to 50.")
    skills: list[Annotated[str, StringConstraints(max_length=40)]] = Field(
        max_length=50, description="Skill codes (see GET /skills)."
    )
    tags: list[Tag] = Field(default_factory=list, max_length=100, description="At most 20 tags.")
    rate_min: Decimal | None = Field(None, max_digits=12, decimal_places=2)
    rate_max: Decimal | None = Field(None, max_digits=12, decimal_places=2)
    talent_level: TalentLevel = TalentLevel.NONE
    founded_on: dt.date | None = None
    listed_publicly: bool


class RejectIn(Schema):
    reason: str = Field(max_length=300, description="Shown to the member.")


# -- mapping ------------------------------------------------------------------------------------------------


def skill_out(skill: Skill) -> SkillOut:
    return SkillOut(code=skill.code, name=str(skill), name_zh=skill.name_zh, name_en=skill.name_en)


def organisation_out(
    org: Organisation, *, private: bool, cls: type[OrganisationOut] = OrganisationOut
) -> OrganisationOut:
    community = org.home_community
    data: dict[str, Any] = {
        "id": org.pk,
        "kind": org.kind,
        "subkind": org.subkind,
        "name": org.name,
        "uscc": org.uscc,
        "city": org.city,
        "district": org.district,
        "description": org.description,
        "community": CommunityRef(id=community.pk, name=community.name) if community is not None else None,
        "verification_status": org.verification_status,
        "verified_at": org.verified_at,
    }
    if private:
        data.update(
            legal_representative=org.legal_representative,
            legal_rep_id_masked=org.legal_rep_id_masked,
            contact_phone=org.contact_phone,
            contact_email=org.contact_email,
            verification_note=org.verification_note,
        )
    return cls(**data)


def profile_out(profile: OPCProfile) -> OPCProfileOut:
    return OPCProfileOut(
        founder_name=profile.founder_name,
        headcount=profile.headcount,
        skills=[skill_out(s) for s in profile.skills.all()],
        tags=list(profile.tags),
        capacity=profile.capacity,
        rate_min=money(profile.rate_min),
        rate_max=money(profile.rate_max),
        talent_level=profile.talent_level,
        founded_on=profile.founded_on,
        listed_publicly=profile.listed_publicly,
        portfolio=[
            PortfolioItemOut(
                id=item.pk,
                title=item.title,
                description=item.description,
                link=item.link,
                year=item.year,
                image_url=item.image.url if item.image else None,
            )
            for item in profile.portfolio.all()
        ],
    )


def _own_organisation(scope: Scope) -> Organisation:
    if scope.organisation is None:
        raise NotPermitted()
    return scope.organisation


def _own_profile(scope: Scope) -> OPCProfile:
    org = _own_organisation(scope)
    profile = OPCProfile.objects.filter(organisation=org).prefetch_related("skills", "portfolio").first()
    if org.kind != OrgKind.OPC or profile is None:
        raise NotFound(_("Only one-person companies have an OPC profile."))
    return profile


def _skills_by_code(codes: list[str]) -> list[Skill]:
    wanted = list(dict.fromkeys(code.strip() for code in codes))
    found = {s.code: s for s in Skill.objects.filter(code__in=wanted)}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise DomainError(_("Unknown skill: %(codes)s.") % {"codes": ", ".join(unknown)[:200]})
    return [found[code] for code in wanted]


# -- public -------------------------------------------------------------------------------------------------


@router.get("/skills", auth=None, response=list[SkillOut], summary="The skill taxonomy (public)")
def list_skills(request: HttpRequest) -> list[SkillOut]:
    return [skill_out(s) for s in skills()]


@router.get(
    "/directory",
    auth=None,
    response={200: DirectoryPage, 422: ERRORS[422]},
    summary="Verified OPCs listed publicly (public)",
)
def directory(request: HttpRequest, filters: Query[DirectoryFilter]) -> DirectoryPage:
    qs = public_opc_directory(skill=filters.skill, text=filters.q)
    items = []
    for org in qs[filters.offset : filters.offset + filters.limit]:
        profile = org.opc_profile
        community = org.home_community
        items.append(
            DirectoryEntryOut(
                id=org.pk,
                name=org.name,
                city=org.city,
                district=org.district,
                community=CommunityRef(id=community.pk, name=community.name)
                if community is not None
                else None,
                skills=[skill_out(s) for s in profile.skills.all()],
                headcount=profile.headcount,
                capacity=profile.capacity,
                rate_min=money(profile.rate_min),
                rate_max=money(profile.rate_max),
                talent_level=profile.talent_level,
            )
        )
    return DirectoryPage(count=qs.count(), limit=filters.limit, offset=filters.offset, items=items)


# -- own organisation -----------------------------------------------------------------------------------------


@router.get("/mine", response={200: OrganisationOut, **ERRORS}, summary="Your active organisation")
def get_mine(request: HttpRequest) -> OrganisationOut:
    return organisation_out(_own_organisation(scope_for(request)), private=True)


@router.patch(
    "/mine",
    response={200: OrganisationOut, 400: ErrorOut, 409: ErrorOut, **ERRORS},
    summary="Edit your organisation",
)
def patch_mine(request: HttpRequest, payload: OrganisationPatchIn) -> OrganisationOut:
    """Requires `org.manage`. An invalid USCC or resident ID number is a 400 with a localized message; nothing
    changes."""
    org = scope_for(request).require(Capability.ORG_MANAGE)
    sent = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    uscc = sent.pop("uscc", None)
    legal_rep_id = sent.pop("legal_rep_id", None)
    updated = update_organisation(
        organisation=org, actor=acting_user(request), values=sent, uscc=uscc, legal_rep_id=legal_rep_id
    )
    return organisation_out(updated, private=True)


@router.get(
    "/mine/profile", response={200: OPCProfileOut, 404: ErrorOut, **ERRORS}, summary="Your OPC profile"
)
def get_my_profile(request: HttpRequest) -> OPCProfileOut:
    return profile_out(_own_profile(scope_for(request)))


@router.put(
    "/mine/profile",
    response={200: OPCProfileOut, 400: ErrorOut, 404: ErrorOut, **ERRORS},
    summary="Replace your OPC profile",
)
def put_my_profile(request: HttpRequest, payload: OPCProfileIn) -> OPCProfileOut:
    """Requires `org.manage`; OPCs only. Unknown skill codes are a 400; nothing changes."""
    scope = scope_for(request)
    scope.require(Capability.ORG_MANAGE)
    profile = _own_profile(scope)
    updated = update_opc_profile(
        profile=profile,
        actor=acting_user(request),
        founder_name=payload.founder_name,
        headcount=payload.headcount,
        skills=_skills_by_code(payload.skills),
        tags=payload.tags,
        capacity=payload.capacity,
        rate_min=payload.rate_min,
        rate_max=payload.rate_max,
        talent_level=str(payload.talent_level),
        founded_on=payload.founded_on,
        listed_publicly=payload.listed_publicly,
    )
    return profile_out(OPCProfile.objects.prefetch_related("skills", "portfolio").get(pk=updated.pk))


# -- operator: members --------------------------------------------------------------------------------------


@router.get(
    "/members", response={200: MemberPage, **ERRORS}, summary="Member organisations of your communities"
)
def list_members(request: HttpRequest, filters: Query[MemberFilter]) -> MemberPage:
    """Requires `members.verify` (community operators)."""
    scope = scope_for(request)
    scope.require(Capability.MEMBERS_VERIFY)
    qs = members_for_operator(scope, status=str(filters.status), kind=str(filters.kind), text=filters.q)
    page = qs[filters.offset : filters.offset + filters.limit]
    return MemberPage(
        count=qs.count(),
        limit=filters.limit,
        offset=filters.offset,
        items=[organisation_out(org, private=True) for org in page],
    )


@router.post(
    "/members/{id}/verify",
    response={200: OrganisationOut, 404: ErrorOut, 409: ErrorOut, **ERRORS},
    summary="Verify a member organisation",
)
def verify_member(request: HttpRequest, id: int = Path(..., ge=1, le=MAX_ID)) -> OrganisationOut:
    """Requires `members.verify`; the organisation must belong to one of your communities (else 404)."""
    scope = scope_for(request)
    operator = scope.require(Capability.MEMBERS_VERIFY)
    org = scope.get_member_organisation(id)
    return organisation_out(
        verify_organisation(organisation=org, actor=acting_user(request), operator=operator), private=True
    )


@router.post(
    "/members/{id}/reject",
    response={200: OrganisationOut, 400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS},
    summary="Reject a member organisation, with a reason",
)
def reject_member(
    request: HttpRequest, payload: RejectIn, id: int = Path(..., ge=1, le=MAX_ID)
) -> OrganisationOut:
    """Requires `members.verify`; the organisation must belong to one of your communities (else 404)."""
    scope = scope_for(request)
    operator = scope.require(Capability.MEMBERS_VERIFY)
    org = scope.get_member_organisation(id)
    rejected = reject_organisation(
        organisation=org, actor=acting_user(request), operator=operator, reason=payload.reason
    )
    return organisation_out(rejected, private=True)


# -- any organisation the caller may see (last: /{id} must not shadow the paths above) ------------------------


@router.get(
    "/{id}",
    response={200: OrganisationDetailOut, 404: ErrorOut, **ERRORS},
    summary="An organisation you may see",
)
def get_organisation(request: HttpRequest, id: int = Path(..., ge=1, le=MAX_ID)) -> OrganisationDetailOut:
    """Your own organisation, one you manage or oversee, or a publicly listed OPC; anything else is 404."""
    scope = scope_for(request)
    org = organisation_for_viewer(scope, id)
    if org is None:
        raise NotFound()
    is_own = scope.organisation is not None and scope.organisation.pk == org.pk
    can_verify = scope.has(Capability.MEMBERS_VERIFY) and org.pk in scope.managed_member_ids()
    out = organisation_out(org, private=is_own or can_verify, cls=OrganisationDetailOut)
    assert isinstance(out, OrganisationDetailOut)
    profile = getattr(org, "opc_profile", None) if org.kind == OrgKind.OPC else None
    if profile is not None:
        out.profile = profile_out(profile)
    return out
