from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from organisations.access import Scope
from organisations.capabilities import OrgKind
from organisations.models import Organisation, PortfolioItem, Skill


def organisation_for_viewer(scope: Scope, pk: int) -> Organisation | None:
    """An organisation the viewer may look at: its own, one it manages or oversees, or a publicly listed OPC."""
    qs = Organisation.objects.select_related("home_community", "opc_profile").prefetch_related(
        "opc_profile__skills", Prefetch("opc_profile__portfolio", queryset=PortfolioItem.objects.all())
    )
    visible = Q(kind=OrgKind.OPC, opc_profile__listed_publicly=True, verification_status="verified")
    ids = scope.visible_organisation_ids() if scope.organisation else set()
    return qs.filter(visible | Q(pk__in=ids)).filter(pk=pk).first()


def members_for_operator(
    scope: Scope, *, status: str = "", kind: str = "", text: str = ""
) -> QuerySet[Organisation]:
    qs = scope.member_organisations().select_related("home_community").order_by("verification_status", "name")
    if status == "pending":
        qs = qs.filter(verification_status__in=["pending", "unverified"])
    elif status:
        qs = qs.filter(verification_status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if text:
        qs = qs.filter(Q(name__icontains=text) | Q(uscc__icontains=text))
    return qs


def public_opc_directory(*, skill: str = "", text: str = "") -> QuerySet[Organisation]:
    qs = (
        Organisation.objects.filter(
            kind=OrgKind.OPC, opc_profile__listed_publicly=True, verification_status="verified"
        )
        .select_related("opc_profile", "home_community")
        .prefetch_related("opc_profile__skills")
        .order_by("name")
    )
    if skill:
        qs = qs.filter(opc_profile__skills__code=skill)
    if text:
        qs = qs.filter(name__icontains=text)
    return qs


def skills() -> QuerySet[Skill]:
    return Skill.objects.all()
