from __future__ import annotations

import datetime as dt

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiToken, User
from accounts.phone import normalise_phone
from audit.services import record_audit
from core.errors import Conflict, DomainError, NotFound
from organisations.models import Organisation


def create_user(*, display_name: str, password: str, email: str | None, phone: str | None) -> User:
    display_name = (display_name or "").strip()
    if not display_name:
        raise DomainError(_("Enter your name."))
    email = (email or "").strip().lower() or None
    phone = normalise_phone(phone) if phone and phone.strip() else None
    if not email and not phone:
        raise DomainError(_("Enter a mobile number or an e-mail address."))
    if email and User.objects.filter(email__iexact=email).exists():
        raise Conflict(_("This e-mail address is already registered; log in instead."))
    if phone and User.objects.filter(phone=phone).exists():
        raise Conflict(_("This mobile number is already registered; log in instead."))
    candidate = User(email=email, phone=phone, display_name=display_name)
    validate_password(password, candidate)
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError:
        raise Conflict(_("This login is already registered; log in instead.")) from None
    return candidate


@transaction.atomic
def update_user_profile(*, user: User, display_name: str, preferred_language: str) -> User:
    display_name = display_name.strip()
    if not display_name:
        raise DomainError(_("Enter your name."))
    changes = {}
    if user.display_name != display_name:
        changes["display_name"] = [user.display_name, display_name]
    if user.preferred_language != preferred_language:
        changes["preferred_language"] = [user.preferred_language, preferred_language]
    user.display_name = display_name
    user.preferred_language = preferred_language
    user.save(update_fields=["display_name", "preferred_language"])
    if changes:
        record_audit(action="user.updated", actor=user, organisation=None, target=user, changes=changes)
    return user


@transaction.atomic
def issue_api_token(
    *, user: User, organisation: Organisation, name: str, expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a personal access token acting as ``user`` in ``organisation``. Returns (token, secret); the
    secret is not stored and cannot be shown again."""
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Give the token a name."))
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(_("The expiry date must be in the future."))
    if not user.memberships.filter(organisation=organisation).exists():
        raise NotFound()
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= 20:
        raise DomainError(_("At most 20 active tokens per person; revoke an old one first."))
    secret = ApiToken.generate_secret()
    token = ApiToken.objects.create(
        user=user,
        organisation=organisation,
        name=name[:80],
        prefix=secret[:10],
        digest=ApiToken.digest_of(secret),
        expires_at=expires_at,
    )
    record_audit(action="api_token.issued", actor=user, organisation=organisation, target=token)
    return token, secret


@transaction.atomic
def revoke_api_token(*, token: ApiToken, actor: User) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_audit(action="api_token.revoked", actor=actor, organisation=token.organisation, target=token)
    return token


def authenticate_api_token(secret: str) -> ApiToken | None:
    if not secret or not secret.startswith(ApiToken.PREFIX) or len(secret) > 100:
        return None
    token = (
        ApiToken.objects.select_related("user", "organisation")
        .filter(digest=ApiToken.digest_of(secret))
        .first()
    )
    if token is None or not token.is_usable or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def validation_error_text(exc: ValidationError) -> str:
    return " ".join(str(m) for m in exc.messages)
