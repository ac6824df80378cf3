from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from organisations.access import scope_for


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("core:dashboard")
    from communities.selectors import public_directory_summary

    return render(request, "core/home.html", {"summary": public_directory_summary()})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Each role's start page. Platform staff without an organisation are sent to the admin site."""
    scope = scope_for(request)
    if scope.membership is None:
        if request.user.is_staff:
            return redirect("admin:index")
        return render(request, "core/no_organisation.html", status=200)
    from core.dashboard import dashboard_context

    return render(request, "core/dashboard.html", dashboard_context(scope))


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    context: dict[str, Any] = {"status": status, "title": title, "message": message}
    return render(request, "core/error.html", context, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, _("Bad request"), _("The request could not be understood."))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = getattr(exception, "message", "") or _("You do not have permission to see this page.")
    return _error(request, 403, _("Not permitted"), message)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("No such API endpoint.")}, status=404)
    return _error(request, 404, _("Not found"), _("This page does not exist, or you cannot see it."))


def server_error(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {"status": 500, "title": _("Something went wrong"), "message": _("Please try again later.")},
        status=500,
    )
