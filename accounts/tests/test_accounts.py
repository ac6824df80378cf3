"""Accounts: registration, login (phone or e-mail, throttled by axes), logout, profile, API tokens, org switch.

Pages are driven through the test client as a person would use them; anything stored is checked in the
database. Requests send ``Accept-Language: en`` so that messages can be compared whatever the state of the
zh_Hans catalog.
"""

# ruff: noqa: F811  (the shared ``world`` fixture is imported, then requested by name)
from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from accounts.models import ApiToken, User
from accounts.phone import looks_like_phone, normalise_phone
from accounts.services import authenticate_api_token, create_user
from audit.models import AuditRecord
from core.errors import Conflict, DomainError
from core.testing import PASSWORD, VALID_USCC, World, make_user, world  # noqa: F401
from organisations.capabilities import OWNER_CAPABILITIES, OrgKind, OrgSubkind
from organisations.middleware import SESSION_KEY
from organisations.models import MemberRole, Membership, OPCProfile, Organisation, VerificationStatus
from organisations.services import create_organisation

NEW_PASSWORD = "Lantern-harbour-2026"
REGISTER_URL = "/accounts/register/"
LOGIN_URL = "/accounts/login/"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def register_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "display_name": "张三",
        "phone": "13900139000",
        "email": "zhangsan@example.cn",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
        "kind": OrgKind.OPC,
        "subkind": "",
        "organisation_name": "张三AI短剧工作室",
        "uscc": "",
        "home_community": "",
        "accept_terms": "on",
    }
    data.update(overrides)
    return data


def counts() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        Organisation.objects.count(),
        Membership.objects.count(),
        AuditRecord.objects.count(),
    )


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def form_errors(response, field: str = "__all__") -> str:
    with translation.override("en"):
        return " ".join(str(e) for e in response.context["form"].errors.get(field, []))


# --------------------------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------------------------


def test_register_page_renders(client: Client, world: World) -> None:
    response = client.get(REGISTER_URL)
    assert response.status_code == 200
    assert world.community.name in response.content.decode()


def test_opc_registration_joining_a_community_creates_everything_and_logs_in(
    client: Client, world: World
) -> None:
    response = client.post(REGISTER_URL, register_data(home_community=world.community.pk))

    assert response.status_code == 302
    assert response["Location"] == reverse("core:dashboard")
    user = User.objects.get(phone="13900139000")
    assert user.email == "zhangsan@example.cn"
    assert user.display_name == "张三"
    assert user.check_password(NEW_PASSWORD)
    org = Organisation.objects.get(name="张三AI短剧工作室")
    assert org.kind == OrgKind.OPC
    assert org.verification_status == VerificationStatus.PENDING
    assert org.home_community == world.community
    assert org.city == world.community.city
    membership = Membership.objects.get(user=user, organisation=org)
    assert membership.role == MemberRole.OWNER
    assert membership.capabilities == [str(c) for c in OWNER_CAPABILITIES[OrgKind.OPC]]
    profile = OPCProfile.objects.get(organisation=org)
    assert profile.founder_name == "张三"
    record = AuditRecord.objects.get(action="organisation.created", organisation=org)
    assert record.actor == user
    assert record.changes["kind"] == OrgKind.OPC
    assert record.changes["community"] == world.community.pk
    # logged in, with the new organisation active
    assert logged_in_user_id(client) == str(user.pk)
    assert client.session[SESSION_KEY] == org.pk
    # the new member is in its operator's verification queue
    assert org in Organisation.objects.filter(home_community__operator=world.operator)


def test_registration_without_community_is_unverified(client: Client, world: World) -> None:
    response = client.post(REGISTER_URL, register_data())
    assert response.status_code == 302
    org = Organisation.objects.get(name="张三AI短剧工作室")
    assert org.verification_status == VerificationStatus.UNVERIFIED
    assert org.home_community is None


def test_registration_with_phone_only(client: Client, db: None) -> None:
    response = client.post(REGISTER_URL, register_data(email=""))
    assert response.status_code == 302
    user = User.objects.get(phone="13900139000")
    assert user.email is None
    assert logged_in_user_id(client) == str(user.pk)


def test_registration_with_email_only(client: Client, db: None) -> None:
    response = client.post(REGISTER_URL, register_data(phone="", email="Only.Mail@Example.cn"))
    assert response.status_code == 302
    user = User.objects.get(email="only.mail@example.cn")
    assert user.phone is None


