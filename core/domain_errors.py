from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from core.errors import DomainError, NotFound, NotPermitted


class DomainErrorMiddleware:
    """A DomainError that escapes a view becomes a localized error page with the error's status code
    (403 not permitted, 404 not found, 409 conflict, 400 otherwise). API errors are handled by the API."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DomainError):
            return None
        if isinstance(exception, NotFound):
            title = _("Not found")
            message = _("This page does not exist, or you cannot see it.")
        elif isinstance(exception, NotPermitted):
            title = _("Not permitted")
            message = exception.message
        else:
            title = _("Cannot do that")
            message = exception.message
        return render(
            request,
            "core/error.html",
            {"status": exception.status_code, "title": title, "message": message},
            status=exception.status_code,
        )
