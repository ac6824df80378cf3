from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from organisations.access import Scope
from organisations.models import Membership

SESSION_KEY = "active_organisation_id"


def active_membership(request: HttpRequest) -> Membership | None:
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("organisation").order_by("pk")
    wanted = request.session.get(SESSION_KEY)
    if wanted is not None:
        chosen = memberships.filter(organisation_id=wanted).first()
        if chosen is not None:
            return chosen
    return memberships.first()


class ActiveOrganisationMiddleware:
    """Attach ``request.org_scope``: the caller's active membership and what it may see (lazy, one query)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.org_scope = SimpleLazyObject(lambda: Scope(active_membership(request)))  # type: ignore[attr-defined]
        return self.get_response(request)
