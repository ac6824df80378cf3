"""Core: settings read from the environment (fail fast, naming the variable), error pages and the domain-error
middleware, upload checks, the shared test world, and the demo data."""

# ruff: noqa: F811  (the shared ``world`` fixture is imported, then requested by name)
from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings
from PIL import Image
from stdnum.cn import ric, uscc

from accounts.models import User
from audit.models import AuditRecord
from communities.models import Community, Residency, Workstation
from core.demo import DEMO_PASSWORD, demo_logins, load_demo
from core.domain_errors import DomainErrorMiddleware
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from core.testing import VALID_RESIDENT_ID, VALID_USCC, World, world  # noqa: F401
from core.uploads import check_image, check_size
from core.views import server_error
from opchub import env
from organisations.capabilities import SUBKINDS_BY_KIND, OrgKind, OrgSubkind
from organisations.models import Membership, Organisation, VerificationStatus


def template_names(response) -> list[str]:
    return [t.name for t in response.templates]


# --------------------------------------------------------------------------------------------------------------
# opchub.env
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("Yes", True),
        (" on ", True),
        ("true", True),
        ("0", False),
        ("no", False),
        ("OFF", False),
        ("", False),
    ],
)
def test_boolean_spellings(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("OPCHUB_TEST_FLAG", raw)
    assert env.boolean("OPCHUB_TEST_FLAG", not expected) is expected


def test_boolean_default_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPCHUB_TEST_FLAG", raising=False)
    assert env.boolean("OPCHUB_TEST_FLAG", True) is True
    assert env.boolean("OPCHUB_TEST_FLAG", False) is False


def test_bad_boolean_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPCHUB_TEST_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="OPCHUB_TEST_FLAG") as excinfo:
        env.boolean("OPCHUB_TEST_FLAG", False)
    assert "maybe" in str(excinfo.value)


def test_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPCHUB_TEST_NUMBER", "42")
    assert env.integer("OPCHUB_TEST_NUMBER", 7) == 42
    monkeypatch.setenv("OPCHUB_TEST_NUMBER", "  ")
    assert env.integer("OPCHUB_TEST_NUMBER", 7) == 7
    monkeypatch.delenv("OPCHUB_TEST_NUMBER")
    assert env.integer("OPCHUB_TEST_NUMBER", 7) == 7
    for bad in ("4.5", "ten", "0x10"):
        monkeypatch.setenv("OPCHUB_TEST_NUMBER", bad)
        with pytest.raises(ImproperlyConfigured, match="OPCHUB_TEST_NUMBER"):
            env.integer("OPCHUB_TEST_NUMBER", 7)


def test_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPCHUB_TEST_HOSTS", " a.example.cn, ,b.example.cn ")
    assert env.listing("OPCHUB_TEST_HOSTS", ["x"]) == ["a.example.cn", "b.example.cn"]
    monkeypatch.delenv("OPCHUB_TEST_HOSTS")
    assert env.listing("OPCHUB_TEST_HOSTS", ["x"]) == ["x"]


@pytest.mark.parametrize("url", ["mysql://u:p@db/opchub", "oracle://db/x", "redis://localhost", "opchub"])
def test_database_url_with_an_unsupported_scheme_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        env.database(Path("/nonexistent"))


def test_database_url_postgres_and_default_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://opc:secret@db.example.cn:5433/opchub")
    config = env.database(tmp_path)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["HOST"], config["PORT"]) == (
        "opchub",
        "opc",
        "db.example.cn",
        5433,
    )
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("OPCHUB_VAR_DIR", str(tmp_path / "var"))
    config = env.database(tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == tmp_path / "var" / "opchub.sqlite3"
    assert (tmp_path / "var").is_dir()


def test_redis_url_scheme_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "http://cache")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        env.caches()
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert env.caches()["default"]["LOCATION"] == "redis://127.0.0.1:6379/0"
    monkeypatch.delenv("REDIS_URL")
    assert "LocMemCache" in env.caches()["default"]["BACKEND"]


def test_secret_key_is_not_generated_unless_allowed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        env.secret_key(tmp_path, allow_generate=False)
    assert not (tmp_path / "secret_key").exists()


def test_secret_key_generated_once_when_allowed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    var_dir = tmp_path / "var"
    key = env.secret_key(var_dir, allow_generate=True)
    assert len(key) >= 50
    key_file = var_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert env.secret_key(var_dir, allow_generate=True) == key


def test_secret_key_from_the_environment_or_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SECRET_KEY", "too-short")
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        env.secret_key(tmp_path, allow_generate=True)
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    assert env.secret_key(tmp_path, allow_generate=False) == "k" * 40
    monkeypatch.delenv("SECRET_KEY")
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file-" + "f" * 40 + "\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(key_file))
    assert env.secret_key(tmp_path, allow_generate=False) == "from-a-file-" + "f" * 40
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY_FILE"):
        env.secret_key(tmp_path, allow_generate=False)


