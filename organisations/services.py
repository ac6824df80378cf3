"""Writes for organisations, memberships, verification and OPC profiles. Views and API handlers call these."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import audit_summary, diff, record_audit
from core.errors import Conflict, DomainError, InvalidTransition
from organisations.capabilities import OWNER_CAPABILITIES, SUBKINDS_BY_KIND, OrgKind
from organisations.models import (
    MemberRole,
    Membership,
    OPCProfile,
    Organisation,
    PortfolioItem,
    Skill,
    VerificationStatus,
)
from organisations.validation import clean_resident_id, clean_uscc, mask_resident_id, resident_id_digest

if TYPE_CHECKING:
    from accounts.models import User
    from communities.models import Community

SELF_REGISTRABLE_KINDS = {OrgKind.OPC, OrgKind.CLIENT, OrgKind.PROVIDER}

# The legal transitions of an organisation's verification.
VERIFICATION_TRANSITIONS: dict[str, set[str]] = {
    VerificationStatus.UNVERIFIED: {
        VerificationStatus.PENDING,
        VerificationStatus.VERIFIED,
        VerificationStatus.REJECTED,
    },
    VerificationStatus.PENDING: {VerificationStatus.VERIFIED, VerificationStatus.REJECTED},
    VerificationStatus.REJECTED: {VerificationStatus.PENDING, VerificationStatus.VERIFIED},
    VerificationStatus.VERIFIED: {VerificationStatus.PENDING},
}


def _transition(org: Organisation, to: str) -> None:
    if to not in VERIFICATION_TRANSITIONS.get(org.verification_status, set()):
        raise InvalidTransition(
            _("An organisation that is “%(current)s” cannot become “%(new)s”.")
            % {"current": org.get_verification_status_display(), "new": VerificationStatus(to).label}
        )
    org.verification_status = to


def _check_kind(kind: str, subkind: str) -> None:
    if kind not in OrgKind.values:
        raise DomainError(_("Unknown organisation kind."))
    if subkind not in SUBKINDS_BY_KIND[kind]:
        raise DomainError(_("This type does not fit the organisation kind."))


@transaction.atomic
def create_organisation(
    *,
    kind: str,
    name: str,
    owner: User,
    actor: User | None,
    subkind: str = "",
    home_community: Community | None = None,
    city: str = "",
    district: str = "",
    uscc: str = "",
    founder_name: str = "",
    verification_status: str = VerificationStatus.UNVERIFIED,
) -> Organisation:
    """Create an organisation with ``owner`` as its owner member (capabilities by kind); an OPC gets a profile."""
    _check_kind(kind, subkind)
    name = name.strip()
    if not name:
        raise DomainError(_("The organisation needs a name."))
    code = clean_uscc(uscc) if uscc else None
    if code and Organisation.objects.filter(uscc=code).exists():
        raise Conflict(_("An organisation with this unified social credit code is already registered."))
    org = Organisation.objects.create(
        kind=kind,
        subkind=subkind,
        name=name,
        uscc=code,
        home_community=home_community,
        city=city or (home_community.city if home_community else ""),
        district=district or (home_community.district if home_community else ""),
        verification_status=verification_status,
    )
    Membership.objects.create(
        user=owner, organisation=org, role=MemberRole.OWNER, capabilities=list(OWNER_CAPABILITIES[kind])
    )
    if kind == OrgKind.OPC:
        OPCProfile.objects.create(organisation=org, founder_name=founder_name or owner.display_name)
    record_audit(
        action="organisation.created",
        actor=actor,
        organisation=org,
        target=org,
        summary=audit_summary(gettext_noop("Organisation %(name)s created"), {"name": org.name}),
        changes={
            "kind": kind,
            "subkind": subkind,
            "community": home_community.pk if home_community else None,
        },
    )
    return org


@transaction.atomic
def register_member(
    *,
    display_name: str,
    password: str,
    email: str | None,
    phone: str | None,
    kind: str,
    subkind: str,
    organisation_name: str,
    home_community: Community | None,
    uscc: str = "",
) -> tuple[User, Organisation]:
    """Self-registration of a person and their organisation. Joining a community puts the organisation in the
    operator's verification queue."""
    from accounts.services import create_user

    if kind not in SELF_REGISTRABLE_KINDS:
        raise DomainError(_("Operators and authorities are set up by the platform, not by registration."))
    user = create_user(display_name=display_name, password=password, email=email, phone=phone)
    org = create_organisation(
        kind=kind,
        subkind=subkind,
        name=organisation_name,
        owner=user,
        actor=user,
        home_community=home_community,
        uscc=uscc,
        verification_status=VerificationStatus.PENDING if home_community else VerificationStatus.UNVERIFIED,
    )
    return user, org


