"""The OPC Hub API (Django Ninja): one schema at /api/openapi.json, docs at /api/docs.

Authentication: a personal access token (``Authorization: Bearer opc_…``) or the browser session (with CSRF).
Either way the handler gets ``request.org_scope`` — the same tenancy object the pages use — so the API and the
pages cannot disagree about who may see what. Domain errors map to JSON ``{"detail": …}`` with their status.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import APIKeyCookie, HttpBearer

from accounts.services import authenticate_api_token
from core.errors import DomainError
from organisations.access import Scope
from organisations.middleware import active_membership


class TokenAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = authenticate_api_token(token)
        if api_token is None:
            return None
        membership = api_token.user.memberships.filter(organisation=api_token.organisation).first()
        if membership is None:
            return None
        request.user = api_token.user
        request.org_scope = Scope(membership)  # type: ignore[attr-defined]
        _use_preferred_language(request, api_token.user)
        return api_token.user


def _use_preferred_language(request: HttpRequest, user: Any) -> None:
    """A token client that sends no Accept-Language gets answers in its user's preferred language."""
    from django.utils import translation

    if request.META.get("HTTP_ACCEPT_LANGUAGE") or not getattr(user, "preferred_language", ""):
        return
    translation.activate(user.preferred_language)
    request.LANGUAGE_CODE = translation.get_language()


class SessionAuth(APIKeyCookie):
    """The browser session, with CSRF checked by Ninja (csrf=True)."""

    param_name = "sessionid"

    def __call__(self, request: HttpRequest) -> Any:
        # Without a logged-in session this scheme does not apply: answer 401 (not a CSRF 403) to a client
        # whose bearer token was refused.
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if request.user.is_authenticated:
            request.org_scope = Scope(active_membership(request))  # type: ignore[attr-defined]
            return request.user
        return None


api = NinjaAPI(
    title="OPC Hub API",
    version="1.0.0",
    description="Organisations, communities, workstations, site statements, ledger and audit for OPC Hub.",
    auth=[TokenAuth(), SessionAuth(csrf=True)],
    urls_namespace="api-1.0.0",
)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message}, status=exc.status_code)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": " ".join(str(m) for m in exc.messages)}, status=400)


@api.exception_handler(NinjaValidationError)
def on_schema_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    from django.utils.translation import gettext as _

    return api.create_response(
        request,
        {
            "detail": _("The request does not match the schema; see “errors” for each field."),
            "errors": exc.errors,
        },
        status=422,
    )


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    from django.utils.translation import gettext as _

    return api.create_response(
        request, {"detail": _("Authentication required: a valid API token or login.")}, status=401
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


def _register_routers() -> None:
    from importlib import import_module

    from core.extensions import project_apps

    for app in project_apps():
        try:
            module = import_module(f"{app}.api")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.api":
                raise
            continue
        api.add_router(f"/{app}/", module.router)


_register_routers()
