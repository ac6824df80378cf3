"""Tenancy and permissions: the one place that decides who may see and change what.

Every view and API endpoint gets the caller's ``Scope`` (built from the active membership) and asks it for
objects; objects outside the scope are "not found" (404), actions without the named capability are "not
permitted" (403). Nothing else in the project filters by tenant on its own.

Rules:
- an operator manages the communities it operates and the organisations that belong to them;
- an OPC, client or provider sees and changes only its own data;
- a government authority reads aggregates and the audit trail of its city (all cities when it has none);
- anonymous visitors see only public pages (community directory, opt-in OPC directory, verification pages).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from core.errors import NotFound, NotPermitted
from organisations.capabilities import Capability, OrgKind
from organisations.models import Membership, Organisation

if TYPE_CHECKING:
    from communities.models import Community

V = TypeVar("V", bound=Callable[..., HttpResponse])


class Scope:
    """What one membership may see. Anonymous or membership-less callers get an empty scope."""

    def __init__(self, membership: Membership | None) -> None:
        self.membership = membership
        self.organisation: Organisation | None = membership.organisation if membership else None

    # -- capabilities -------------------------------------------------------------------------------------
    def has(self, capability: Capability | str) -> bool:
        return self.membership is not None and self.membership.has(capability)

    def require(self, capability: Capability | str) -> Organisation:
        if self.membership is None or self.organisation is None:
            raise NotPermitted()
        if not self.membership.has(capability):
            raise NotPermitted()
        return self.organisation

    @property
    def kind(self) -> str | None:
        return self.organisation.kind if self.organisation else None

    @property
    def is_operator(self) -> bool:
        return self.kind == OrgKind.OPERATOR

    @property
    def is_authority(self) -> bool:
        return self.kind == OrgKind.AUTHORITY

    # -- communities --------------------------------------------------------------------------------------
    def managed_communities(self) -> QuerySet[Community]:
        from communities.models import Community

        if self.is_operator and self.has(Capability.COMMUNITY_MANAGE):
            return Community.objects.filter(operator=self.organisation)
        return Community.objects.none()

    @cached_property
    def managed_community_ids(self) -> set[int]:
        return set(self.managed_communities().values_list("pk", flat=True))

    def get_managed_community(self, pk: Any) -> Community:
        community = self.managed_communities().filter(pk=_as_int(pk)).first()
        if community is None:
            raise NotFound()
        return community

    def overseen_communities(self) -> QuerySet[Community]:
        """Communities whose aggregates this caller may read (operators: their own; authorities: their city)."""
        from communities.models import Community

        if self.is_authority and self.has(Capability.OVERSIGHT_VIEW):
            city = self.organisation.city if self.organisation else ""
            qs = Community.objects.all()
            return qs.filter(city=city) if city else qs
        return self.managed_communities()

    # -- organisations ------------------------------------------------------------------------------------
    def member_organisations(self) -> QuerySet[Organisation]:
        """Organisations this caller manages (operators) or oversees read-only (authorities)."""
        if self.is_operator and self.has(Capability.COMMUNITY_MANAGE):
            return Organisation.objects.filter(home_community__operator=self.organisation)
        if self.is_authority and self.has(Capability.OVERSIGHT_VIEW):
            return Organisation.objects.filter(home_community__in=self.overseen_communities())
        return Organisation.objects.none()

    def get_member_organisation(self, pk: Any) -> Organisation:
        org = self.member_organisations().filter(pk=_as_int(pk)).first()
        if org is None:
            raise NotFound()
        return org

    def managed_member_ids(self) -> set[int]:
        if self.is_operator and self.has(Capability.COMMUNITY_MANAGE):
            return set(self.member_organisations().values_list("pk", flat=True))
        return set()

    def visible_organisation_ids(self) -> set[int]:
        """Own organisation plus everything managed or overseen (used for audit visibility)."""
        ids = set(self.member_organisations().values_list("pk", flat=True))
        if self.organisation is not None:
            ids.add(self.organisation.pk)
        return ids


def _as_int(pk: Any) -> int:
    from core.http import parse_id

    value = parse_id(pk)
    if value is None:
        raise NotFound()
    return value


def scope_for(request: HttpRequest) -> Scope:
    return getattr(request, "org_scope", None) or Scope(None)


def capability_required(capability: Capability | str | None = None) -> Callable[[V], V]:
    """View decorator: the caller must be logged in, have an active organisation and, when given, the
    capability. The view receives ``request.org_scope`` ready to use."""

    def decorator(view: V) -> V:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            scope = scope_for(request)
            if scope.membership is None:
                raise NotPermitted()
            if capability is not None:
                scope.require(capability)
            return view(request, *args, **kwargs)

        wrapped.required_capability = capability  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator
