from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from communities.models import Community, Residency, SiteStatement, Workstation, WorkstationStatus
from core.errors import NotFound

if TYPE_CHECKING:
    from organisations.access import Scope

M = TypeVar("M", bound=models.Model)


def open_residencies() -> QuerySet[Residency]:
    today = timezone.localdate()
    return Residency.objects.filter(Q(end_date__isnull=True) | Q(end_date__gte=today), start_date__lte=today)


def communities_with_occupancy(qs: QuerySet[Community] | None = None) -> QuerySet[Community]:
    """Communities annotated with workstation, occupied and resident counts (one query)."""
    qs = Community.objects.all() if qs is None else qs
    today = timezone.localdate()
    open_q = Q(workstations__residencies__start_date__lte=today) & (
        Q(workstations__residencies__end_date__isnull=True)
        | Q(workstations__residencies__end_date__gte=today)
    )
    return qs.annotate(
        workstation_count=Count("workstations", distinct=True),
        occupied_count=Count("workstations", filter=open_q, distinct=True),
        resident_count=Count("workstations__residencies__organisation", filter=open_q, distinct=True),
        out_of_service_count=Count(
            "workstations", filter=Q(workstations__status=WorkstationStatus.OUT_OF_SERVICE), distinct=True
        ),
    ).select_related("operator", "network")


def occupancy_totals(qs: QuerySet[Community]) -> dict[str, Any]:
    workstations = Workstation.objects.filter(community__in=qs)
    occupied = open_residencies().filter(workstation__community__in=qs)
    total = workstations.count()
    occupied_count = occupied.values("workstation").distinct().count()
    return {
        "communities": qs.count(),
        "workstations": total,
        "occupied": occupied_count,
        "residents": occupied.values("organisation").distinct().count(),
        "occupancy_rate": round(100 * occupied_count / total, 1) if total else 0.0,
    }


def public_directory_summary() -> dict[str, Any]:
    return occupancy_totals(Community.objects.filter(is_public=True))


# -- public directory ---------------------------------------------------------------------------------------------
def public_communities(*, city: str = "", sector: str = "", text: str = "") -> QuerySet[Community]:
    """Communities listed in the public directory, with occupancy figures, filtered by city / sector code."""
    qs = Community.objects.filter(is_public=True)
    if city:
        qs = qs.filter(city=city)
    if sector:
        qs = qs.filter(sectors__code=sector)
    if text:
        qs = qs.filter(Q(name__icontains=text) | Q(district__icontains=text) | Q(positioning__icontains=text))
    return (
        communities_with_occupancy(qs.distinct())
        .prefetch_related("sectors")
        .order_by("city", "district", "name")
    )


def public_cities() -> list[str]:
    return list(
        Community.objects.filter(is_public=True).order_by("city").values_list("city", flat=True).distinct()
    )


def public_community(pk: Any) -> Community | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return public_communities().filter(pk=pk).first()


def zone_summary(community: Community) -> list[dict[str, Any]]:
    """Per zone: workstations, occupied (open residency today), available."""
    today = timezone.localdate()
    open_q = Q(residencies__start_date__lte=today) & (
        Q(residencies__end_date__isnull=True) | Q(residencies__end_date__gte=today)
    )
    rows = (
        Workstation.objects.filter(community=community)
        .values("zone")
        .annotate(
            total=Count("pk", distinct=True),
            occupied=Count("pk", filter=open_q, distinct=True),
            available=Count("pk", filter=Q(status=WorkstationStatus.AVAILABLE), distinct=True),
        )
        .order_by("zone")
    )
    return [dict(row) for row in rows]


# -- operator -----------------------------------------------------------------------------------------------------
def workstations_of(community: Community) -> QuerySet[Workstation]:
    """A community's workstations, each with its current resident (``current`` list, 0 or 1 items)."""
    from django.db.models import Prefetch

    current = Prefetch(
        "residencies",
        queryset=Residency.objects.filter(end_date__isnull=True).select_related("organisation"),
        to_attr="current",
    )
    return Workstation.objects.filter(community=community).prefetch_related(current).order_by("zone", "code")


def residencies_of(community: Community, *, current_only: bool = False) -> QuerySet[Residency]:
    qs = Residency.objects.filter(workstation__community=community).select_related(
        "organisation", "workstation"
    )
    if current_only:
        today = timezone.localdate()
        qs = qs.filter(Q(end_date__isnull=True) | Q(end_date__gte=today))
    return qs.order_by("end_date", "workstation__code", "-start_date")


