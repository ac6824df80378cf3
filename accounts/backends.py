from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.models import User
from accounts.phone import looks_like_phone, normalise_phone


def find_user_by_login(login: str) -> User | None:
    login = (login or "").strip()
    if not login:
        return None
    if looks_like_phone(login):
        try:
            return User.objects.filter(phone=normalise_phone(login)).first()
        except ValidationError:
            return None
    return User.objects.filter(email__iexact=login).first()


class PhoneOrEmailBackend(ModelBackend):
    """Authenticate with a mobile number or an e-mail address."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        login: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        user = find_user_by_login(login or username or "")
        if user is None:
            User().set_password(password)  # equalise timing with an existing user
            return None
        if password and user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def canonical_login(login: str) -> str:
    """The one spelling of a login id: 11-digit mobile number or lower-case e-mail (for throttling)."""
    login = (login or "").strip()
    if looks_like_phone(login):
        try:
            return normalise_phone(login)
        except ValidationError:
            return login
    return login.lower()


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """django-axes AXES_USERNAME_CALLABLE: lock the person, however the login is spelled."""
    raw = ""
    if credentials:
        raw = credentials.get("login") or credentials.get("username") or ""
    if not raw and request is not None:
        raw = request.POST.get("login", "")
    return canonical_login(str(raw))