def test_registration_needs_a_phone_or_an_email(client: Client, db: None) -> None:
    before = counts()
    response = client.post(REGISTER_URL, register_data(phone="", email=""))
    assert response.status_code == 200
    assert "Enter a mobile number or an e-mail address." in form_errors(response)
    assert counts() == before
    assert logged_in_user_id(client) is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "+86 138-0013-8000", "This mobile number is already registered"),
        ("email", "OPC@Example.cn", "This e-mail address is already registered"),
    ],
)
def test_registration_with_a_taken_login_is_refused_and_creates_nothing(
    client: Client, world: World, field: str, value: str, message: str
) -> None:
    before = counts()
    data = register_data(home_community=world.community.pk, **{field: value})
    response = client.post(REGISTER_URL, data)
    assert response.status_code == 200
    assert message in form_errors(response)
    assert counts() == before
    assert not Organisation.objects.filter(name="张三AI短剧工作室").exists()
    assert logged_in_user_id(client) is None


def test_registration_with_a_taken_uscc_rolls_back_the_new_user(client: Client, world: World) -> None:
    create_organisation(
        kind=OrgKind.OPC, name="已有公司", owner=make_user("existing"), actor=None, uscc=VALID_USCC[0]
    )
    before = counts()
    response = client.post(REGISTER_URL, register_data(uscc=VALID_USCC[0]))
    assert response.status_code == 200
    assert "unified social credit code is already registered" in form_errors(response)
    assert counts() == before
    assert not User.objects.filter(phone="13900139000").exists()


def test_registration_password_mismatch(client: Client, db: None) -> None:
    response = client.post(REGISTER_URL, register_data(password_again=NEW_PASSWORD + "x"))
    assert response.status_code == 200
    assert "The two passwords differ." in form_errors(response, "password_again")
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    "weak",
    [
        "12345678",  # numeric and common
        "short1!",  # shorter than 8
        "password",  # common
        "zhangsan@example",  # too similar to the e-mail address
    ],
)
def test_registration_weak_password_is_refused_by_django_validators(
    client: Client, db: None, weak: str
) -> None:
    response = client.post(REGISTER_URL, register_data(password=weak, password_again=weak))
    assert response.status_code == 200
    assert form_errors(response, "password")
    assert User.objects.count() == 0
    assert Organisation.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_registration_invalid_uscc(client: Client, db: None) -> None:
    response = client.post(REGISTER_URL, register_data(uscc="91330203MA2GXXXX08"))  # wrong check character
    assert response.status_code == 200
    assert "not a valid unified social credit code" in form_errors(response, "uscc")
    assert User.objects.count() == 0


def test_registration_normalises_uscc(client: Client, db: None) -> None:
    response = client.post(REGISTER_URL, register_data(uscc=" 91330203-ma2gxxxx07 "))
    assert response.status_code == 302
    assert Organisation.objects.get(name="张三AI短剧工作室").uscc == VALID_USCC[0]


def test_registration_normalises_the_phone_number(client: Client, db: None) -> None:
    response = client.post(REGISTER_URL, register_data(phone="+86 138-0013-8000", email=""))
    assert response.status_code == 302
    assert User.objects.get().phone == "13800138000"


def test_registration_invalid_phone(client: Client, db: None) -> None:
    response = client.post(REGISTER_URL, register_data(phone="12345"))
    assert response.status_code == 200
    assert "11-digit mainland China mobile number" in form_errors(response, "phone")
    assert User.objects.count() == 0


@pytest.mark.parametrize("kind", [OrgKind.OPERATOR, OrgKind.AUTHORITY])
def test_operator_and_authority_cannot_be_registered(client: Client, db: None, kind: str) -> None:
    page = client.get(REGISTER_URL).content.decode()
    assert f'value="{OrgKind.OPC}"' in page
    assert f'value="{kind}"' not in page
    response = client.post(REGISTER_URL, register_data(kind=kind))
    assert response.status_code == 200
    assert form_errors(response, "kind")
    assert User.objects.count() == 0
    assert Organisation.objects.count() == 0


