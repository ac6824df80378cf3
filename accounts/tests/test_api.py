"""API: authentication (personal access tokens and the session with CSRF), /me and token management."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.services import issue_api_token, revoke_api_token
from audit.models import AuditRecord
from core import testing
from core.testing import PASSWORD, World
from organisations.capabilities import Capability
from organisations.models import Membership, Organisation

world = testing.world  # the shared test world fixture (core/testing.py)

ME = "/api/accounts/me"
TOKENS = "/api/accounts/tokens"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def bearer(user: User, organisation: Organisation) -> dict[str, str]:
    _token, secret = issue_api_token(user=user, organisation=organisation, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}", **EN}


def drop_capability(user: User, organisation: Organisation, capability: Capability) -> None:
    membership = Membership.objects.get(user=user, organisation=organisation)
    membership.capabilities = [c for c in membership.capabilities if c != capability]
    membership.save()


# -- authentication ------------------------------------------------------------------------------------------


def test_anonymous_gets_401_with_a_message(client: Client, world: World) -> None:
    response = client.get(ME, **EN)
    assert response.status_code == 401
    assert "Authentication required" in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nonsense",
        "Bearer opc_" + "x" * 43,
        "Bearer ",
        "Bearer " + "opc_" + "y" * 200,
        "Basic b3BjOnNlY3JldA==",
        "opc_abc",
    ],
)
def test_garbage_tokens_get_401(client: Client, world: World, header: str) -> None:
    response = client.get(ME, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_revoked_token_gets_401(client: Client, world: World) -> None:
    token, secret = issue_api_token(user=world.opc_user, organisation=world.opc, name="laptop")
    assert client.get(ME, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    revoke_api_token(token=token, actor=world.opc_user)
    assert client.get(ME, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_expired_token_gets_401(client: Client, world: World) -> None:
    token, secret = issue_api_token(
        user=world.opc_user,
        organisation=world.opc,
        name="short",
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(ME, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_token_of_a_deactivated_user_or_a_lost_membership_gets_401(client: Client, world: World) -> None:
    headers = bearer(world.opc_user, world.opc)
    User.objects.filter(pk=world.opc_user.pk).update(is_active=False)
    assert client.get(ME, **headers).status_code == 401

    headers = bearer(world.client_user, world.client)
    Membership.objects.filter(user=world.client_user).delete()
    assert client.get(ME, **headers).status_code == 401


def test_revoked_token_cannot_write_either(client: Client, world: World) -> None:
    token, secret = issue_api_token(user=world.opc_user, organisation=world.opc, name="old")
    revoke_api_token(token=token, actor=world.opc_user)
    before = ApiToken.objects.count()
    response = client.post(
        TOKENS, {"name": "new"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 401
    assert ApiToken.objects.count() == before


def test_only_the_digest_is_stored(client: Client, world: World) -> None:
    token, secret = issue_api_token(user=world.opc_user, organisation=world.opc, name="ci")
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert secret not in {str(v) for v in row.values()}
    assert all(secret not in str(v) for v in row.values())
    assert row["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert len(row["prefix"]) < len(secret)

    listing = client.get(TOKENS, HTTP_AUTHORIZATION=f"Bearer {secret}").content.decode()
    assert secret not in listing
    assert row["digest"] not in listing
    assert "digest" not in listing


def test_token_acts_in_its_own_organisation(client: Client, world: World) -> None:
    response = client.get(ME, **bearer(world.operator_user, world.operator))
    assert response.status_code == 200
    assert response.json()["organisation"]["id"] == world.operator.pk


def test_token_client_without_accept_language_gets_its_users_language(client: Client, world: World) -> None:
    from django.utils import translation

    user = world.opc_user
    _token, secret = issue_api_token(user=user, organisation=world.opc, name="lang")
    missing = "/api/accounts/tokens/999999/revoke"
    answers = {}
    for language in ("en", "zh-hans"):
        User.objects.filter(pk=user.pk).update(preferred_language=language)
        response = client.post(missing, HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 404
        answers[language] = response.json()["detail"]
    assert answers["en"] != answers["zh-hans"]
    with translation.override("zh-hans"):
        # An explicit Accept-Language wins over the stored preference.
        response = client.post(missing, HTTP_AUTHORIZATION=f"Bearer {secret}", **EN)
    assert response.json()["detail"] == answers["en"]


# -- session auth and CSRF --------------------------------------------------------------------------------


def test_session_auth_reads_without_csrf(world: World) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.opc_user)
    response = browser.get(ME)
    assert response.status_code == 200
    assert response.json()["user"]["id"] == world.opc_user.pk


def test_session_post_without_csrf_token_is_403_and_changes_nothing(world: World) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.opc_user)
    response = browser.post(TOKENS, {"name": "sneaky"}, content_type="application/json")
    assert response.status_code == 403
    assert not ApiToken.objects.filter(name="sneaky").exists()


def test_session_post_with_csrf_token_works(world: World) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.opc_user)
    assert browser.get("/accounts/tokens/").status_code == 200  # sets the csrftoken cookie
    csrf = browser.cookies["csrftoken"].value
    response = browser.post(
        TOKENS, {"name": "from the browser"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert response.status_code == 201
    assert ApiToken.objects.filter(name="from the browser", user=world.opc_user).exists()


def test_bearer_token_needs_no_csrf(world: World) -> None:
    api_client = Client(enforce_csrf_checks=True)
    response = api_client.post(
        TOKENS, {"name": "script"}, content_type="application/json", **bearer(world.opc_user, world.opc)
    )
    assert response.status_code == 201


# -- /me -----------------------------------------------------------------------------------------------------


def test_me(client: Client, world: World) -> None:
    response = client.get(ME, **bearer(world.opc_user, world.opc))
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {
        "id": world.opc_user.pk,
        "display_name": "opc",
        "login": "138****8000",
        "preferred_language": "zh-hans",
    }
    assert body["organisation"] == {
        "id": world.opc.pk,
        "name": world.opc.name,
        "kind": "opc",
        "verification_status": "pending",
    }
    assert set(body["capabilities"]) == {"org.manage", "tokens.manage", "ledger.view"}
    assert "13800138000" not in response.content.decode()


def test_me_of_a_user_without_organisation(client: Client, world: World) -> None:
    loner = User.objects.create_user(email="loner@example.cn", password=PASSWORD, display_name="loner")
    client.force_login(loner)
    body = client.get(ME).json()
    assert body["organisation"] is None
    assert body["capabilities"] == []
    assert body["user"]["login"] == "lo***@example.cn"
    assert client.get(TOKENS).status_code == 403


# -- tokens ---------------------------------------------------------------------------------------------------


def test_list_tokens_shows_only_own(client: Client, world: World) -> None:
    issue_api_token(user=world.other_opc_user, organisation=world.other_opc, name="someone else's")
    issue_api_token(user=world.opc_user, organisation=world.opc, name="mine")
    response = client.get(TOKENS, **bearer(world.opc_user, world.opc))
    assert response.status_code == 200
    names = {t["name"] for t in response.json()}
    assert names == {"mine", "test"}
    first = response.json()[0]
    assert set(first) == {
        "id",
        "name",
        "prefix",
        "organisation_id",
        "organisation_name",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "usable",
    }


def test_create_token_returns_the_secret_once(client: Client, world: World) -> None:
    headers = bearer(world.opc_user, world.opc)
    response = client.post(
        TOKENS, {"name": "deploy", "expires_in_days": 30}, content_type="application/json", **headers
    )
    assert response.status_code == 201
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("opc_")
    assert body["token"]["name"] == "deploy"
    assert body["token"]["organisation_id"] == world.opc.pk
    assert body["token"]["usable"] is True
    expires = dt.datetime.fromisoformat(body["token"]["expires_at"])
    assert dt.timedelta(days=29) < expires - timezone.now() <= dt.timedelta(days=30)
    token = ApiToken.objects.get(pk=body["token"]["id"])
    assert token.digest == ApiToken.digest_of(secret)
    # the new secret works, and the listing never shows it again
    assert client.get(ME, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    assert secret not in client.get(TOKENS, **headers).content.decode()
    assert AuditRecord.objects.filter(action="api_token.issued", object_id=str(token.pk)).exists()


def test_create_token_never_expiring(client: Client, world: World) -> None:
    response = client.post(
        TOKENS,
        {"name": "forever", "expires_in_days": 0},
        content_type="application/json",
        **bearer(world.opc_user, world.opc),
    )
    assert response.status_code == 201
    assert response.json()["token"]["expires_at"] is None


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"name": "x", "expires_in_days": 7}, 422),
        ({"name": "x", "expires_in_days": "soon"}, 422),
        ({"name": ""}, 422),
        ({"name": "x" * 81}, 422),
        ({"name": 123}, 422),
        ({"expires_in_days": 30}, 422),
        ({"name": "   "}, 400),
    ],
)
def test_create_token_rejects_bad_input(client: Client, world: World, payload: dict, status: int) -> None:
    headers = bearer(world.opc_user, world.opc)
    before = ApiToken.objects.count()
    response = client.post(TOKENS, payload, content_type="application/json", **headers)
    assert response.status_code == status
    assert response.json()["detail"]
    assert ApiToken.objects.count() == before


def test_create_token_with_malformed_json_is_4xx(client: Client, world: World) -> None:
    headers = bearer(world.opc_user, world.opc)
    before = ApiToken.objects.count()
    response = client.post(TOKENS, "{not json", content_type="application/json", **headers)
    assert 400 <= response.status_code < 500
    assert ApiToken.objects.count() == before


def test_token_endpoints_need_the_capability(client: Client, world: World) -> None:
    headers = bearer(world.opc_user, world.opc)
    drop_capability(world.opc_user, world.opc, Capability.TOKENS_MANAGE)
    before = ApiToken.objects.count()
    assert client.get(TOKENS, **headers).status_code == 403
    response = client.post(TOKENS, {"name": "x"}, content_type="application/json", **headers)
    assert response.status_code == 403
    assert "permission" in response.json()["detail"]
    assert ApiToken.objects.count() == before
    # /me still works: it needs no capability
    assert client.get(ME, **headers).status_code == 200


def test_revoke_own_token(client: Client, world: World) -> None:
    headers = bearer(world.opc_user, world.opc)
    token, secret = issue_api_token(user=world.opc_user, organisation=world.opc, name="old laptop")
    response = client.post(f"{TOKENS}/{token.pk}/revoke", **headers)
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert response.json()["usable"] is False
    assert client.get(ME, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    # revoking again changes nothing
    revoked_at = ApiToken.objects.get(pk=token.pk).revoked_at
    assert client.post(f"{TOKENS}/{token.pk}/revoke", **headers).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).revoked_at == revoked_at


def test_cannot_revoke_someone_elses_token(client: Client, world: World) -> None:
    theirs, their_secret = issue_api_token(user=world.other_opc_user, organisation=world.other_opc, name="x")
    response = client.post(f"{TOKENS}/{theirs.pk}/revoke", **bearer(world.opc_user, world.opc))
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert client.get(ME, HTTP_AUTHORIZATION=f"Bearer {their_secret}").status_code == 200


@pytest.mark.parametrize(
    ("token_id", "status"), [("999999", 404), ("abc", 422), ("0", 422), (str(10**30), 422)]
)
def test_revoke_unknown_or_malformed_ids(client: Client, world: World, token_id: str, status: int) -> None:
    response = client.post(f"{TOKENS}/{token_id}/revoke", **bearer(world.opc_user, world.opc))
    assert response.status_code == status
    assert response.json()["detail"]
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()


def test_wrong_method_is_405(client: Client, world: World) -> None:
    headers = bearer(world.opc_user, world.opc)
    assert client.delete(TOKENS, **headers).status_code == 405
    assert client.post(ME, **headers).status_code == 405
