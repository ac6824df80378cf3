"""Organisation pages: the operator's member list and verification, organisation detail visibility, editing an
organisation and an OPC profile, portfolio uploads. Permissions are checked as a matrix of roles."""

# ruff: noqa: F811  (the shared ``world`` fixture is imported, then requested by name)
from __future__ import annotations

import io

import pytest
from django.contrib.messages import constants as message_levels
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from PIL import Image

from audit.models import AuditRecord
from core.testing import VALID_USCC, World, world  # noqa: F401
from organisations.models import Organisation, PortfolioItem, Skill, VerificationStatus
from organisations.services import update_opc_profile, verify_organisation

RESIDENT_ID = "330203199001011236"  # valid 居民身份证号码 (check digit per GB 11643)
MEMBERS_URL = "/org/members/"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def png_bytes(size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def error_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request) if m.level == message_levels.ERROR]


def list_publicly(world: World, org: Organisation) -> None:
    verify_organisation(organisation=org, actor=world.operator_user, operator=world.operator)
    profile = org.opc_profile
    profile.listed_publicly = True
    profile.save(update_fields=["listed_publicly"])


# --------------------------------------------------------------------------------------------------------------
# Members list and verification
# --------------------------------------------------------------------------------------------------------------


def test_operator_members_list_shows_only_its_own_members(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    response = client.get(MEMBERS_URL)
    assert response.status_code == 200
    shown = {org.pk for org in response.context["page"].object_list}
    assert shown == {world.opc.pk}
    page = response.content.decode()
    assert world.opc.name in page
    assert world.other_opc.name not in page
    assert f'data-testid="verify-{world.opc.pk}"' in page


def test_members_list_filters(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    assert [o.pk for o in client.get(MEMBERS_URL, {"status": "pending"}).context["page"]] == [world.opc.pk]
    assert list(client.get(MEMBERS_URL, {"status": "verified"}).context["page"]) == []
    assert list(client.get(MEMBERS_URL, {"kind": "client"}).context["page"]) == []
    assert [o.pk for o in client.get(MEMBERS_URL, {"q": "十万光年"}).context["page"]] == [world.opc.pk]
    assert list(client.get(MEMBERS_URL, {"q": "瓯江"}).context["page"]) == []
    # unknown filter values are ignored rather than failing
    assert client.get(MEMBERS_URL, {"status": "bogus", "kind": "bogus"}).status_code == 200


def test_operator_verifies_a_member_from_the_list(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    next_url = f"{MEMBERS_URL}?status=pending"
    response = client.post(f"/org/members/{world.opc.pk}/verify/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == next_url
    world.opc.refresh_from_db()
    assert world.opc.verification_status == VerificationStatus.VERIFIED
    assert world.opc.verified_by == world.operator_user
    record = AuditRecord.objects.get(action="organisation.verified")
    assert (record.actor, record.organisation) == (world.operator_user, world.opc)
    assert record.request_id  # set by the request id middleware


def test_verify_ignores_a_foreign_next_url(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    response = client.post(f"/org/members/{world.opc.pk}/verify/", {"next": "https://evil.example.com/"})
    assert response["Location"] == reverse("organisations:members")


def test_verifying_twice_shows_an_error_and_changes_nothing(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    client.post(f"/org/members/{world.opc.pk}/verify/")
    response = client.post(f"/org/members/{world.opc.pk}/verify/")
    assert response.status_code == 302
    assert len(error_messages(response)) == 1
    assert AuditRecord.objects.filter(action="organisation.verified").count() == 1


def test_reject_with_an_empty_reason_is_refused(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    response = client.post(f"/org/members/{world.opc.pk}/reject/", {"reason": "  "})
    assert response.status_code == 302
    assert response["Location"] == reverse("organisations:detail", args=[world.opc.pk])
    assert error_messages(response) == ["Give the member a reason for the rejection."]
    world.opc.refresh_from_db()
    assert world.opc.verification_status == VerificationStatus.PENDING
    assert world.opc.verification_note == ""
    assert not AuditRecord.objects.filter(action="organisation.rejected").exists()


def test_reject_with_a_reason_is_shown_to_the_member(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    response = client.post(f"/org/members/{world.opc.pk}/reject/", {"reason": "营业执照照片不清晰"})
    assert response.status_code == 302
    world.opc.refresh_from_db()
    assert world.opc.verification_status == VerificationStatus.REJECTED
    assert AuditRecord.objects.filter(action="organisation.rejected", actor=world.operator_user).exists()
    client.force_login(world.opc_user)
    page = client.get(f"/org/{world.opc.pk}/").content.decode()
    assert 'data-testid="rejection-reason"' in page
    assert "营业执照照片不清晰" in page
    # the member asks again
    response = client.post("/org/verification/request/")
    assert response.status_code == 302
    world.opc.refresh_from_db()
    assert world.opc.verification_status == VerificationStatus.PENDING


@pytest.mark.parametrize("action", ["verify", "reject"])
def test_other_operator_cannot_verify_or_reject_a_member_not_theirs(
    client: Client, world: World, action: str
) -> None:
    client.force_login(world.other_operator_user)
    response = client.post(f"/org/members/{world.opc.pk}/{action}/", {"reason": "不是我的成员"})
    assert response.status_code == 404
    assert "core/error.html" in [t.name for t in response.templates]
    world.opc.refresh_from_db()
    assert world.opc.verification_status == VerificationStatus.PENDING
    assert not AuditRecord.objects.filter(
        action__in=["organisation.verified", "organisation.rejected"]
    ).exists()


@pytest.mark.parametrize("who", ["opc_user", "client_user", "provider_user", "authority_user"])
def test_members_pages_are_forbidden_without_the_capability(client: Client, world: World, who: str) -> None:
    client.force_login(getattr(world, who))
    assert client.get(MEMBERS_URL).status_code == 403
    assert client.post(f"/org/members/{world.opc.pk}/verify/").status_code == 403
    world.opc.refresh_from_db()
    assert world.opc.verification_status == VerificationStatus.PENDING


def test_members_pages_send_anonymous_visitors_to_login(client: Client, world: World) -> None:
    response = client.get(MEMBERS_URL)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={MEMBERS_URL}"
    response = client.post(f"/org/members/{world.opc.pk}/verify/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    world.opc.refresh_from_db()
    assert world.opc.verification_status == VerificationStatus.PENDING


def test_verify_is_post_only(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    assert client.get(f"/org/members/{world.opc.pk}/verify/").status_code == 405


# --------------------------------------------------------------------------------------------------------------
# Organisation detail visibility
# --------------------------------------------------------------------------------------------------------------


def test_own_organisation_is_visible_with_private_details(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.get(f"/org/{world.opc.pk}/")
    assert response.status_code == 200
    assert response.context["is_own"] is True
    assert response.context["can_verify"] is False
    assert reverse("organisations:edit") in response.content.decode()


def test_other_unlisted_opc_is_not_found(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    assert client.get(f"/org/{world.other_opc.pk}/").status_code == 404
    client.logout()
    assert client.get(f"/org/{world.other_opc.pk}/").status_code == 404


def test_listed_verified_opc_is_public(client: Client, world: World) -> None:
    list_publicly(world, world.opc)
    response = client.get(f"/org/{world.opc.pk}/")
    assert response.status_code == 200
    assert response.context["is_own"] is False
    page = response.content.decode()
    assert world.opc.name in page
    assert 'data-testid="verify-panel"' not in page
    # and it appears in the public directory
    directory = client.get("/org/directory/")
    assert [o.pk for o in directory.context["page"]] == [world.opc.pk]


def test_listed_but_unverified_opc_is_not_public(client: Client, world: World) -> None:
    profile = world.opc.opc_profile
    profile.listed_publicly = True
    profile.save(update_fields=["listed_publicly"])
    assert client.get(f"/org/{world.opc.pk}/").status_code == 404
    assert list(client.get("/org/directory/").context["page"]) == []


def test_public_page_hides_contact_and_legal_representative(client: Client, world: World) -> None:
    world.opc.contact_phone = "0574-88888888"
    world.opc.legal_rep_id_masked = "330***********1236"
    world.opc.save()
    list_publicly(world, world.opc)
    page = client.get(f"/org/{world.opc.pk}/").content.decode()
    assert "0574-88888888" not in page
    assert "330***********1236" not in page


def test_operator_sees_its_member_with_the_verify_panel(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    response = client.get(f"/org/{world.opc.pk}/")
    assert response.status_code == 200
    assert response.context["can_verify"] is True
    assert 'data-testid="verify-panel"' in response.content.decode()
    client.force_login(world.other_operator_user)
    assert client.get(f"/org/{world.opc.pk}/").status_code == 404


def test_authority_sees_members_in_its_city_read_only(client: Client, world: World) -> None:
    client.force_login(world.authority_user)
    response = client.get(f"/org/{world.opc.pk}/")
    assert response.status_code == 200
    assert response.context["can_verify"] is False
    assert client.get(f"/org/{world.other_opc.pk}/").status_code == 404


def test_missing_organisation_is_not_found(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    assert client.get("/org/999999/").status_code == 404


# --------------------------------------------------------------------------------------------------------------
# Editing the organisation
# --------------------------------------------------------------------------------------------------------------


def test_edit_with_an_invalid_uscc_shows_the_error_and_changes_nothing(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    data = {"name": "改名了", "city": "宁波市", "uscc_input": "91330203MA2GXXXX08", "legal_rep_id": ""}
    response = client.post("/org/edit/", data)
    assert response.status_code == 200
    assert "uscc_input" in response.context["form"].errors
    world.opc.refresh_from_db()
    assert world.opc.name == "十万光年科幻工作室"
    assert world.opc.uscc is None
    assert not AuditRecord.objects.filter(action="organisation.updated").exists()


def test_edit_with_a_taken_uscc_shows_the_conflict(client: Client, world: World) -> None:
    Organisation.objects.filter(pk=world.client.pk).update(uscc=VALID_USCC[0])
    client.force_login(world.opc_user)
    response = client.post("/org/edit/", {"name": world.opc.name, "uscc_input": VALID_USCC[0]})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    world.opc.refresh_from_db()
    assert world.opc.uscc is None


def test_edit_with_a_valid_legal_rep_id_shows_it_masked(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    data = {
        "name": "十万光年科幻工作室",
        "city": "宁波市",
        "district": "海曙区",
        "contact_phone": "0574-88888888",
        "contact_email": "hi@example.cn",
        "legal_representative": "刘十万",
        "description": "AI 科幻短片",
        "uscc_input": VALID_USCC[0].lower(),
        "legal_rep_id": RESIDENT_ID,
    }
    response = client.post("/org/edit/", data)
    assert response.status_code == 302
    assert response["Location"] == reverse("organisations:detail", args=[world.opc.pk])
    world.opc.refresh_from_db()
    assert world.opc.uscc == VALID_USCC[0]
    assert world.opc.legal_rep_id_masked == "330***********1236"
    page = client.get(f"/org/{world.opc.pk}/").content.decode()
    assert "330***********1236" in page
    assert RESIDENT_ID not in page
    edit_page = client.get("/org/edit/").content.decode()
    assert 'placeholder="330***********1236"' in edit_page
    assert RESIDENT_ID not in edit_page


def test_edit_with_an_invalid_legal_rep_id_is_refused(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post("/org/edit/", {"name": world.opc.name, "legal_rep_id": "330203199001011231"})
    assert response.status_code == 200
    assert "legal_rep_id" in response.context["form"].errors
    world.opc.refresh_from_db()
    assert world.opc.legal_rep_id_masked == ""


def test_edit_page_needs_org_manage(client: Client, world: World) -> None:
    membership = world.opc_user.memberships.get()
    membership.capabilities = [c for c in membership.capabilities if c != "org.manage"]
    membership.save()
    client.force_login(world.opc_user)
    assert client.get("/org/edit/").status_code == 403
    assert client.post("/org/edit/", {"name": "x"}).status_code == 403
    world.opc.refresh_from_db()
    assert world.opc.name == "十万光年科幻工作室"


# --------------------------------------------------------------------------------------------------------------
# OPC profile and portfolio
# --------------------------------------------------------------------------------------------------------------


def profile_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "founder_name": "刘十万",
        "headcount": "2",
        "capacity": "4",
        "rate_min": "800",
        "rate_max": "5000",
        "founded_on": "2025-06-01",
        "listed_publicly": "on",
        "tags_text": "科幻，出海, 文旅",
        "talent_level": "province",
    }
    data.update(overrides)
    return data


def test_profile_edit(client: Client, world: World) -> None:
    skill = Skill.objects.order_by("position").first()
    assert skill is not None
    client.force_login(world.opc_user)
    assert client.get("/org/profile/").status_code == 200
    response = client.post("/org/profile/", profile_form(skills=[skill.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("organisations:detail", args=[world.opc.pk])
    profile = world.opc.opc_profile
    profile.refresh_from_db()
    assert (profile.founder_name, profile.headcount, profile.capacity) == ("刘十万", 2, 4)
    assert profile.tags == ["科幻", "出海", "文旅"]
    assert profile.talent_level == "province"
    assert profile.listed_publicly is True
    assert list(profile.skills.all()) == [skill]
    assert AuditRecord.objects.filter(action="opc_profile.updated", actor=world.opc_user).exists()
    # the form shows the saved tags again
    assert "科幻, 出海, 文旅" in client.get("/org/profile/").content.decode()


@pytest.mark.parametrize(
    "bad",
    [
        {"headcount": "4"},
        {"headcount": "0"},
        {"rate_min": "6000"},
        {"capacity": "51"},
        {"tags_text": ",".join(f"t{i}" for i in range(21))},
    ],
)
def test_profile_edit_refuses_invalid_values(client: Client, world: World, bad: dict[str, str]) -> None:
    client.force_login(world.opc_user)
    response = client.post("/org/profile/", profile_form(**bad))
    assert response.status_code == 200
    assert response.context["form"].errors
    profile = world.opc.opc_profile
    profile.refresh_from_db()
    assert (profile.founder_name, profile.headcount, profile.capacity, profile.tags) == ("opc", 1, 2, [])
    assert not AuditRecord.objects.filter(action="opc_profile.updated").exists()


@pytest.mark.parametrize("bad", [{"headcount": "4"}, {"rate_min": "6000", "rate_max": "5000"}])
def test_profile_edit_errors_are_worded_for_people(client: Client, world: World, bad: dict[str, str]) -> None:
    """A refused headcount or rate range is explained in words, not with a database constraint's name."""
    client.force_login(world.opc_user)
    response = client.post("/org/profile/", profile_form(**bad))
    assert response.status_code == 200
    errors = [str(e) for error_list in response.context["form"].errors.values() for e in error_list]
    assert errors
    assert not any("Constraint" in e or "opc_" in e for e in errors), errors


@pytest.mark.parametrize("who", ["client_user", "operator_user"])
def test_profile_pages_are_for_opcs_only(client: Client, world: World, who: str) -> None:
    client.force_login(getattr(world, who))
    assert client.get("/org/profile/").status_code == 404
    assert client.post("/org/profile/portfolio/", {"title": "x"}).status_code == 404


def test_portfolio_add_with_a_real_png(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    upload = SimpleUploadedFile("poster.png", png_bytes(), content_type="image/png")
    response = client.post(
        "/org/profile/portfolio/", {"title": "《十万光年》海报", "year": "2025", "image": upload}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("organisations:profile_edit")
    item = PortfolioItem.objects.get(profile__organisation=world.opc)
    assert item.title == "《十万光年》海报"
    assert item.year == 2025
    assert item.image.name.startswith("portfolio/")
    with item.image.open("rb") as stored:
        assert stored.read() == png_bytes()
    assert AuditRecord.objects.filter(action="portfolio.added", organisation=world.opc).exists()
    # the detail page shows it
    assert item.image.url in client.get(f"/org/{world.opc.pk}/").content.decode()


def test_portfolio_add_without_an_image(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post("/org/profile/portfolio/", {"title": "智能体demo", "link": "example.com/demo"})
    assert response.status_code == 302
    item = PortfolioItem.objects.get()
    assert item.link == "https://example.com/demo"
    assert not item.image


def test_portfolio_add_with_a_fake_image_is_refused(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    fake = SimpleUploadedFile("poster.png", b"this is not a picture at all", content_type="image/png")
    response = client.post("/org/profile/portfolio/", {"title": "假图", "image": fake})
    assert response.status_code == 400
    errors = response.context["portfolio_form"].errors
    assert "image" in errors
    assert "not an image we can read" in str(errors["image"])
    assert not PortfolioItem.objects.exists()
    assert not AuditRecord.objects.filter(action="portfolio.added").exists()


def test_portfolio_add_refuses_other_image_formats(client: Client, world: World) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="BMP")
    client.force_login(world.opc_user)
    bmp = SimpleUploadedFile("poster.png", buffer.getvalue(), content_type="image/png")
    response = client.post("/org/profile/portfolio/", {"title": "BMP", "image": bmp})
    assert response.status_code == 400
    assert "image" in response.context["portfolio_form"].errors
    assert not PortfolioItem.objects.exists()


@override_settings(OPCHUB_MAX_UPLOAD_BYTES=64)
def test_portfolio_add_with_an_oversize_image_is_refused(client: Client, world: World) -> None:
    data = png_bytes((64, 64))
    assert len(data) > 64
    client.force_login(world.opc_user)
    upload = SimpleUploadedFile("big.png", data, content_type="image/png")
    response = client.post("/org/profile/portfolio/", {"title": "大图", "image": upload})
    assert response.status_code == 400
    assert "too large" in str(response.context["portfolio_form"].errors["image"])
    assert not PortfolioItem.objects.exists()


def test_portfolio_remove(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    client.post("/org/profile/portfolio/", {"title": "要删的"})
    item = PortfolioItem.objects.get()
    client.force_login(world.other_opc_user)
    assert client.post(f"/org/profile/portfolio/{item.pk}/remove/").status_code == 404
    client.force_login(world.opc_user)
    response = client.post(f"/org/profile/portfolio/{item.pk}/remove/")
    assert response.status_code == 302
    assert not PortfolioItem.objects.exists()
    assert AuditRecord.objects.filter(action="portfolio.removed").exists()


# --------------------------------------------------------------------------------------------------------------
# Verification badge
# --------------------------------------------------------------------------------------------------------------


def test_dashboard_shows_the_unverified_badge_for_a_pending_opc(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.get("/dashboard/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="badge badge-pending"' in page
    assert 'class="notice"' in page
    assert "badge-verified" not in page


def test_dashboard_has_no_unverified_notice_once_verified(client: Client, world: World) -> None:
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    client.force_login(world.opc_user)
    page = client.get("/dashboard/").content.decode()
    assert "badge-verified" in page
    assert 'class="notice"' not in page


def test_operator_dashboard_counts_pending_members(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert response.context["pending_members"] == 1
    assert 'data-testid="pending-count">1<' in response.content.decode()


def test_profile_update_keeps_skills_visible_on_the_public_page(client: Client, world: World) -> None:
    skill = Skill.objects.order_by("position").first()
    assert skill is not None
    update_opc_profile(
        profile=world.opc.opc_profile,
        actor=world.opc_user,
        founder_name="",
        headcount=1,
        skills=[skill],
        tags="",
        capacity=2,
        rate_min=None,
        rate_max=None,
        talent_level="",
        founded_on=None,
        listed_publicly=True,
    )
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    page = client.get(f"/org/{world.opc.pk}/").content.decode()
    assert skill.name_en in page  # the client asks for English
