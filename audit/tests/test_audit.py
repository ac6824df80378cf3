"""The audit trail: what a record holds (request id from the middleware, actor, organisation), that the database
refuses to edit or delete it, and who may browse which records."""

# ruff: noqa: F811  (the shared ``world`` fixture is imported, then requested by name)
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, transaction
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts.models import User
from audit.models import AuditRecord
from audit.selectors import audit_records_for
from audit.services import diff, record_audit
from core.testing import PASSWORD, World, world  # noqa: F401
from organisations.access import Scope
from organisations.services import reject_organisation, verify_organisation

AUDIT_URL = "/audit/"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def shown(response) -> list[AuditRecord]:
    assert response.status_code == 200
    return list(response.context["page"].object_list)


def shown_org_ids(response) -> set[int | None]:
    return {r.organisation_id for r in shown(response)}


# --------------------------------------------------------------------------------------------------------------
# What a record holds
# --------------------------------------------------------------------------------------------------------------


def test_request_id_from_the_header_reaches_the_record_and_the_response(client: Client, world: World) -> None:
    client.force_login(world.opc_user)
    response = client.post(
        "/accounts/profile/",
        {"display_name": "刘十万", "preferred_language": "zh-hans"},
        HTTP_X_REQUEST_ID="abcdef1234567890",
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 302
    assert response["X-Request-ID"] == "abcdef1234567890"
    record = AuditRecord.objects.get(action="user.updated")
    assert record.request_id == "abcdef1234567890"
    assert record.ip_address == "203.0.113.7"
    assert record.actor == world.opc_user


@pytest.mark.parametrize("header", ["", "short", "has spaces in it", "x" * 65, "abc<script>12345"])
def test_unusable_request_id_header_is_replaced(client: Client, world: World, header: str) -> None:
    client.force_login(world.opc_user)
    response = client.post(
        "/accounts/profile/", {"display_name": "刘十万", "preferred_language": "en"}, HTTP_X_REQUEST_ID=header
    )
    request_id = response["X-Request-ID"]
    assert request_id != header
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert AuditRecord.objects.get(action="user.updated").request_id == request_id


def test_every_response_carries_a_request_id(client: Client, db: None) -> None:
    first = client.get("/accounts/login/")["X-Request-ID"]
    second = client.get("/accounts/login/")["X-Request-ID"]
    assert first and second and first != second


def test_record_audit_stores_target_and_jsonable_changes(world: World) -> None:
    record = record_audit(
        action="test.changes",
        actor=world.opc_user,
        organisation=world.opc,
        target=world.opc,
        summary="x" * 600,
        changes={
            "amount": Decimal("12.50"),
            "day": dt.date(2026, 1, 5),
            "who": world.opc_user,
            "pair": ("a", "b"),
            1: [Decimal("1.00")],
        },
    )
    record.refresh_from_db()
    assert record.object_type == "organisations.organisation"
    assert record.object_id == str(world.opc.pk)
    assert record.object_repr == world.opc.name
    assert len(record.summary) == 500
    assert record.changes == {
        "amount": "12.50",
        "day": "2026-01-05",
        "who": world.opc_user.pk,
        "pair": ["a", "b"],
        "1": ["1.00"],
    }


def test_anonymous_actor_is_stored_as_none(world: World) -> None:
    record = record_audit(action="test.anonymous", actor=AnonymousUser(), organisation=world.opc)  # type: ignore[arg-type]
    assert record.actor is None


def test_diff_lists_only_changed_fields(world: World) -> None:
    changes = diff(world.opc, ["name", "city", "description"], {"name": world.opc.name, "city": "杭州市"})
    assert changes == {"city": [world.opc.city, "杭州市"]}


# --------------------------------------------------------------------------------------------------------------
# Append-only in the database
# --------------------------------------------------------------------------------------------------------------


def test_update_of_an_audit_record_is_refused_by_the_database(world: World) -> None:
    record = AuditRecord.objects.filter(organisation=world.opc).first()
    assert record is not None
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditRecord.objects.filter(pk=record.pk).update(action="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditRecord.objects.update(summary="rewritten history")
    record.summary = "edited"
    with pytest.raises(DatabaseError), transaction.atomic():
        record.save()
    record.refresh_from_db()
    assert record.action == "organisation.created"
    assert record.summary != "edited"


def test_inserting_records_still_works_after_a_refused_update(world: World) -> None:
    record = AuditRecord.objects.first()
    assert record is not None
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditRecord.objects.filter(pk=record.pk).update(action="x")
    before = AuditRecord.objects.count()
    record_audit(action="test.after", actor=None, organisation=None)
    assert AuditRecord.objects.count() == before + 1


@pytest.mark.postgres
def test_delete_of_an_audit_record_is_refused_on_postgresql(world: World) -> None:
    record = AuditRecord.objects.filter(organisation=world.opc).first()
    assert record is not None
    before = AuditRecord.objects.count()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditRecord.objects.filter(pk=record.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        record.delete()
    assert AuditRecord.objects.count() == before
    assert AuditRecord.objects.filter(pk=record.pk).exists()


# --------------------------------------------------------------------------------------------------------------
# Browsing the trail
# --------------------------------------------------------------------------------------------------------------


def _activity(world: World) -> None:
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    reject_organisation(
        organisation=world.other_opc,
        actor=world.other_operator_user,
        operator=world.other_operator,
        reason="资料缺失",
    )


def test_operator_sees_its_own_and_its_members_records_only(client: Client, world: World) -> None:
    _activity(world)
    client.force_login(world.operator_user)
    response = client.get(AUDIT_URL)
    assert shown_org_ids(response) == {world.operator.pk, world.opc.pk}
    actions = {r.action for r in shown(response)}
    assert "organisation.verified" in actions
    assert "organisation.rejected" not in actions  # that happened in the other operator's community
    page = response.content.decode()
    assert world.other_opc.name not in page
    assert "资料缺失" not in page

    client.force_login(world.other_operator_user)
    assert shown_org_ids(client.get(AUDIT_URL)) == {world.other_operator.pk, world.other_opc.pk}


def test_audit_filters(client: Client, world: World) -> None:
    _activity(world)
    old = AuditRecord.objects.create(
        organisation=world.opc,
        action="residency.started",
        summary="A-01 工位入驻",
        request_id="req-old-0000000001",
        created_at=timezone.make_aware(dt.datetime(2025, 1, 10, 12, 0)),
    )
    client.force_login(world.operator_user)

    by_action = shown(client.get(AUDIT_URL, {"action": "organisation.verified"}))
    assert [r.action for r in by_action] == ["organisation.verified"]
    by_prefix = shown(client.get(AUDIT_URL, {"action": "organisation."}))
    assert by_prefix and all(r.action.startswith("organisation.") for r in by_prefix)
    assert old not in by_prefix

    by_org = shown(client.get(AUDIT_URL, {"organisation": str(world.operator.pk)}))
    assert by_org and {r.organisation_id for r in by_org} == {world.operator.pk}
    # another tenant's organisation id gives nothing, not its records
    assert shown(client.get(AUDIT_URL, {"organisation": str(world.other_opc.pk)})) == []
    # a malformed id is ignored
    assert len(shown(client.get(AUDIT_URL, {"organisation": "abc"}))) == len(shown(client.get(AUDIT_URL)))

    assert shown(client.get(AUDIT_URL, {"q": "工位"})) == [old]
    assert shown(client.get(AUDIT_URL, {"q": "req-old-0000000001"})) == [old]
    assert shown(client.get(AUDIT_URL, {"q": world.opc.name[:4]}))  # object_repr

    in_january = shown(client.get(AUDIT_URL, {"since": "2025-01-01", "until": "2025-01-31"}))
    assert in_january == [old]
    since_today = shown(client.get(AUDIT_URL, {"since": timezone.localdate().isoformat()}))
    assert old not in since_today and since_today
    assert shown(client.get(AUDIT_URL, {"until": "2025-01-09"})) == []
    # a malformed date is ignored
    assert old in shown(client.get(AUDIT_URL, {"since": "not-a-date"}))


@pytest.mark.parametrize("value", ["abc", "-1", "²", "99999999999999999999999"])
def test_malformed_organisation_filter_is_ignored_or_empty(client: Client, world: World, value: str) -> None:
    """A filter value that is not an organisation id never breaks the page ("²".isdigit() is True but
    int("²") fails)."""
    client.force_login(world.operator_user)
    everything = shown(client.get(AUDIT_URL))
    filtered = shown(client.get(AUDIT_URL, {"organisation": value}))
    assert filtered in (everything, [])


@pytest.mark.parametrize("who", ["opc_user", "client_user", "provider_user"])
def test_audit_trail_is_forbidden_without_the_capability(client: Client, world: World, who: str) -> None:
    client.force_login(getattr(world, who))
    response = client.get(AUDIT_URL)
    assert response.status_code == 403
    assert "core/error.html" in [t.name for t in response.templates]


def test_audit_trail_sends_anonymous_visitors_to_login(client: Client, db: None) -> None:
    response = client.get(AUDIT_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_authority_sees_records_of_organisations_in_its_citys_communities(
    client: Client, world: World
) -> None:
    _activity(world)
    client.force_login(world.authority_user)
    org_ids = shown_org_ids(client.get(AUDIT_URL))
    assert world.opc.pk in org_ids  # member of a 宁波市 community
    assert world.authority.pk in org_ids  # its own
    assert world.other_opc.pk not in org_ids  # 温州市
    assert world.other_operator.pk not in org_ids
    assert world.client.pk not in org_ids  # not in any community


def test_selector_returns_nothing_without_the_capability(world: World) -> None:
    assert not audit_records_for(Scope(world.opc.memberships.get())).exists()
    assert not audit_records_for(Scope(None)).exists()
    assert audit_records_for(Scope(world.operator.memberships.get())).exists()


# --------------------------------------------------------------------------------------------------------------
# Admin
# --------------------------------------------------------------------------------------------------------------


def test_admin_cannot_add_change_or_delete_records(client: Client, world: World) -> None:
    superuser = User.objects.create_superuser("root@example.cn", PASSWORD, display_name="root")
    model_admin = admin.site._registry[AuditRecord]
    request = RequestFactory().get("/admin/")
    request.user = superuser
    record = AuditRecord.objects.first()
    assert record is not None
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request, record) is False
    assert model_admin.has_delete_permission(request, record) is False

    client.force_login(superuser)
    assert client.get("/admin/audit/auditrecord/").status_code == 200
    assert client.get("/admin/audit/auditrecord/add/").status_code == 403
    assert client.get(f"/admin/audit/auditrecord/{record.pk}/delete/").status_code == 403
    view = client.get(f"/admin/audit/auditrecord/{record.pk}/change/")
    assert view.status_code == 200  # read-only view
    assert client.post(f"/admin/audit/auditrecord/{record.pk}/change/", {"action": "x"}).status_code == 403
    record.refresh_from_db()
    assert record.action == "organisation.created"