def test_client_registration_needs_a_fitting_subkind(client: Client, db: None) -> None:
    response = client.post(REGISTER_URL, register_data(kind=OrgKind.CLIENT, subkind=OrgSubkind.LAW_FIRM))
    assert response.status_code == 200
    assert "Choose the type that fits." in form_errors(response, "subkind")
    assert Organisation.objects.count() == 0

    response = client.post(REGISTER_URL, register_data(kind=OrgKind.CLIENT, subkind=OrgSubkind.GOVERNMENT))
    assert response.status_code == 302
    org = Organisation.objects.get()
    assert (org.kind, org.subkind) == (OrgKind.CLIENT, OrgSubkind.GOVERNMENT)
    assert Membership.objects.get(organisation=org).capabilities == [
        str(c) for c in OWNER_CAPABILITIES["client"]
    ]
    assert not OPCProfile.objects.exists()


def test_registration_requires_accepting_the_terms(client: Client, db: None) -> None:
    data = register_data()
    del data["accept_terms"]
    response = client.post(REGISTER_URL, data)
    assert response.status_code == 200
    assert form_errors(response, "accept_terms")
    assert User.objects.count() == 0


def test_logged_in_person_is_sent_from_register_to_dashboard(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.get(REGISTER_URL)
    assert response.status_code == 302
    assert response["Location"] == reverse("core:dashboard")


def test_create_user_service_refuses_duplicates_and_missing_fields(db: None) -> None:
    make_user("taken", email="taken@example.cn", phone="13700137000")
    with pytest.raises(Conflict):
        create_user(display_name="x", password=NEW_PASSWORD, email="TAKEN@example.cn", phone=None)
    with pytest.raises(Conflict):
        create_user(display_name="x", password=NEW_PASSWORD, email=None, phone="137 0013 7000")
    with pytest.raises(DomainError):
        create_user(display_name="x", password=NEW_PASSWORD, email=None, phone=None)
    with pytest.raises(DomainError):
        create_user(display_name="  ", password=NEW_PASSWORD, email="new@example.cn", phone=None)
    with pytest.raises(ValidationError):
        create_user(display_name="x", password="123", email="new@example.cn", phone=None)
    assert User.objects.count() == 1


# --------------------------------------------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+86 138-0013-8000",
        "+8613800138000",
        "0086 138 0013 8000",
        "(138) 0013 8000",
        " 138 0013 8000 ",
    ],
)
def test_normalise_phone_accepts_common_spellings(raw: str) -> None:
    assert normalise_phone(raw) == "13800138000"


@pytest.mark.parametrize("raw", ["", "12800138000", "1380013800", "138001380001", "+1 415 555 0100", "abc"])
def test_normalise_phone_refuses_non_mainland_mobiles(raw: str) -> None:
    with pytest.raises(ValidationError):
        normalise_phone(raw)


def test_looks_like_phone() -> None:
    assert looks_like_phone("13800138000")
    assert not looks_like_phone("opc@example.cn")


