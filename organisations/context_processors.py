from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from organisations.access import scope_for


def active_organisation(request: HttpRequest) -> dict[str, Any]:
    scope = scope_for(request)
    from core.extensions import nav_items

    authenticated = request.user.is_authenticated
    return {
        "scope": scope,
        "active_org": scope.organisation if authenticated else None,
        "app_nav": nav_items(request, scope) if authenticated else [],
    }
