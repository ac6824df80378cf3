"""API: organisations — public skills and directory, own organisation and OPC profile, operator verification,
and the tenancy matrix (own / managed / overseen / other tenant / anonymous)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import issue_api_token
from audit.models import AuditRecord
from core import testing
from core.testing import VALID_USCC, World
from organisations.capabilities import Capability
from organisations.models import Membership, OPCProfile, Organisation, Skill, VerificationStatus
from organisations.validation import resident_id_digest

world = testing.world  # the shared test world fixture (core/testing.py)

BASE = "/api/organisations"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
# A resident ID number with a valid check digit (core.testing.RESIDENT_ID fails python-stdnum's check).
RESIDENT_ID = "330203199001011236"


def bearer(user: User, organisation: Organisation) -> dict[str, str]:
    _token, secret = issue_api_token(user=user, organisation=organisation, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}", **EN}


def patch(client: Client, url: str, data: Any, headers: dict[str, str]) -> Any:
    return client.patch(url, data, content_type="application/json", **headers)


def put(client: Client, url: str, data: Any, headers: dict[str, str]) -> Any:
    return client.put(url, data, content_type="application/json", **headers)


def snapshot(org: Organisation) -> dict[str, Any]:
    return Organisation.objects.filter(pk=org.pk).values().get()


def list_publicly(org: Organisation) -> None:
    Organisation.objects.filter(pk=org.pk).update(verification_status=VerificationStatus.VERIFIED)
    OPCProfile.objects.filter(organisation=org).update(listed_publicly=True)


# -- public ---------------------------------------------------------------------------------------------------


def test_skills_are_public(client: Client, db: None) -> None:
    response = client.get(f"{BASE}/skills", **EN)
    assert response.status_code == 200
    skills = response.json()
    assert {
        "code": "ai-short-drama",
        "name": "AI short drama",
        "name_zh": "AI短剧",
        "name_en": "AI short drama",
    } in skills
    assert len(skills) == Skill.objects.count()


def test_directory_is_public_and_lists_only_verified_opt_in_opcs(client: Client, world: World) -> None:
    list_publicly(world.other_opc)
    profile = world.other_opc.opc_profile
    profile.skills.set([Skill.objects.get(code="digital-human-live")])
    OPCProfile.objects.filter(pk=profile.pk).update(rate_min="1500.5", rate_max="3000")
    response = client.get(f"{BASE}/directory")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (entry,) = body["items"]
    assert entry["id"] == world.other_opc.pk
    assert entry["community"] == {"id": world.other_community.pk, "name": world.other_community.name}
    assert [s["code"] for s in entry["skills"]] == ["digital-human-live"]
    assert entry["rate_min"] == "1500.50"
    assert entry["rate_max"] == "3000.00"
    # no contact details or identity numbers in the public directory
    assert not {"contact_phone", "contact_email", "uscc", "legal_rep_id_masked"} & set(entry)


def test_directory_filters_and_pagination(client: Client, world: World) -> None:
    list_publicly(world.opc)
    list_publicly(world.other_opc)
    world.opc.opc_profile.skills.set([Skill.objects.get(code="ai-short-drama")])
    assert [e["id"] for e in client.get(f"{BASE}/directory?skill=ai-short-drama").json()["items"]] == [
        world.opc.pk
    ]
    assert client.get(f"{BASE}/directory?skill=no-such-skill").json()["count"] == 0
    assert [e["id"] for e in client.get(f"{BASE}/directory?q=瓯江").json()["items"]] == [world.other_opc.pk]
    page = client.get(f"{BASE}/directory?limit=1&offset=1").json()
    assert page["count"] == 2
    assert len(page["items"]) == 1


@pytest.mark.parametrize("query", ["limit=201", "limit=0", "offset=-1", "limit=abc", f"offset={10**30}"])
def test_directory_rejects_bad_paging(client: Client, world: World, query: str) -> None:
    response = client.get(f"{BASE}/directory?{query}")
    assert response.status_code == 422
    assert response.json()["detail"]


# -- own organisation -----------------------------------------------------------------------------------------


def test_get_mine_needs_auth(client: Client, world: World) -> None:
    assert client.get(f"{BASE}/mine").status_code == 401


def test_get_mine(client: Client, world: World) -> None:
    response = client.get(f"{BASE}/mine", **bearer(world.opc_user, world.opc))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == world.opc.pk
    assert body["kind"] == "opc"
    assert body["community"] == {"id": world.community.pk, "name": world.community.name}
    assert body["contact_phone"] == ""  # own organisation: private fields present


def test_patch_mine(client: Client, world: World) -> None:
    headers = bearer(world.opc_user, world.opc)
    payload = {
        "name": "  十万光年科幻工作室（宁波）  ",
        "city": "宁波市",
        "district": "海曙区",
        "contact_email": "hello@example.cn",
        "contact_phone": "0574-88888888",
        "description": "AI 科幻短剧",
        "legal_representative": "张三",
        "uscc": VALID_USCC[0],
        "legal_rep_id": RESIDENT_ID,
    }
    response = patch(client, f"{BASE}/mine", payload, headers)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "十万光年科幻工作室（宁波）"
    assert body["uscc"] == VALID_USCC[0]
    assert body["legal_rep_id_masked"] == "330***********1236"
    assert RESIDENT_ID not in response.content.decode()
    row = snapshot(world.opc)
    assert row["contact_email"] == "hello@example.cn"
    assert row["legal_rep_id_digest"] == resident_id_digest(RESIDENT_ID)
    assert RESIDENT_ID not in {str(v) for v in row.values()}
    assert AuditRecord.objects.filter(action="organisation.updated", organisation=world.opc).exists()


def test_patch_mine_changes_only_the_fields_sent(client: Client, world: World) -> None:
    Organisation.objects.filter(pk=world.opc.pk).update(city="宁波市", description="keep me")
    response = patch(
        client, f"{BASE}/mine", {"district": "鄞州区", "city": None}, bearer(world.opc_user, world.opc)
    )
    assert response.status_code == 200
    row = snapshot(world.opc)
    assert (row["district"], row["city"], row["description"]) == ("鄞州区", "宁波市", "keep me")


def test_new_uscc_sends_a_verified_organisation_back_to_verification(client: Client, world: World) -> None:
    Organisation.objects.filter(pk=world.opc.pk).update(verification_status=VerificationStatus.VERIFIED)
    response = patch(client, f"{BASE}/mine", {"uscc": VALID_USCC[1]}, bearer(world.opc_user, world.opc))
    assert response.status_code == 200
    assert response.json()["verification_status"] == "pending"


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"name": "new name", "uscc": "91330203MA2GXXXX08"}, 400, "unified social credit code"),
        ({"name": "new name", "uscc": "123"}, 400, "unified social credit code"),
        ({"name": "new name", "legal_rep_id": "330203199001011232"}, 400, "resident identity card"),
        ({"name": "new name", "legal_rep_id": "330203199013011231"}, 400, "resident identity card"),
        ({"name": "   "}, 400, "needs a name"),
        ({"name": ""}, 422, ""),
        ({"name": 42}, 422, ""),
        ({"name": "x" * 121}, 422, ""),
        ({"name": "new name", "contact_email": "not-an-email"}, 422, ""),
        ({"name": "new name", "kind": "operator"}, 422, ""),
        ({"name": "new name", "verification_status": "verified"}, 422, ""),
        (["name", "new name"], 422, ""),
    ],
)
def test_patch_mine_rejects_bad_input_and_changes_nothing(
    client: Client, world: World, payload: Any, status: int, message: str
) -> None:
    headers = bearer(world.opc_user, world.opc)
    before = snapshot(world.opc)
    audit_before = AuditRecord.objects.count()
    response = patch(client, f"{BASE}/mine", payload, headers)
    assert response.status_code == status, response.content
    assert message in str(response.json()["detail"])
    assert snapshot(world.opc) == before
    assert AuditRecord.objects.count() == audit_before


def test_patch_mine_with_a_uscc_already_registered_is_409(client: Client, world: World) -> None:
    Organisation.objects.filter(pk=world.client.pk).update(uscc=VALID_USCC[0])
    before = snapshot(world.opc)
    response = patch(client, f"{BASE}/mine", {"uscc": VALID_USCC[0]}, bearer(world.opc_user, world.opc))
    assert response.status_code == 409
    assert snapshot(world.opc) == before


def test_patch_mine_needs_org_manage(client: Client, world: World) -> None:
    headers = bearer(world.opc_user, world.opc)
    membership = Membership.objects.get(user=world.opc_user, organisation=world.opc)
    membership.capabilities = [Capability.LEDGER_VIEW]
    membership.save()
    before = snapshot(world.opc)
    assert patch(client, f"{BASE}/mine", {"name": "hijacked"}, headers).status_code == 403
    assert snapshot(world.opc) == before
    assert client.get(f"{BASE}/mine", **headers).status_code == 200  # reading needs no capability


# -- OPC profile ----------------------------------------------------------------------------------------------


def profile_payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "founder_name": "林光年",
        "headcount": 2,
        "capacity": 3,
        "skills": ["ai-short-drama", "aigc-video"],
        "tags": ["科幻", "海外发行"],
        "rate_min": "5000.5",
        "rate_max": "20000",
        "talent_level": "city",
        "founded_on": "2025-03-01",
        "listed_publicly": True,
    }
    payload.update(overrides)
    return payload


def profile_state(org: Organisation) -> tuple[Any, ...]:
    p = OPCProfile.objects.get(organisation=org)
    return (
        p.founder_name,
        p.headcount,
        p.capacity,
        p.tags,
        p.rate_min,
        p.rate_max,
        p.talent_level,
        p.founded_on,
        p.listed_publicly,
        sorted(p.skills.values_list("code", flat=True)),
    )


def test_get_my_profile(client: Client, world: World) -> None:
    response = client.get(f"{BASE}/mine/profile", **bearer(world.opc_user, world.opc))
    assert response.status_code == 200
    body = response.json()
    assert body["founder_name"] == "opc"
    assert body["skills"] == []
    assert body["portfolio"] == []
    assert body["rate_min"] is None


def test_only_opcs_have_a_profile(client: Client, world: World) -> None:
    headers = bearer(world.client_user, world.client)
    assert client.get(f"{BASE}/mine/profile", **headers).status_code == 404
    assert put(client, f"{BASE}/mine/profile", profile_payload(), headers).status_code == 404


def test_put_my_profile(client: Client, world: World) -> None:
    response = put(client, f"{BASE}/mine/profile", profile_payload(), bearer(world.opc_user, world.opc))
    assert response.status_code == 200, response.content
    body = response.json()
    assert [s["code"] for s in body["skills"]] == ["ai-short-drama", "aigc-video"]
    assert body["rate_min"] == "5000.50"
    assert body["rate_max"] == "20000.00"
    assert body["tags"] == ["科幻", "海外发行"]
    assert body["founded_on"] == "2025-03-01"
    assert profile_state(world.opc)[1:3] == (2, 3)
    assert AuditRecord.objects.filter(action="opc_profile.updated", organisation=world.opc).exists()


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"skills": ["ai-short-drama", "time-travel"]}, 400, "Unknown skill: time-travel"),
        ({"headcount": 5}, 400, "1 to 3 people"),
        ({"headcount": 10**30}, 400, "1 to 3 people"),
        ({"capacity": 0}, 400, "between 1 and 50"),
        ({"rate_min": "-1"}, 400, "negative"),
        ({"rate_min": "300", "rate_max": "200"}, 400, "lower rate"),
        ({"tags": [f"t{i}" for i in range(21)]}, 400, "20 tags"),
        ({"headcount": "two"}, 422, ""),
        ({"rate_min": "1.234"}, 422, ""),
        ({"rate_min": "NaN"}, 422, ""),
        ({"rate_min": "1e40"}, 422, ""),
        ({"talent_level": "galactic"}, 422, ""),
        ({"founded_on": "2025-02-30"}, 422, ""),
        ({"listed_publicly": "perhaps"}, 422, ""),
        ({"skills": "ai-short-drama"}, 422, ""),
        ({"owner": "me"}, 422, ""),
    ],
)
def test_put_my_profile_rejects_bad_input_and_changes_nothing(
    client: Client, world: World, overrides: dict[str, Any], status: int, message: str
) -> None:
    before = profile_state(world.opc)
    response = put(
        client, f"{BASE}/mine/profile", profile_payload(**overrides), bearer(world.opc_user, world.opc)
    )
    assert response.status_code == status, response.content
    assert message in str(response.json()["detail"])
    assert profile_state(world.opc) == before


def test_put_my_profile_needs_every_required_field(client: Client, world: World) -> None:
    payload = profile_payload()
    del payload["listed_publicly"]
    before = profile_state(world.opc)
    assert put(client, f"{BASE}/mine/profile", payload, bearer(world.opc_user, world.opc)).status_code == 422
    assert profile_state(world.opc) == before


# -- operator: members ----------------------------------------------------------------------------------------


def test_operator_lists_only_own_members(client: Client, world: World) -> None:
    response = client.get(f"{BASE}/members", **bearer(world.operator_user, world.operator))
    assert response.status_code == 200
    body = response.json()
    ids = {o["id"] for o in body["items"]}
    assert world.opc.pk in ids
    assert world.other_opc.pk not in ids
    assert body["count"] == len(ids)

    other = client.get(f"{BASE}/members", **bearer(world.other_operator_user, world.other_operator)).json()
    assert {o["id"] for o in other["items"]} == {world.other_opc.pk}


def test_members_filters(client: Client, world: World) -> None:
    headers = bearer(world.operator_user, world.operator)
    assert client.get(f"{BASE}/members?status=pending", **headers).json()["count"] == 1
    assert client.get(f"{BASE}/members?status=verified", **headers).json()["count"] == 0
    assert client.get(f"{BASE}/members?kind=client", **headers).json()["count"] == 0
    assert client.get(f"{BASE}/members?kind=opc&q=光年", **headers).json()["count"] == 1


@pytest.mark.parametrize("query", ["status=bogus", "kind=alien", "limit=500", "offset=-3", "q=" + "x" * 61])
def test_members_rejects_bad_filters(client: Client, world: World, query: str) -> None:
    response = client.get(f"{BASE}/members?{query}", **bearer(world.operator_user, world.operator))
    assert response.status_code == 422


@pytest.mark.parametrize("who", ["opc", "client", "provider", "authority"])
def test_members_list_is_for_operators_only(client: Client, world: World, who: str) -> None:
    user, org = getattr(world, f"{who}_user"), getattr(world, who)
    response = client.get(f"{BASE}/members", **bearer(user, org))
    assert response.status_code == 403
    assert "permission" in response.json()["detail"]


def test_members_needs_auth(client: Client, world: World) -> None:
    assert client.get(f"{BASE}/members").status_code == 401


def test_operator_verifies_a_member(client: Client, world: World) -> None:
    response = client.post(
        f"{BASE}/members/{world.opc.pk}/verify", **bearer(world.operator_user, world.operator)
    )
    assert response.status_code == 200
    assert response.json()["verification_status"] == "verified"
    world.opc.refresh_from_db()
    assert world.opc.verified_by == world.operator_user
    assert AuditRecord.objects.filter(action="organisation.verified", organisation=world.opc).exists()
    # verifying twice is an illegal transition
    again = client.post(
        f"{BASE}/members/{world.opc.pk}/verify", **bearer(world.operator_user, world.operator)
    )
    assert again.status_code == 409


def test_operator_rejects_a_member_with_a_reason(client: Client, world: World) -> None:
    response = client.post(
        f"{BASE}/members/{world.opc.pk}/reject",
        {"reason": "营业执照照片不清晰"},
        content_type="application/json",
        **bearer(world.operator_user, world.operator),
    )
    assert response.status_code == 200
    assert response.json()["verification_status"] == "rejected"
    assert response.json()["verification_note"] == "营业执照照片不清晰"


@pytest.mark.parametrize(
    ("payload", "status"),
    [({}, 422), ({"reason": "  "}, 400), ({"reason": 5}, 422), ({"reason": "x" * 301}, 422)],
)
def test_reject_needs_a_reason(client: Client, world: World, payload: dict[str, Any], status: int) -> None:
    before = snapshot(world.opc)
    response = client.post(
        f"{BASE}/members/{world.opc.pk}/reject",
        payload,
        content_type="application/json",
        **bearer(world.operator_user, world.operator),
    )
    assert response.status_code == status
    assert snapshot(world.opc) == before


@pytest.mark.parametrize("action", ["verify", "reject"])
def test_operator_cannot_touch_another_operators_member(client: Client, world: World, action: str) -> None:
    before = snapshot(world.other_opc)
    response = client.post(
        f"{BASE}/members/{world.other_opc.pk}/{action}",
        {"reason": "no"},
        content_type="application/json",
        **bearer(world.operator_user, world.operator),
    )
    assert response.status_code == 404
    assert snapshot(world.other_opc) == before


@pytest.mark.parametrize("who", ["opc", "client", "authority"])
@pytest.mark.parametrize("action", ["verify", "reject"])
def test_only_operators_verify(client: Client, world: World, who: str, action: str) -> None:
    before = snapshot(world.opc)
    user, org = getattr(world, f"{who}_user"), getattr(world, who)
    response = client.post(
        f"{BASE}/members/{world.opc.pk}/{action}",
        {"reason": "no"},
        content_type="application/json",
        **bearer(user, org),
    )
    assert response.status_code == 403
    assert snapshot(world.opc) == before


@pytest.mark.parametrize(
    ("member_id", "status"), [("999999", 404), ("abc", 422), (str(10**30), 422), ("-1", 422)]
)
def test_verify_unknown_or_malformed_ids(client: Client, world: World, member_id: str, status: int) -> None:
    response = client.post(
        f"{BASE}/members/{member_id}/verify", **bearer(world.operator_user, world.operator)
    )
    assert response.status_code == status
    assert response.json()["detail"]


# -- GET /{id}: the tenancy matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("viewer", "target", "status", "private"),
    [
        ("opc", "opc", 200, True),  # own
        ("operator", "opc", 200, True),  # managed member
        ("operator", "operator", 200, True),  # own
        ("authority", "opc", 200, False),  # overseen (same city), read-only
        ("opc", "other_opc", 404, None),  # another tenant
        ("operator", "other_opc", 404, None),  # another operator's member
        ("other_operator", "opc", 404, None),
        ("authority", "other_opc", 404, None),  # another city
        ("client", "opc", 404, None),
        ("provider", "client", 404, None),
    ],
)
def test_organisation_detail_matrix(
    client: Client, world: World, viewer: str, target: str, status: int, private: bool | None
) -> None:
    user, org = getattr(world, f"{viewer}_user"), getattr(world, viewer)
    target_org = getattr(world, target)
    response = client.get(f"{BASE}/{target_org.pk}", **bearer(user, org))
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert body["id"] == target_org.pk
        assert (body["contact_phone"] is not None) is private
        assert (body["legal_rep_id_masked"] is not None) is private


def test_publicly_listed_opc_is_visible_without_private_fields(client: Client, world: World) -> None:
    list_publicly(world.other_opc)
    response = client.get(f"{BASE}/{world.other_opc.pk}", **bearer(world.client_user, world.client))
    assert response.status_code == 200
    body = response.json()
    assert body["profile"]["founder_name"] == "otheropc"
    assert body["contact_phone"] is None
    assert body["verification_note"] is None


def test_organisation_detail_of_an_opc_includes_its_profile(client: Client, world: World) -> None:
    body = client.get(f"{BASE}/{world.opc.pk}", **bearer(world.operator_user, world.operator)).json()
    assert body["profile"]["headcount"] == 1
    body = client.get(f"{BASE}/{world.operator.pk}", **bearer(world.operator_user, world.operator)).json()
    assert body["profile"] is None


@pytest.mark.parametrize(("org_id", "status"), [("999999", 404), ("abc", 422), (str(2**63), 422), ("0", 422)])
def test_organisation_detail_unknown_or_malformed_ids(
    client: Client, world: World, org_id: str, status: int
) -> None:
    response = client.get(f"{BASE}/{org_id}", **bearer(world.opc_user, world.opc))
    assert response.status_code == status
    assert response.json()["detail"]


def test_organisation_detail_needs_auth(client: Client, world: World) -> None:
    assert client.get(f"{BASE}/{world.opc.pk}").status_code == 401


def test_session_auth_uses_the_active_organisation(client: Client, world: World) -> None:
    client.force_login(world.operator_user)
    assert client.get(f"{BASE}/members").status_code == 200
    assert client.get(f"{BASE}/{world.other_opc.pk}").status_code == 404
