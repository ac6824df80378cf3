"""Writes for communities, workstations, residencies and site statements (场地情况说明).

Views, API handlers and commands are thin callers: they take objects from the caller's ``Scope`` (so a foreign
object is already "not found") and call these functions, which check the domain rules, change the data and
append an audit record in the same transaction. A rule that refuses raises a ``core.errors.DomainError`` with
a translated message, and nothing changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import audit_summary, diff, record_audit
from communities.models import (
    Community,
    CommunityNetwork,
    LandUse,
    Residency,
    SiteStatement,
    Workstation,
    WorkstationStatus,
)
from core.errors import Conflict, DomainError, InvalidTransition, NotPermitted
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill

if TYPE_CHECKING:
    from accounts.models import User

MAX_WORKSTATIONS_PER_CALL = 500
MAX_WORKSTATIONS_PER_COMMUNITY = 5000
MAX_RENT = Decimal("99999999.99")  # what the column holds (max_digits=10, decimal_places=2)
FEN = Decimal("0.01")

# Workstation codes: letters, digits and - _ . / (e.g. "A-01", "2F-17").
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_./]*$")

# The statuses an operator may set by hand. "Occupied" follows residencies: assign_workstation sets it and
# end_residency clears it, so it is never set or left by hand.
MANUAL_STATUSES = {WorkstationStatus.AVAILABLE, WorkstationStatus.RESERVED, WorkstationStatus.OUT_OF_SERVICE}

COMMUNITY_FIELDS = [
    "name",
    "city",
    "district",
    "address",
    "land_use",
    "positioning",
    "description",
    "opened_on",
    "is_public",
]


# -- helpers -------------------------------------------------------------------------------------------------
def _require_operator(operator: Organisation) -> None:
    if operator.kind != OrgKind.OPERATOR:
        raise NotPermitted(_("Only a community operator can run communities."))


def _clean_text(value: Any, *, field: str, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(_("%(field)s must be text.") % {"field": field})
    value = value.strip()
    if required and not value:
        raise DomainError(_("%(field)s is required.") % {"field": field})
    if len(value) > max_length:
        raise DomainError(
            _("%(field)s is too long (at most %(max)d characters).") % {"field": field, "max": max_length}
        )
    return value


def _check_date(value: Any, *, field: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise DomainError(_("%(field)s must be a date.") % {"field": field})
    if not dt.date(2000, 1, 1) <= value <= dt.date(2100, 12, 31):
        raise DomainError(_("%(field)s is out of range.") % {"field": field})
    return value


def clean_rent(value: Any) -> Decimal:
    """Monthly rent in CNY: a non-negative amount in yuan and fen (nothing finer is accepted). Zero, the
    default, is the usual case (zero-rent workstations)."""
    if value is None or value == "":
        return Decimal("0.00")
    if isinstance(value, bool | float):
        raise DomainError(_("Enter the rent as an amount in yuan, e.g. 0 or 300.00."))
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(_("Enter the rent as an amount in yuan, e.g. 0 or 300.00.")) from None
    if not amount.is_finite():
        raise DomainError(_("Enter the rent as an amount in yuan, e.g. 0 or 300.00."))
    if amount < 0:
        raise DomainError(_("The rent cannot be negative."))
    if amount > MAX_RENT:
        raise DomainError(_("The rent is too large."))
    if amount != amount.quantize(FEN):
        raise DomainError(_("The rent can have at most two decimal places (fen)."))
    return amount.quantize(FEN)


def _land_use(value: Any) -> str:
    if value not in LandUse.values:
        raise DomainError(_("Unknown land-use type."))
    return str(value)


def _network_for(operator: Organisation, network: CommunityNetwork | None) -> CommunityNetwork | None:
    if network is not None and network.operator_id != operator.pk:
        raise NotPermitted(_("This community network belongs to another operator."))
    return network


def _clean_community_values(values: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    if "name" in values:
        clean["name"] = _clean_text(values["name"], field=_("Name"), max_length=120, required=True)
    if "city" in values:
        clean["city"] = _clean_text(values["city"], field=_("City"), max_length=40, required=True)
    if "district" in values:
        clean["district"] = _clean_text(values["district"], field=_("District"), max_length=40)
    if "address" in values:
        clean["address"] = _clean_text(values["address"], field=_("Address"), max_length=200, required=True)
    if "land_use" in values:
        clean["land_use"] = _land_use(values["land_use"])
    if "positioning" in values:
        clean["positioning"] = _clean_text(values["positioning"], field=_("Positioning"), max_length=200)
    if "description" in values:
        clean["description"] = _clean_text(values["description"], field=_("Description"), max_length=5000)
    if "opened_on" in values:
        opened = values["opened_on"]
        clean["opened_on"] = None if opened in (None, "") else _check_date(opened, field=_("Opened on"))
    if "is_public" in values:
        if not isinstance(values["is_public"], bool):
            raise DomainError(_("“Listed in the public directory” must be yes or no."))
        clean["is_public"] = values["is_public"]
    return clean


# -- networks and communities ----------------------------------------------------------------------------------
@transaction.atomic
def create_network(
    *,
    operator: Organisation,
    actor: User,
    name: str,
    city: str = "",
    planned_communities: int = 0,
    description: str = "",
) -> CommunityNetwork:
    """A community network: the communities one operator runs under one programme (e.g. Haishu's AiOPC)."""
    _require_operator(operator)
    name = _clean_text(name, field=_("Name"), max_length=120, required=True)
    city = _clean_text(city, field=_("City"), max_length=40)
    description = _clean_text(description, field=_("Description"), max_length=5000)
    if isinstance(planned_communities, bool) or not isinstance(planned_communities, int):
        raise DomainError(_("Planned communities must be a whole number."))
    if not 0 <= planned_communities <= 1000:
        raise DomainError(_("Planned communities must be between 0 and 1000."))
    if CommunityNetwork.objects.filter(operator=operator, name=name).exists():
        raise Conflict(_("You already have a network with this name."))
    network = CommunityNetwork.objects.create(
        operator=operator,
        name=name,
        city=city,
        planned_communities=planned_communities,
        description=description,
    )
    record_audit(
        action="community_network.created",
        actor=actor,
        organisation=operator,
        target=network,
        summary=audit_summary(gettext_noop("Community network %(name)s created"), {"name": name}),
        changes={"name": name, "city": city, "planned_communities": planned_communities},
    )
    return network


@transaction.atomic
def create_community(
    *,
    operator: Organisation,
    actor: User,
    name: str,
    city: str,
    address: str,
    district: str = "",
    land_use: str = LandUse.OFFICE,
    positioning: str = "",
    description: str = "",
    opened_on: dt.date | None = None,
    is_public: bool = True,
    network: CommunityNetwork | None = None,
    sectors: Iterable[Skill] = (),
) -> Community:
    """A community run by ``operator`` (the operator of the caller's scope)."""
    _require_operator(operator)
    clean = _clean_community_values(
        {
            "name": name,
            "city": city,
            "district": district,
            "address": address,
            "land_use": land_use,
            "positioning": positioning,
            "description": description,
            "opened_on": opened_on,
            "is_public": is_public,
        }
    )
    network = _network_for(operator, network)
    if Community.objects.filter(operator=operator, name=clean["name"]).exists():
        raise Conflict(_("You already run a community with this name."))
    community = Community.objects.create(operator=operator, network=network, **clean)
    sector_list = list(sectors)
    community.sectors.set(sector_list)
    record_audit(
        action="community.created",
        actor=actor,
        organisation=operator,
        target=community,
        summary=audit_summary(gettext_noop("Community %(name)s created"), {"name": community.name}),
        changes={**clean, "network": network, "sectors": sorted(s.code for s in sector_list)},
    )
    return community


_UNSET: Any = object()


@transaction.atomic
def update_community(
    *,
    community: Community,
    actor: User,
    values: dict[str, Any],
    network: CommunityNetwork | None = _UNSET,
    sectors: Iterable[Skill] | None = None,
) -> Community:
    """Change a community's facts. ``values`` holds any of ``COMMUNITY_FIELDS``; others are ignored."""
    obj = Community.objects.select_for_update(of=("self",)).select_related("operator").get(pk=community.pk)
    clean = _clean_community_values({k: v for k, v in values.items() if k in COMMUNITY_FIELDS})
    changes = diff(obj, COMMUNITY_FIELDS, clean)
    if "name" in clean and (
        Community.objects.filter(operator=obj.operator, name=clean["name"]).exclude(pk=obj.pk).exists()
    ):
        raise Conflict(_("You already run a community with this name."))
    if network is not _UNSET:
        network = _network_for(obj.operator, network)
        if obj.network_id != (network.pk if network else None):
            changes["network"] = [obj.network_id, network.pk if network else None]
            obj.network = network
    for key, value in clean.items():
        setattr(obj, key, value)
    obj.save()
    if sectors is not None:
        sector_list = list(sectors)
        before = sorted(obj.sectors.values_list("code", flat=True))
        after = sorted(s.code for s in sector_list)
        if before != after:
            changes["sectors"] = [before, after]
            obj.sectors.set(sector_list)
    if changes:
        record_audit(
            action="community.updated",
            actor=actor,
            organisation=obj.operator,
            target=obj,
            summary=audit_summary(gettext_noop("Community details changed")),
            changes=changes,
        )
    return obj


# -- workstations ------------------------------------------------------------------------------------------------
def workstation_codes(*, prefix: str, first: int, last: int, width: int = 2) -> list[str]:
    """The codes a batch would create: prefix + zero-padded number, e.g. ("A-", 1, 20) → A-01 … A-20."""
    return [f"{prefix}{number:0{width}d}" for number in range(first, last + 1)]


@transaction.atomic
def add_workstations(
    *,
    community: Community,
    actor: User,
    zone: str,
    prefix: str,
    first: int,
    last: int,
    width: int = 2,
) -> list[Workstation]:
    """Add a numbered batch of workstations (e.g. zone "A", prefix "A-", 1..20 → A-01 … A-20). Refuses the
    whole batch when any code already exists in the community."""
    zone = _clean_text(zone, field=_("Zone"), max_length=40)
    prefix = _clean_text(prefix, field=_("Code prefix"), max_length=12)
    for name, value in ((_("First number"), first), (_("Last number"), last), (_("Digits"), width)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise DomainError(_("%(field)s must be a whole number.") % {"field": name})
    if not 1 <= width <= 6:
        raise DomainError(_("Digits must be between 1 and 6."))
    if first < 0 or last < 0 or last >= 10**6:
        raise DomainError(_("Numbers must be between 0 and 999999."))
    if last < first:
        raise DomainError(_("The last number must not be smaller than the first."))
    count = last - first + 1
    if count > MAX_WORKSTATIONS_PER_CALL:
        raise DomainError(
            _("At most %(max)d workstations at a time (this batch has %(count)d).")
            % {"max": MAX_WORKSTATIONS_PER_CALL, "count": count}
        )
    codes = workstation_codes(prefix=prefix, first=first, last=last, width=width)
    for code in codes:
        if len(code) > 20 or not CODE_PATTERN.match(code):
            raise DomainError(
                _("“%(code)s” is not a usable workstation code: use letters, digits and - _ . / (up to 20).")
                % {"code": code}
            )
    # Lock the community row: two batches for the same community are serialised.
    locked = Community.objects.select_for_update(of=("self",)).select_related("operator").get(pk=community.pk)
    existing_count = Workstation.objects.filter(community=locked).count()
    if existing_count + count > MAX_WORKSTATIONS_PER_COMMUNITY:
        raise DomainError(
            _("A community can have at most %(max)d workstations.") % {"max": MAX_WORKSTATIONS_PER_COMMUNITY}
        )
    taken = sorted(
        Workstation.objects.filter(community=locked, code__in=codes).values_list("code", flat=True)
    )
    if taken:
        shown = ", ".join(taken[:5]) + (" …" if len(taken) > 5 else "")
        raise Conflict(
            _("These workstation codes already exist in this community: %(codes)s. Nothing was added.")
            % {"codes": shown}
        )
    try:
        with transaction.atomic():
            Workstation.objects.bulk_create(
                Workstation(community=locked, code=code, zone=zone) for code in codes
            )
    except IntegrityError:
        raise Conflict(_("Some of these workstation codes were just taken; reload and try again.")) from None
    created = list(Workstation.objects.filter(community=locked, code__in=codes).order_by("code"))
    record_audit(
        action="workstations.added",
        actor=actor,
        organisation=locked.operator,
        target=locked,
        summary=audit_summary(
            gettext_noop("Workstations added: %(count)d (%(first)s – %(last)s)"),
            {"count": len(created), "first": codes[0], "last": codes[-1]},
        ),
        changes={"zone": zone, "codes": [codes[0], codes[-1]], "count": len(created)},
    )
    return created


@transaction.atomic
def set_workstation_status(*, workstation: Workstation, status: str, actor: User) -> Workstation:
    """Set a workstation available, reserved or out of service. "Occupied" comes and goes with residencies."""
    if status not in MANUAL_STATUSES:
        raise InvalidTransition(_("A workstation becomes occupied by assigning it to a member, not by hand."))
    ws = (
        Workstation.objects.select_for_update(of=("self",))
        .select_related("community__operator")
        .get(pk=workstation.pk)
    )
    if ws.status == WorkstationStatus.OCCUPIED or ws.residencies.filter(end_date__isnull=True).exists():
        raise InvalidTransition(_("This workstation is occupied; end the residency first."))
    if ws.status == status:
        return ws
    before = ws.status
    ws.status = status
    ws.save(update_fields=["status"])
    record_audit(
        action="workstation.status_changed",
        actor=actor,
        organisation=ws.community.operator,
        target=ws,
        changes={"status": [before, status]},
    )
    return ws


# -- residencies ------------------------------------------------------------------------------------------------
@transaction.atomic
def assign_workstation(
    *,
    workstation: Workstation,
    organisation: Organisation,
    start_date: dt.date,
    actor: User,
    monthly_rent: Decimal | int | str = 0,
) -> Residency:
    """Give a verified OPC member a workstation from ``start_date`` (open-ended). Rent is zero by default."""
    start_date = _check_date(start_date, field=_("Start date"))
    rent = clean_rent(monthly_rent)
    if organisation.kind != OrgKind.OPC:
        raise DomainError(_("Only one-person companies (OPCs) can be given a workstation."))
    # Lock the workstation row; the partial unique constraint (one open residency per workstation) is the
    # backstop for anything that gets past the lock.
    ws = (
        Workstation.objects.select_for_update(of=("self",))
        .select_related("community__operator")
        .get(pk=workstation.pk)
    )
    org = Organisation.objects.select_related("home_community").get(pk=organisation.pk)
    operator = ws.community.operator
    if org.home_community is None or org.home_community.operator_id != operator.pk:
        raise NotPermitted(_("%(name)s is not a member of your communities.") % {"name": org.name})
    if not org.is_verified:
        raise DomainError(
            _("%(name)s is not verified yet: verify the company first, then assign a workstation.")
            % {"name": org.name}
        )
    if ws.status != WorkstationStatus.AVAILABLE:
        raise Conflict(
            _("Workstation %(code)s is not available (%(status)s).")
            % {"code": ws.code, "status": ws.get_status_display()}
        )
    if ws.residencies.filter(end_date__isnull=True).exists():
        raise Conflict(_("Workstation %(code)s is already assigned.") % {"code": ws.code})
    last_end = (
        ws.residencies.filter(end_date__isnull=False)
        .order_by("-end_date")
        .values_list("end_date", flat=True)
        .first()
    )
    if last_end is not None and start_date <= last_end:
        raise Conflict(
            _("Workstation %(code)s is in use until %(date)s; start after that date.")
            % {"code": ws.code, "date": last_end.isoformat()}
        )
    try:
        with transaction.atomic():
            residency = Residency.objects.create(
                organisation=org, workstation=ws, start_date=start_date, monthly_rent=rent, created_by=actor
            )
    except IntegrityError:
        raise Conflict(_("Workstation %(code)s is already assigned.") % {"code": ws.code}) from None
    ws.status = WorkstationStatus.OCCUPIED
    ws.save(update_fields=["status"])
    record_audit(
        action="residency.started",
        actor=actor,
        organisation=operator,
        target=residency,
        summary=audit_summary(
            gettext_noop("%(org)s assigned workstation %(code)s in %(community)s"),
            {"org": org.name, "code": ws.code, "community": ws.community.name},
        ),
        changes={
            "organisation": org.pk,
            "workstation": ws.pk,
            "start_date": start_date,
            "monthly_rent": rent,
            "workstation_status": [WorkstationStatus.AVAILABLE, WorkstationStatus.OCCUPIED],
        },
    )
    return residency


@transaction.atomic
def end_residency(*, residency: Residency, end_date: dt.date, actor: User) -> Residency:
    """End a residency on ``end_date`` (its last day); the workstation becomes available again."""
    end_date = _check_date(end_date, field=_("End date"))
    # Same lock order as assign_workstation: the workstation row first, then the residency.
    ws = (
        Workstation.objects.select_for_update(of=("self",))
        .select_related("community__operator")
        .get(pk=residency.workstation_id)
    )
    res = Residency.objects.select_for_update().get(pk=residency.pk)
    if res.end_date is not None:
        raise InvalidTransition(_("This residency has already ended."))
    if end_date < res.start_date:
        raise DomainError(
            _("The end date cannot be before the start date (%(date)s).")
            % {"date": res.start_date.isoformat()}
        )
    res.end_date = end_date
    res.save(update_fields=["end_date"])
    before = ws.status
    if ws.status == WorkstationStatus.OCCUPIED:
        ws.status = WorkstationStatus.AVAILABLE
        ws.save(update_fields=["status"])
    record_audit(
        action="residency.ended",
        actor=actor,
        organisation=ws.community.operator,
        target=res,
        summary=audit_summary(
            gettext_noop("Residency at %(code)s ends on %(date)s"),
            {"code": ws.code, "date": end_date.isoformat()},
        ),
        changes={"end_date": [None, end_date], "workstation_status": [before, ws.status]},
    )
    return res


# -- site statements -------------------------------------------------------------------------------------------
def statement_facts(residency: Residency, *, issue_date: dt.date, purpose: str) -> dict[str, Any]:
    """The facts printed on a statement, frozen at issue time (labels in Chinese: the document's language)."""
    ws = residency.workstation
    community = ws.community
    operator = community.operator
    org = residency.organisation
    with translation.override("zh-hans"):
        land_use_label = (
            str(LandUse(community.land_use).label) if community.land_use in LandUse.values else ""
        )
    return {
        "community": community.name,
        "community_id": community.pk,
        "address": community.address,
        "city": community.city,
        "district": community.district,
        "land_use": community.land_use,
        "land_use_label": land_use_label,
        "workstation_code": ws.code,
        "workstation_zone": ws.zone,
        "residency_start": residency.start_date.isoformat(),
        "residency_end": residency.end_date.isoformat() if residency.end_date else None,
        "operator_name": operator.name,
        "operator_uscc": operator.uscc or "",
        "organisation_name": org.name,
        "organisation_uscc": org.uscc or "",
        "purpose": purpose,
        "issue_date": issue_date.isoformat(),
    }


def residency_is_current(residency: Residency) -> bool:
    """Not ended (an end date today or later still counts: the member is there until then)."""
    return residency.end_date is None or residency.end_date >= timezone.localdate()


@transaction.atomic
def issue_site_statement(*, residency: Residency, purpose: str, actor: User) -> SiteStatement:
    """Issue a 场地情况说明 for a current residency: freeze the facts, render the PDF, store it with its
    SHA-256. The verification code printed on it can be checked on the public verification page."""
    from communities.pdf import render_statement_pdf

    purpose = _clean_text(purpose, field=_("Purpose"), max_length=200, required=True)
    res = (
        Residency.objects.select_for_update(of=("self",))
        .select_related("organisation", "workstation__community__operator")
        .get(pk=residency.pk)
    )
    if not residency_is_current(res):
        raise InvalidTransition(_("Statements can only be issued for a current residency."))
    if res.organisation.kind != OrgKind.OPC:
        raise DomainError(_("Only one-person companies (OPCs) get site statements."))
    now = timezone.now()
    statement = SiteStatement(residency=res, purpose=purpose, issued_at=now, issued_by=actor)
    while SiteStatement.objects.filter(code=statement.code).exists():  # pragma: no cover - 60 random bits
        statement.code = SiteStatement._meta.get_field("code").get_default()
    statement.facts = statement_facts(res, issue_date=timezone.localdate(now), purpose=purpose)
    pdf_bytes = render_statement_pdf(statement)
    statement.pdf_sha256 = hashlib.sha256(pdf_bytes).hexdigest()
    # The file is written before the row commits; if the transaction rolls back, an unreferenced file with a
    # random name stays behind, which is harmless (no row points to it, nothing serves it).
    statement.pdf.save(f"site-statement-{statement.code}.pdf", ContentFile(pdf_bytes), save=False)
    statement.save()
    record_audit(
        action="site_statement.issued",
        actor=actor,
        organisation=res.workstation.community.operator,
        target=statement,
        summary=audit_summary(
            gettext_noop("Site statement %(code)s issued for %(org)s"),
            {"code": statement.code, "org": res.organisation.name},
        ),
        changes={"residency": res.pk, "purpose": purpose, "pdf_sha256": statement.pdf_sha256},
    )
    return statement


@transaction.atomic
def revoke_site_statement(*, statement: SiteStatement, reason: str, actor: User) -> SiteStatement:
    """Withdraw a statement; the public verification page then shows it as revoked with the reason."""
    reason = _clean_text(reason, field=_("Reason"), max_length=300, required=True)
    st = (
        SiteStatement.objects.select_for_update(of=("self",))
        .select_related("residency__workstation__community__operator")
        .get(pk=statement.pk)
    )
    if st.revoked_at is not None:
        raise InvalidTransition(_("This statement has already been revoked."))
    st.revoked_at = timezone.now()
    st.revoked_reason = reason
    st.save(update_fields=["revoked_at", "revoked_reason"])
    record_audit(
        action="site_statement.revoked",
        actor=actor,
        organisation=st.residency.workstation.community.operator,
        target=st,
        summary=reason,
        changes={"revoked_at": [None, st.revoked_at]},
    )
    return st