def test_secret_key_file_must_not_be_empty_or_short(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A SECRET_KEY_FILE gets the same length check as SECRET_KEY: an empty file must not start the site."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    for content in ("", "\n", "short"):
        key_file = tmp_path / "key"
        key_file.write_text(content)
        monkeypatch.setenv("SECRET_KEY_FILE", str(key_file))
        with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
            env.secret_key(tmp_path, allow_generate=False)


def _import_settings(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    """Import opchub.settings in a fresh interpreter with a controlled environment."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"OPCHUB_TESTING", "OPCHUB_DEMO", "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_URL"}
    }
    clean.update({"OPCHUB_VAR_DIR": str(tmp_path), **overrides})
    return subprocess.run(
        [sys.executable, "-c", "import opchub.settings as s; print(s.DEBUG, s.AXES_FAILURE_LIMIT)"],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_settings_fail_fast_naming_the_bad_variable(tmp_path: Path) -> None:
    result = _import_settings(tmp_path, OPCHUB_TESTING="1", AXES_FAILURE_LIMIT="five")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "AXES_FAILURE_LIMIT='five'" in result.stderr


def test_settings_refuse_to_start_without_a_secret_key_in_production(tmp_path: Path) -> None:
    result = _import_settings(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret_key").exists()
    ok = _import_settings(tmp_path, SECRET_KEY="s" * 50, AXES_FAILURE_LIMIT="7")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["False", "7"]


# --------------------------------------------------------------------------------------------------------------
# Error pages
# --------------------------------------------------------------------------------------------------------------


def test_404_page_is_localized(client: Client, db: None) -> None:
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 404
    assert "core/error.html" in template_names(response)
    page = response.content.decode()
    assert '<html lang="zh-CN"' in page
    assert 'data-status="404"' in page
    assert response["Content-Language"] == "zh-hans"

    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert '<html lang="en"' in response.content.decode()
    assert "Not found" in response.content.decode()


def test_error_page_shows_the_request_id(client: Client, db: None) -> None:
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="support-ticket-123")
    assert "support-ticket-123" in response.content.decode()


def test_not_found_escaping_a_view_renders_the_error_page(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post(
        "/accounts/switch/", {"organisation": str(world.other_opc.pk)}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 404
    assert "core/error.html" in template_names(response)
    assert response.context["status"] == 404


def test_not_permitted_escaping_a_view_renders_the_error_page(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.get("/org/members/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    assert "core/error.html" in template_names(response)
    assert response.context["title"] == "Not permitted"
    assert response.context["message"] == "You do not have permission to do this."


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (DomainError("规则不允许"), 400),
        (InvalidTransition(), 409),
        (Conflict("已被占用"), 409),
        (NotPermitted(), 403),
        (NotFound(), 404),
    ],
)
def test_domain_error_middleware_uses_the_errors_status(
    world: World, error: DomainError, status: int
) -> None:
    request = RequestFactory().get("/somewhere/")
    request.user = AnonymousUser()
    response = DomainErrorMiddleware(lambda r: None).process_exception(request, error)  # type: ignore[arg-type]
    assert response is not None
    assert response.status_code == status
    assert f'data-status="{status}"' in response.content.decode()
    if status in (400, 409) and error.message in ("规则不允许", "已被占用"):
        assert error.message in response.content.decode()


def test_domain_error_middleware_leaves_other_exceptions_alone(db: None) -> None:
    request = RequestFactory().get("/")
    assert DomainErrorMiddleware(lambda r: None).process_exception(request, ValueError("x")) is None  # type: ignore[arg-type]


def test_domain_errors_have_a_default_message() -> None:
    assert NotFound().message
    assert DomainError().status_code == 400
    assert DomainError("自定义").message == "自定义"


def test_server_error_page(db: None) -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    response = server_error(request)
    assert response.status_code == 500
    assert 'data-status="500"' in response.content.decode()


# --------------------------------------------------------------------------------------------------------------
# Uploads
# --------------------------------------------------------------------------------------------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_check_image_accepts_real_images_whatever_they_are_called() -> None:
    upload = SimpleUploadedFile("photo.jpg", _png())
    check_image(upload)
    assert upload.tell() == 0  # rewound for saving


@pytest.mark.parametrize(
    "content", [b"", b"GIF89a-but-not-really", b"%PDF-1.7 fake", b"\x89PNG\r\n\x1a\n broken"]
)
def test_check_image_refuses_non_images(content: bytes) -> None:
    with pytest.raises(ValidationError):
        check_image(SimpleUploadedFile("photo.png", content))


@override_settings(OPCHUB_MAX_UPLOAD_BYTES=10)
def test_check_size_uses_the_setting() -> None:
    with pytest.raises(ValidationError) as excinfo:
        check_size(SimpleUploadedFile("a.txt", b"x" * 11))
    assert excinfo.value.code == "too_large"
    check_size(SimpleUploadedFile("a.txt", b"x" * 10))
    check_size(SimpleUploadedFile("a.txt", b"x" * 11), limit=11)


# --------------------------------------------------------------------------------------------------------------
# The shared test world
# --------------------------------------------------------------------------------------------------------------


def test_shared_world_registration_numbers_are_valid() -> None:
    for code in VALID_USCC:
        assert uscc.is_valid(code), code
    assert ric.is_valid(VALID_RESIDENT_ID), f"{VALID_RESIDENT_ID} fails python-stdnum's cn.ric check"


def test_shared_world_roles(world: World) -> None:
    assert world.community.operator == world.operator
    assert world.other_community.operator == world.other_operator
    assert world.opc.home_community == world.community
    assert world.other_opc.home_community == world.other_community
    assert world.opc.verification_status == VerificationStatus.PENDING
    assert world.operator.is_verified
    assert world.authority.city == world.community.city != world.other_community.city
    assert Membership.objects.filter(user=world.opc_user, organisation=world.opc).exists()


# --------------------------------------------------------------------------------------------------------------
# Demo data
# --------------------------------------------------------------------------------------------------------------


def _demo_counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "organisations": Organisation.objects.count(),
        "memberships": Membership.objects.count(),
        "communities": Community.objects.count(),
        "workstations": Workstation.objects.count(),
        "residencies": Residency.objects.count(),
        "audit": AuditRecord.objects.count(),
    }


def test_load_demo_builds_the_seed_world_and_is_idempotent(db: None) -> None:
    logins = load_demo()
    first = _demo_counts()
    assert load_demo() == logins
    assert _demo_counts() == first

    opcs = Organisation.objects.filter(kind=OrgKind.OPC)
    assert opcs.count() >= 60
    assert opcs.filter(verification_status=VerificationStatus.VERIFIED).exists()
    assert opcs.filter(verification_status=VerificationStatus.PENDING).exists()
    assert first["communities"] == 10
    labo = Community.objects.get(name__contains="OPC云创Labo")
    assert labo.workstations.count() == 67
    assert Organisation.objects.filter(kind=OrgKind.AUTHORITY).count() == 1
    assert Organisation.objects.filter(kind=OrgKind.OPERATOR).count() == 2
    clients = set(Organisation.objects.filter(kind=OrgKind.CLIENT).values_list("subkind", flat=True))
    assert clients >= {OrgSubkind.ENTERPRISE, OrgSubkind.GOVERNMENT, OrgSubkind.SOE}
    providers = set(Organisation.objects.filter(kind=OrgKind.PROVIDER).values_list("subkind", flat=True))
    assert providers == SUBKINDS_BY_KIND[OrgKind.PROVIDER]
    # residents are verified and seated once per workstation
    assert first["residencies"] > 0
    assert not Residency.objects.exclude(
        organisation__verification_status=VerificationStatus.VERIFIED
    ).exists()
    assert Residency.objects.values("workstation").distinct().count() == first["residencies"]
    # every credit code is valid and unique
    codes = [c for c in Organisation.objects.values_list("uscc", flat=True) if c]
    assert codes and all(uscc.is_valid(c) for c in codes)
    assert len(codes) == len(set(codes))
    # every OPC has an owner with a profile
    assert not opcs.filter(opc_profile__isnull=True).exists()
    assert not opcs.exclude(memberships__role="owner").exists()


def test_every_demo_login_works_through_the_login_form(db: None) -> None:
    logins = load_demo()
    assert len(logins) == len(demo_logins()) >= 10
    roles = " ".join(row.role for row in logins)
    for word in (
        "operator",
        "OPC",
        "enterprise",
        "government",
        "SOE",
        "law firm",
        "compute",
        "authority",
        "admin",
    ):
        assert word in roles
    for row in logins:
        client = Client()
        response = client.post("/accounts/login/", {"login": row.login, "password": DEMO_PASSWORD})
        assert response.status_code == 302, row.login
        user = User.objects.get(email=row.login)
        assert client.session["_auth_user_id"] == str(user.pk)
        if row.organisation != "—":
            assert user.memberships.filter(organisation__name=row.organisation).exists()
    assert User.objects.get(email="admin@demo.cn").is_superuser


def test_load_demo_command_prints_the_logins(db: None) -> None:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    text = out.getvalue()
    assert DEMO_PASSWORD in text
    assert "operator@haishu.demo" in text
    assert "authority@demo.cn" in text


def test_unknown_api_path_answers_json_404(client: Client, db: None) -> None:
    response = client.get("/api/no-such-endpoint/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "No such API endpoint."}


def test_platform_staff_without_organisation_land_on_the_admin(client: Client, db: None) -> None:
    from accounts.models import User

    staff = User.objects.create_user(
        email="staff@example.cn",
        password="x-Long-enough-1",
        display_name="staff",
        is_staff=True,
        is_superuser=True,
    )
    client.force_login(staff)
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_user_without_organisation_sees_an_explanation(client: Client, db: None) -> None:
    from accounts.models import User

    loner = User.objects.create_user(
        email="loner@example.cn", password="x-Long-enough-1", display_name="loner"
    )
    client.force_login(loner)
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert "core/no_organisation.html" in [t.name for t in response.templates]