ORG_EDITABLE_FIELDS = [
    "name",
    "city",
    "district",
    "contact_phone",
    "contact_email",
    "description",
    "legal_representative",
]


@transaction.atomic
def update_organisation(
    *,
    organisation: Organisation,
    actor: User,
    values: dict[str, Any],
    uscc: str | None = None,
    legal_rep_id: str | None = None,
) -> Organisation:
    """Edit an organisation's facts. A new USCC or legal representative ID on a verified organisation sends it
    back to the operator for verification."""
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    clean = {
        k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in ORG_EDITABLE_FIELDS
    }
    if "name" in clean and not clean["name"]:
        raise DomainError(_("The organisation needs a name."))
    changes = diff(org, ORG_EDITABLE_FIELDS, clean)
    identity_changed = False
    if uscc is not None and uscc.strip():
        code = clean_uscc(uscc)
        if code != org.uscc:
            if Organisation.objects.filter(uscc=code).exclude(pk=org.pk).exists():
                raise Conflict(
                    _("An organisation with this unified social credit code is already registered.")
                )
            changes["uscc"] = [org.uscc, code]
            org.uscc = code
            identity_changed = True
    if legal_rep_id is not None and legal_rep_id.strip():
        number = clean_resident_id(legal_rep_id)
        digest = resident_id_digest(number)
        if digest != org.legal_rep_id_digest:
            changes["legal_rep_id"] = [org.legal_rep_id_masked, mask_resident_id(number)]
            org.legal_rep_id_masked = mask_resident_id(number)
            org.legal_rep_id_digest = digest
            identity_changed = True
    for key, value in clean.items():
        setattr(org, key, value)
    if identity_changed and org.verification_status in (
        VerificationStatus.VERIFIED,
        VerificationStatus.REJECTED,
    ):
        before = org.verification_status
        _transition(org, VerificationStatus.PENDING)
        changes["verification_status"] = [before, VerificationStatus.PENDING]
    try:
        org.save()
    except IntegrityError:
        raise Conflict() from None
    if changes:
        record_audit(
            action="organisation.updated",
            actor=actor,
            organisation=org,
            target=org,
            summary=audit_summary(gettext_noop("Organisation details changed")),
            changes=changes,
        )
    return org


@transaction.atomic
def submit_for_verification(*, organisation: Organisation, actor: User) -> Organisation:
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    if org.home_community_id is None:
        raise DomainError(_("Join a community first: its operator verifies members."))
    _transition(org, VerificationStatus.PENDING)
    org.save(update_fields=["verification_status"])
    record_audit(action="organisation.verification_requested", actor=actor, organisation=org, target=org)
    return org


@transaction.atomic
def verify_organisation(*, organisation: Organisation, actor: User, operator: Organisation) -> Organisation:
    """The operator confirms a member's identity. Call with an organisation taken from the operator's scope."""
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    before = org.verification_status
    _transition(org, VerificationStatus.VERIFIED)
    org.verified_at = timezone.now()
    org.verified_by = actor
    org.verification_note = ""
    org.save(update_fields=["verification_status", "verified_at", "verified_by", "verification_note"])
    record_audit(
        action="organisation.verified",
        actor=actor,
        organisation=org,
        target=org,
        summary=audit_summary(gettext_noop("Verified by %(operator)s"), {"operator": operator.name}),
        changes={"verification_status": [before, org.verification_status]},
    )
    return org


