from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import LoginForm, ProfileForm, RegisterForm, TokenForm
from accounts.models import ApiToken
from accounts.services import issue_api_token, revoke_api_token, update_user_profile
from core.errors import DomainError, NotFound
from core.http import acting_user, parse_id
from organisations.access import capability_required, scope_for
from organisations.capabilities import Capability
from organisations.middleware import SESSION_KEY
from organisations.services import register_member


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return None


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request,
            username=form.cleaned_data["login"],
            login=form.cleaned_data["login"],
            password=form.cleaned_data["password"],
        )
        if user is None:
            form.add_error(None, _("The login or the password is wrong."))
        else:
            login(request, user, backend="accounts.backends.PhoneOrEmailBackend")
            response = redirect(_safe_next(request) or "core:dashboard")
            response.set_cookie("django_language", user.preferred_language, samesite="Lax")
            return response
    return render(request, "accounts/login.html", {"form": form, "next": _safe_next(request) or ""})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You have logged out."))
    return redirect("core:home")


@require_http_methods(["GET", "POST"])
def register_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("core:dashboard")
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user, org = register_member(
                display_name=data["display_name"],
                password=data["password"],
                email=data.get("email") or None,
                phone=data.get("phone") or None,
                kind=data["kind"],
                subkind=data.get("subkind") or "",
                organisation_name=data["organisation_name"],
                home_community=data.get("home_community"),
                uscc=data.get("uscc") or "",
            )
        except ValidationError as exc:
            form.add_error("password", exc)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            login(request, user, backend="accounts.backends.PhoneOrEmailBackend")
            request.session[SESSION_KEY] = org.pk
            messages.success(request, _("Welcome to OPC Hub! Your registration is complete."))
            return redirect("core:dashboard")
    return render(request, "accounts/register.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def profile_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = ProfileForm(
        request.POST or None,
        initial={"display_name": user.display_name, "preferred_language": user.preferred_language},  # type: ignore[union-attr]
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_user_profile(user=user, **form.cleaned_data)  # type: ignore[arg-type]
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            translation.activate(form.cleaned_data["preferred_language"])
            messages.success(request, _("Saved."))
            response = redirect("accounts:profile")
            response.set_cookie("django_language", form.cleaned_data["preferred_language"], samesite="Lax")
            return response
    memberships = user.memberships.select_related("organisation")  # type: ignore[union-attr]
    return render(request, "accounts/profile.html", {"form": form, "memberships": memberships})


@login_required
@require_POST
def switch_organisation(request: HttpRequest) -> HttpResponse:
    wanted = parse_id(request.POST.get("organisation"))
    if wanted is None or not acting_user(request).memberships.filter(organisation_id=wanted).exists():
        raise NotFound()
    request.session[SESSION_KEY] = wanted
    return redirect("core:dashboard")


@capability_required(Capability.TOKENS_MANAGE)
@require_http_methods(["GET", "POST"])
def tokens_view(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    form = TokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires = timezone.now() + dt.timedelta(days=days) if days else None
        try:
            _token, secret = issue_api_token(
                user=acting_user(request),
                organisation=scope.organisation,  # type: ignore[arg-type]
                name=form.cleaned_data["name"],
                expires_at=expires,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            form = TokenForm()
    tokens = ApiToken.objects.filter(user=acting_user(request)).select_related("organisation")
    response = render(request, "accounts/tokens.html", {"form": form, "tokens": tokens, "secret": secret})
    response["Cache-Control"] = "no-store"  # the page may show a secret once
    return response


@capability_required(Capability.TOKENS_MANAGE)
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = ApiToken.objects.filter(user=acting_user(request), pk=pk).first()
    if token is None:
        raise NotFound()
    revoke_api_token(token=token, actor=acting_user(request))
    messages.success(request, _("Token revoked."))
    return redirect("accounts:tokens")
