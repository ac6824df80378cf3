from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

from core.errors import NotPermitted

if TYPE_CHECKING:
    from accounts.models import User


def redirect_back(request: HttpRequest, fallback: str, *args: object) -> HttpResponseRedirect:
    """Redirect to the POSTed ``next`` when it is a local URL, else to ``fallback``."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return HttpResponseRedirect(target)
    return redirect(resolve_url(fallback, *args))


def acting_user(request: HttpRequest) -> User:
    """The logged-in user of a view already guarded by a login/capability check."""
    user = request.user
    if not user.is_authenticated:
        raise NotPermitted()
    return cast("User", user)


def parse_id(raw: object) -> int | None:
    """A database id from user input: ASCII digits only, within BIGINT range; anything else is None."""
    text = str(raw or "")
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)
