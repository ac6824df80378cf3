from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from organisations.access import scope_for


def active_organisation(request: HttpRequest) -> dict[str, Any]:
    scope = scope_for(request)
    return {"scope": scope, "active_org": scope.organisation if request.user.is_authenticated else None}