@transaction.atomic
def reject_organisation(
    *, organisation: Organisation, actor: User, operator: Organisation, reason: str
) -> Organisation:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give the member a reason for the rejection."))
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    before = org.verification_status
    _transition(org, VerificationStatus.REJECTED)
    org.verification_note = reason[:300]
    org.verified_at = None
    org.verified_by = None
    org.save(update_fields=["verification_status", "verification_note", "verified_at", "verified_by"])
    record_audit(
        action="organisation.rejected",
        actor=actor,
        organisation=org,
        target=org,
        summary=reason[:300],
        changes={"verification_status": [before, org.verification_status]},
    )
    return org


def _parse_tags(raw: str | list[str]) -> list[str]:
    items = raw if isinstance(raw, list) else raw.replace("，", ",").split(",")
    tags: list[str] = []
    for item in items:
        tag = item.strip()[:24]
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > 20:
        raise DomainError(_("At most 20 tags."))
    return tags


@transaction.atomic
def update_opc_profile(
    *,
    profile: OPCProfile,
    actor: User,
    founder_name: str,
    headcount: int,
    skills: list[Skill],
    tags: str | list[str],
    capacity: int,
    rate_min: Decimal | None,
    rate_max: Decimal | None,
    talent_level: str,
    founded_on: Any,
    listed_publicly: bool,
) -> OPCProfile:
    if not 1 <= headcount <= 3:
        raise DomainError(_("A one-person company has 1 to 3 people."))
    if not 1 <= capacity <= 50:
        raise DomainError(_("Concurrent orders must be between 1 and 50."))
    for value in (rate_min, rate_max):
        if value is not None and value < 0:
            raise DomainError(_("Rates cannot be negative."))
    if rate_min is not None and rate_max is not None and rate_min > rate_max:
        raise DomainError(_("The lower rate must not exceed the upper rate."))
    p = OPCProfile.objects.select_for_update().get(pk=profile.pk)
    before = {
        "skills": sorted(p.skills.values_list("code", flat=True)),
        "capacity": p.capacity,
        "tags": p.tags,
    }
    p.founder_name = founder_name.strip() or p.founder_name
    p.headcount = headcount
    p.tags = _parse_tags(tags)
    p.capacity = capacity
    p.rate_min = rate_min.quantize(Decimal("0.01")) if rate_min is not None else None
    p.rate_max = rate_max.quantize(Decimal("0.01")) if rate_max is not None else None
    p.talent_level = talent_level
    p.founded_on = founded_on
    p.listed_publicly = listed_publicly
    p.save()
    p.skills.set(skills)
    record_audit(
        action="opc_profile.updated",
        actor=actor,
        organisation=p.organisation,
        target=p,
        summary=audit_summary(gettext_noop("OPC profile updated")),
        changes={
            "before": before,
            "skills": sorted(s.code for s in skills),
            "capacity": capacity,
            "tags": p.tags,
        },
    )
    return p


@transaction.atomic
def add_portfolio_item(*, profile: OPCProfile, actor: User, title: str, **fields: Any) -> PortfolioItem:
    if not title.strip():
        raise DomainError(_("A portfolio item needs a title."))
    if profile.portfolio.count() >= 50:
        raise DomainError(_("At most 50 portfolio items."))
    item = PortfolioItem.objects.create(profile=profile, title=title.strip(), **fields)
    record_audit(action="portfolio.added", actor=actor, organisation=profile.organisation, target=item)
    return item


@transaction.atomic
def remove_portfolio_item(*, item: PortfolioItem, actor: User) -> None:
    org = item.profile.organisation
    record_audit(action="portfolio.removed", actor=actor, organisation=org, target=item)
    item.delete()


def validation_messages(exc: ValidationError) -> str:
    return " ".join(str(m) for m in exc.messages)
