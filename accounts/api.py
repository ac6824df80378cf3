"""API: the caller (``/me``) and their personal access tokens.

A token's secret is returned once, by ``POST /tokens``; only its SHA-256 digest is stored, and no endpoint
returns the digest. Tokens are managed with the ``tokens.manage`` capability of the active organisation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Path, Router, Schema, Status

from accounts.models import ApiToken
from accounts.services import issue_api_token, revoke_api_token
from core.errors import NotFound
from core.http import acting_user
from organisations.access import scope_for
from organisations.capabilities import Capability

router = Router(tags=["accounts"])

# Database ids are 64-bit; a larger number in a path or query would overflow the database driver (500).
MAX_ID = 2**63 - 1


class ErrorOut(Schema):
    """Every 4xx answer of the API (except 422) has this shape; ``detail`` is localized."""

    detail: str


class ValidationErrorOut(Schema):
    """422: the request did not match the schema (wrong type, missing field, out of range)."""

    detail: list[dict[str, Any]]


ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 422: ValidationErrorOut}


class MeUserOut(Schema):
    id: int
    display_name: str
    login: str = Field(description="Mobile number or e-mail address, masked.")
    preferred_language: str


class MeOrganisationOut(Schema):
    id: int
    name: str
    kind: str
    verification_status: str


class MeOut(Schema):
    user: MeUserOut
    organisation: MeOrganisationOut | None = Field(description="The active organisation (the token's).")
    capabilities: list[str]


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise the token.")
    organisation_id: int
    organisation_name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    usable: bool


class TokenCreateIn(Schema):
    name: str = Field(min_length=1, max_length=80)
    expires_in_days: Literal[0, 30, 90, 365] = Field(90, description="0: never expires.")


class TokenCreatedOut(Schema):
    secret: str = Field(description="Shown only now: store it safely. Send it as `Authorization: Bearer …`.")
    token: TokenOut


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.pk,
        name=token.name,
        prefix=token.prefix,
        organisation_id=token.organisation_id,
        organisation_name=token.organisation.name,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
        usable=token.is_usable,
    )


@router.get("/me", response={200: MeOut, **ERRORS}, summary="The caller and the active organisation")
def me(request: HttpRequest) -> MeOut:
    user = acting_user(request)
    scope = scope_for(request)
    org = scope.organisation
    return MeOut(
        user=MeUserOut(
            id=user.pk,
            display_name=user.display_name,
            login=user.masked_login_id,
            preferred_language=user.preferred_language,
        ),
        organisation=MeOrganisationOut(
            id=org.pk, name=org.name, kind=org.kind, verification_status=org.verification_status
        )
        if org is not None
        else None,
        capabilities=sorted(scope.membership.capabilities) if scope.membership is not None else [],
    )


@router.get("/tokens", response={200: list[TokenOut], **ERRORS}, summary="Your personal access tokens")
def list_tokens(request: HttpRequest) -> list[TokenOut]:
    """Requires `tokens.manage`. Lists the caller's tokens (all organisations); never a secret or digest."""
    scope_for(request).require(Capability.TOKENS_MANAGE)
    tokens = ApiToken.objects.filter(user=acting_user(request)).select_related("organisation")
    return [token_out(t) for t in tokens]


@router.post(
    "/tokens",
    response={201: TokenCreatedOut, 400: ErrorOut, **ERRORS},
    summary="Issue a personal access token for the active organisation",
)
def create_token(request: HttpRequest, payload: TokenCreateIn) -> Status:
    """Requires `tokens.manage`. The secret is in this answer only."""
    org = scope_for(request).require(Capability.TOKENS_MANAGE)
    days = payload.expires_in_days
    token, secret = issue_api_token(
        user=acting_user(request),
        organisation=org,
        name=payload.name,
        expires_at=timezone.now() + dt.timedelta(days=days) if days else None,
    )
    return Status(201, TokenCreatedOut(secret=secret, token=token_out(token)))


@router.post(
    "/tokens/{id}/revoke",
    response={200: TokenOut, 404: ErrorOut, **ERRORS},
    summary="Revoke one of your tokens",
)
def revoke_token(request: HttpRequest, id: int = Path(..., ge=1, le=MAX_ID)) -> TokenOut:
    """Requires `tokens.manage`. Revoking an already revoked token changes nothing."""
    scope_for(request).require(Capability.TOKENS_MANAGE)
    user = acting_user(request)
    token = ApiToken.objects.filter(user=user, pk=id).select_related("organisation").first()
    if token is None:
        raise NotFound()
    return token_out(revoke_api_token(token=token, actor=user))