def statements_of(community: Community) -> QuerySet[SiteStatement]:
    return (
        SiteStatement.objects.filter(residency__workstation__community=community)
        .select_related("residency__organisation", "residency__workstation", "issued_by")
        .order_by("-issued_at")
    )


def available_workstations(communities: QuerySet[Community]) -> QuerySet[Workstation]:
    """Workstations that can be assigned now: available, no open residency."""
    from django.db.models import Exists, OuterRef

    assigned = Residency.objects.filter(workstation=OuterRef("pk"), end_date__isnull=True)
    return (
        Workstation.objects.filter(community__in=communities, status=WorkstationStatus.AVAILABLE)
        .exclude(Exists(assigned))
        .select_related("community")
        .order_by("community__name", "zone", "code")
    )


def residencies_of_organisation(org_id: int) -> QuerySet[Residency]:
    return (
        Residency.objects.filter(organisation_id=org_id)
        .select_related("workstation__community__operator")
        .prefetch_related("statements")
        .order_by("-start_date")
    )


# -- statements -----------------------------------------------------------------------------------------------------
def normalise_code(raw: Any) -> str:
    """A verification code as typed: case, spaces and dashes don't matter. '' when it cannot be a code."""
    if not isinstance(raw, str):
        return ""
    code = raw.strip().upper().replace(" ", "").replace("-", "")
    if not 4 <= len(code) <= 16 or not code.isascii() or not code.isalnum():
        return ""
    return code


def statement_by_code(raw: Any) -> SiteStatement | None:
    code = normalise_code(raw)
    if not code:
        return None
    return SiteStatement.objects.select_related("residency").filter(code=code).first()


# -- oversight ------------------------------------------------------------------------------------------------------
def district_aggregates(qs: QuerySet[Community]) -> list[dict[str, Any]]:
    """Per (city, district): communities, workstations, occupied, resident companies, occupancy rate, statements."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for place in qs.values("city", "district").annotate(n=Count("pk")).order_by("city", "district"):
        rows[(place["city"], place["district"])] = {
            "city": place["city"],
            "district": place["district"],
            "communities": place["n"],
            "workstations": 0,
            "occupied": 0,
            "residents": 0,
            "statements": 0,
        }
    for ws in (
        Workstation.objects.filter(community__in=qs)
        .values("community__city", "community__district")
        .annotate(n=Count("pk"))
    ):
        rows[(ws["community__city"], ws["community__district"])]["workstations"] = ws["n"]
    for res in (
        open_residencies()
        .filter(workstation__community__in=qs)
        .values("workstation__community__city", "workstation__community__district")
        .annotate(
            occupied=Count("workstation", distinct=True), residents=Count("organisation", distinct=True)
        )
    ):
        key = (res["workstation__community__city"], res["workstation__community__district"])
        rows[key]["occupied"] = res["occupied"]
        rows[key]["residents"] = res["residents"]
    for st in (
        SiteStatement.objects.filter(residency__workstation__community__in=qs, revoked_at__isnull=True)
        .values("residency__workstation__community__city", "residency__workstation__community__district")
        .annotate(n=Count("pk"))
    ):
        key = (
            st["residency__workstation__community__city"],
            st["residency__workstation__community__district"],
        )
        rows[key]["statements"] = st["n"]
    out = list(rows.values())
    for item in out:
        total = item["workstations"]
        item["occupancy_rate"] = round(100 * item["occupied"] / total, 1) if total else 0.0
    return out


def statement_totals(qs: QuerySet[Community]) -> dict[str, int]:
    statements = SiteStatement.objects.filter(residency__workstation__community__in=qs)
    return {
        "issued": statements.count(),
        "active": statements.filter(revoked_at__isnull=True).count(),
        "revoked": statements.filter(revoked_at__isnull=False).count(),
    }


def managed_object(scope: Scope, model: type[M], pk: Any, path: str) -> M:
    """An object of ``model`` whose community (reached through ``path``) the caller manages; else NotFound."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
    obj = model._default_manager.filter(**{f"{path}__in": scope.managed_communities(), "pk": pk}).first()
    if obj is None:
        raise NotFound()
    return obj