# --------------------------------------------------------------------------------------------------------------
# Login, throttling, password hashing, logout
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["13800138000", "+86 138-0013-8000", "opc@example.cn", "OPC@Example.CN"])
def test_login_by_phone_or_email(client: Client, world: World, login: str) -> None:
    response = client.post(LOGIN_URL, {"login": login, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("core:dashboard")
    assert logged_in_user_id(client) == str(world.opc_user.pk)
    assert response.cookies["django_language"].value == world.opc_user.preferred_language


def test_login_follows_a_local_next_but_not_a_foreign_one(client: Client, world: World) -> None:
    response = client.post(
        LOGIN_URL, {"login": "opc@example.cn", "password": PASSWORD, "next": "/accounts/profile/"}
    )
    assert response["Location"] == "/accounts/profile/"
    client.logout()
    response = client.post(
        LOGIN_URL, {"login": "opc@example.cn", "password": PASSWORD, "next": "https://evil.example.com/"}
    )
    assert response["Location"] == reverse("core:dashboard")


@pytest.mark.parametrize("login", ["13800138000", "opc@example.cn", "nobody@example.cn", "13999999999"])
def test_wrong_password_or_unknown_login_shows_an_error_and_no_session(
    client: Client, world: World, login: str
) -> None:
    response = client.post(LOGIN_URL, {"login": login, "password": "not-the-password"})
    assert response.status_code == 200
    assert "The login or the password is wrong." in response.content.decode()
    assert logged_in_user_id(client) is None


def test_inactive_user_cannot_log_in(client: Client, world: World) -> None:
    User.objects.filter(pk=world.opc_user.pk).update(is_active=False)
    response = client.post(LOGIN_URL, {"login": "opc@example.cn", "password": PASSWORD})
    assert response.status_code == 200
    assert logged_in_user_id(client) is None


def _fail(client: Client, login: str, times: int) -> list[int]:
    return [
        client.post(LOGIN_URL, {"login": login, "password": "wrong-password"}).status_code
        for _ in range(times)
    ]


def test_login_is_locked_after_five_failures_even_with_the_right_password(
    client: Client, world: World
) -> None:
    # Failures 1-4 show the form again; the 5th reaches AXES_FAILURE_LIMIT and is answered by the lockout page.
    assert _fail(client, "13800138000", 4) == [200, 200, 200, 200]
    fifth = client.post(LOGIN_URL, {"login": "13800138000", "password": "wrong-password"})
    assert fifth.status_code == 429
    response = client.post(LOGIN_URL, {"login": "13800138000", "password": PASSWORD})
    # django-axes answers a lockout with AXES_LOCKOUT_TEMPLATE and AXES_HTTP_RESPONSE_CODE (429 by default)
    assert response.status_code == 429
    assert "accounts/locked_out.html" in [t.name for t in response.templates]
    assert logged_in_user_id(client) is None
    # other people are not affected
    other = client.post(LOGIN_URL, {"login": "client@example.cn", "password": PASSWORD})
    assert other.status_code == 302
    assert logged_in_user_id(client) == str(world.client_user.pk)


def test_lockout_cannot_be_bypassed_by_spelling_the_login_differently(client: Client, world: World) -> None:
    """The lockout counts the person, not the spelling: "+86 138 0013 8000" and "OPC@example.cn" are the same
    logins as "13800138000" and "opc@example.cn" for authentication, so they must be for throttling too."""
    _fail(client, "13800138000", 5)
    response = client.post(LOGIN_URL, {"login": "+86 138 0013 8000", "password": PASSWORD})
    assert response.status_code == 429
    assert logged_in_user_id(client) is None

    _fail(client, "opc@example.cn", 5)
    response = client.post(LOGIN_URL, {"login": "OPC@example.cn", "password": PASSWORD})
    assert response.status_code == 429
    assert logged_in_user_id(client) is None


def test_successful_login_resets_the_failure_count(client: Client, world: World) -> None:
    _fail(client, "opc@example.cn", 4)
    assert client.post(LOGIN_URL, {"login": "opc@example.cn", "password": PASSWORD}).status_code == 302
    client.logout()
    assert _fail(client, "opc@example.cn", 4) == [200, 200, 200, 200]


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"])
def test_passwords_are_hashed_with_argon2(client: Client, db: None) -> None:
    response = client.post(REGISTER_URL, register_data())
    assert response.status_code == 302
    user = User.objects.get()
    assert user.password.startswith("argon2$")
    assert NEW_PASSWORD not in user.password
    assert check_password(NEW_PASSWORD, user.password)
    client.logout()
    assert client.post(LOGIN_URL, {"login": "13900139000", "password": NEW_PASSWORD}).status_code == 302


def test_argon2_is_the_production_hasher() -> None:
    from django.conf import settings

    # Tests put MD5 first for speed; outside tests the first (hashing) entry is argon2.
    production = [h for h in settings.PASSWORD_HASHERS if not h.endswith("MD5PasswordHasher")]
    assert production[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_logout_is_post_only(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.get("/accounts/logout/")
    assert response.status_code == 405
    assert logged_in_user_id(client) == str(world.opc_user.pk)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == reverse("core:home")
    assert logged_in_user_id(client) is None


# --------------------------------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------------------------------


def test_profile_requires_login(client: Client, db: None) -> None:
    response = client.get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_profile_page_shows_masked_login_and_memberships(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    page = client.get("/accounts/profile/").content.decode()
    assert "138****8000" in page
    assert "13800138000" not in page
    assert world.opc.name in page


def test_profile_updates_name_and_language(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post("/accounts/profile/", {"display_name": " 刘十万 ", "preferred_language": "en"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "en"
    world.opc_user.refresh_from_db()
    assert world.opc_user.display_name == "刘十万"
    assert world.opc_user.preferred_language == "en"
    record = AuditRecord.objects.get(action="user.updated")
    assert record.actor == world.opc_user
    assert record.changes == {"display_name": ["opc", "刘十万"], "preferred_language": ["zh-hans", "en"]}


def test_profile_refuses_an_empty_name_and_an_unknown_language(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post("/accounts/profile/", {"display_name": "", "preferred_language": "fr"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"display_name", "preferred_language"}
    world.opc_user.refresh_from_db()
    assert world.opc_user.display_name == "opc"
    assert not AuditRecord.objects.filter(action="user.updated").exists()


def test_profile_save_without_changes_writes_no_audit_record(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post("/accounts/profile/", {"display_name": "opc", "preferred_language": "zh-hans"})
    assert response.status_code == 302
    assert not AuditRecord.objects.filter(action="user.updated").exists()


# --------------------------------------------------------------------------------------------------------------
# API tokens
# --------------------------------------------------------------------------------------------------------------


def test_token_page_shows_the_secret_once_and_revoke_works(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    assert client.get("/accounts/tokens/").status_code == 200

    response = client.post("/accounts/tokens/", {"name": "CI script", "expires_in_days": "90"})
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("opc_")
    assert secret in response.content.decode()
    token = ApiToken.objects.get(user=world.opc_user)
    assert token.name == "CI script"
    assert token.organisation == world.opc
    assert token.expires_at is not None
    # only a digest is stored
    assert token.digest == ApiToken.digest_of(secret)
    assert token.prefix == secret[:10]
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert AuditRecord.objects.filter(action="api_token.issued", organisation=world.opc).exists()
    assert authenticate_api_token(secret) == token

    second = client.get("/accounts/tokens/")
    assert second.status_code == 200
    assert secret not in second.content.decode()
    assert token.prefix in second.content.decode()

    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert authenticate_api_token(secret) is None
    assert AuditRecord.objects.filter(action="api_token.revoked", actor=world.opc_user).exists()


def test_token_that_never_expires(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    client.post("/accounts/tokens/", {"name": "forever", "expires_in_days": "0"})
    assert ApiToken.objects.get(user=world.opc_user).expires_at is None


def test_token_needs_a_name(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post("/accounts/tokens/", {"name": "", "expires_in_days": "30"})
    assert response.status_code == 200
    assert response.context["secret"] is None
    assert not ApiToken.objects.exists()


def test_someone_elses_token_cannot_be_revoked(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post("/accounts/tokens/", {"name": "mine", "expires_in_days": "30"})
    token = ApiToken.objects.get(user=world.opc_user)
    assert response.status_code == 200
    client.force_login(world.other_opc_user)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_pages_need_login(client: Client, db: None) -> None:
    response = client.get("/accounts/tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# --------------------------------------------------------------------------------------------------------------
# Switching the active organisation
# --------------------------------------------------------------------------------------------------------------


def test_switch_to_a_foreign_organisation_is_not_found(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post("/accounts/switch/", {"organisation": str(world.other_opc.pk)})
    assert response.status_code == 404
    assert SESSION_KEY not in client.session
    assert client.post("/accounts/switch/", {"organisation": "abc"}).status_code == 404


@pytest.mark.parametrize("value", ["", "-1", "1.0", "²", "99999999999999999999999"])
def test_switch_with_a_malformed_organisation_is_not_found(client: Client, world: World, value: str) -> None:
    """Anything that is not one of the person's organisation ids is "not found", never a server error
    ("²".isdigit() is True but int("²") fails)."""
    client.force_login(world.opc_user)
    response = client.post("/accounts/switch/", {"organisation": value})
    assert response.status_code == 404
    assert SESSION_KEY not in client.session


def test_switch_between_own_organisations(client: Client, world: World) -> None:
    second = create_organisation(
        kind=OrgKind.CLIENT,
        subkind=OrgSubkind.ENTERPRISE,
        name="第二家公司",
        owner=world.opc_user,
        actor=None,
    )
    client.force_login(world.opc_user)
    response = client.post("/accounts/switch/", {"organisation": str(second.pk)})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == second.pk
    # the active organisation now decides what the person may do: tokens are issued for it
    client.post("/accounts/tokens/", {"name": "for the client", "expires_in_days": "30"})
    assert ApiToken.objects.get(user=world.opc_user).organisation == second


def test_switch_is_post_only(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    assert client.get("/accounts/switch/").status_code == 405


def test_messages_after_logout(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post("/accounts/logout/")
    with translation.override("en"):
        assert [str(m) for m in get_messages(response.wsgi_request)] == ["You have logged out."]
