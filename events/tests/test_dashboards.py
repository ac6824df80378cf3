"""Oversight dashboards: each figure equals what its own rows add up to, the area follows the caller's scope,
and the XLSX export carries the same numbers and rows."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from communities.services import assign_workstation
from core.testing import World, make_community
from events import dashboards
from events.tests.helpers import guest, make_event
from marketplace import services as market
from organisations.access import Scope
from organisations.models import Membership, Skill
from organisations.services import verify_organisation


def scope_of(user: object, org: object) -> Scope:
    return Scope(Membership.objects.get(user=user, organisation=org))


@pytest.fixture
def landed(world: World) -> World:
    """The OPC is resident in the operator's community and won one tender of ¥12,000."""
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    assign_workstation(
        workstation=world.workstations[0],
        organisation=world.opc,
        start_date=dt.date(2026, 1, 5),
        actor=world.operator_user,
    )
    order = market.post_order(
        client=world.client,
        actor=world.client_user,
        title="文旅 AI 短剧",
        category=Skill.objects.get(code="ai-short-drama"),
        budget_min=Decimal("5000"),
        budget_max=Decimal("20000"),
        deadline=timezone.localdate() + dt.timedelta(days=30),
        procurement_method="inquiry",
    )
    order = market.publish_order(order=order, client=world.client, actor=world.client_user)
    market.post_order(  # a draft is not counted
        client=world.client,
        actor=world.client_user,
        title="草稿",
        category=Skill.objects.get(code="design"),
        budget_min=Decimal("1"),
        budget_max=Decimal("2"),
        deadline=timezone.localdate() + dt.timedelta(days=30),
        procurement_method="inquiry",
    )
    bid = market.submit_bid(
        order=order, opc=world.opc, actor=world.opc_user, price=Decimal("12000"), timeline_days=10
    )
    market.award_bid(order=order, bid=bid, client=world.client, actor=world.client_user)
    event = make_event(world, capacity=1)
    guest(event, 1)
    guest(event, 2)
    return world


def values(scope: Scope) -> dict[str, object]:
    return {f.key: f.value for f in dashboards.figures(scope)}


def test_operator_figures_and_their_rows(landed: World) -> None:
    w = landed
    figs = {f.key: f for f in dashboards.figures(scope_of(w.operator_user, w.operator))}
    assert figs["workstations"].value == 3
    assert figs["occupancy"].value == pytest.approx(33.3)
    assert figs["residents"].value == 1
    assert figs["projects"].value == 1
    assert figs["orders"].value == 1
    assert figs["order_value"].value == Decimal("12000.00")
    assert figs["fill_rate"].value == 100.0
    assert figs["time_to_award"].value >= 0
    assert figs["event_signups"].value == 2
    # Traceability: counts are row counts, sums are sums of a column, rates are ratios of flagged rows.
    for key in ("workstations", "residents", "projects", "orders", "event_signups"):
        assert figs[key].value == len(list(figs[key].rows())) == figs[key].row_count
    assert sum(row[4] for row in figs["order_value"].rows()) == figs["order_value"].value
    occupied = [row for row in figs["occupancy"].rows() if row[4]]
    assert round(100 * len(occupied) / figs["occupancy"].row_count, 1) == figs["occupancy"].value
    awarded = [row for row in figs["fill_rate"].rows() if row[-1]]
    assert 100 * len(awarded) / figs["fill_rate"].row_count == figs["fill_rate"].value
    assert figs["occupancy"].chart is not None and figs["occupancy"].chart.labels == [w.community.name]


def test_area_follows_the_scope(landed: World) -> None:
    w = landed
    authority = values(scope_of(w.authority_user, w.authority))  # 宁波市: the same community
    assert (
        authority["workstations"] == 3
        and authority["projects"] == 1
        and authority["order_value"] == Decimal("12000.00")
    )
    other = values(scope_of(w.other_operator_user, w.other_operator))
    assert other["workstations"] == 3 and other["projects"] == 0 and other["orders"] == 0
    assert other["event_signups"] == 0
    assert not dashboards.may_view(scope_of(w.opc_user, w.opc))


def test_dashboard_pages_drill_down_and_xlsx(landed: World) -> None:
    w = landed
    client = Client()
    client.force_login(w.operator_user)
    page = client.get(reverse("events:dashboard"))
    assert page.status_code == 200 and "<svg" in page.text and 'data-testid="figure-order_value"' in page.text
    rows = client.get(reverse("events:figure_rows", args=["projects"]))
    assert rows.status_code == 200 and "文旅 AI 短剧" in rows.text
    assert client.get(reverse("events:figure_rows", args=["nope"])).status_code == 404
    single = load_workbook(
        io.BytesIO(client.get(reverse("events:figure_xlsx", args=["order_value"])).content)
    )
    assert len(single.sheetnames) == 2
    data_sheet = single[single.sheetnames[1]]
    assert data_sheet["B1"].value == 12000
    everything = client.get(reverse("events:dashboard_xlsx"))
    assert everything["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(everything.content))
    summary = book[book.sheetnames[0]]
    table = {row[1]: row[2] for row in summary.iter_rows(min_row=5, values_only=True) if row[1]}
    figs = {f.label: f.value for f in dashboards.figures(scope_of(w.operator_user, w.operator))}
    assert {k: (float(v) if isinstance(v, Decimal) else v) for k, v in figs.items()} == {
        k: (float(v) if isinstance(v, Decimal) else v) for k, v in table.items()
    }
    assert len(book.sheetnames) == 1 + len(figs)
    opc = Client()
    opc.force_login(w.opc_user)
    assert opc.get(reverse("events:dashboard")).status_code == 403
    assert Client().get(reverse("events:dashboard")).status_code == 302


def test_dashboard_narrowed_to_one_community(landed: World) -> None:
    w = landed
    second, _stations = make_community(w.operator, "望春AiOPC社区", workstations=5)
    scope = scope_of(w.operator_user, w.operator)
    assert values(scope)["workstations"] == 8
    first = {f.key: f for f in dashboards.figures(scope, w.community)}
    assert first["workstations"].value == 3 and first["residents"].value == 1
    assert first["event_signups"].value == 2 and first["projects"].value == 1
    other = {f.key: f for f in dashboards.figures(scope, second)}
    assert other["workstations"].value == 5 and other["residents"].value == 0
    assert other["event_signups"].value == 0
    # Claim batches belong to the operator, not to a community: never split, so not shown narrowed.
    assert not any(f.section == "subsidies" for f in [*first.values(), *other.values()])

    client = Client()
    client.force_login(w.operator_user)
    page = client.get(reverse("events:dashboard"), {"community": second.pk})
    assert page.status_code == 200 and 'data-testid="dashboard-community"' in page.text
    assert f"?community={second.pk}" in page.text  # drill-downs and exports keep the filter
    rows = client.get(reverse("events:figure_rows", args=["workstations"]), {"community": second.pk})
    assert rows.status_code == 200 and rows.text.count("<tr>") == 1 + 5
    book = load_workbook(
        io.BytesIO(client.get(reverse("events:dashboard_xlsx"), {"community": w.community.pk}).content)
    )
    summary = book[book.sheetnames[0]]
    table = {row[1]: row[2] for row in summary.iter_rows(min_row=5, values_only=True) if row[1]}
    assert len(book.sheetnames) == 1 + len(first)
    assert table[first["workstations"].label] == 3 and table[first["residents"].label] == 1
    # Another operator's community, or not an id: not found, nothing shown.
    foreign = w.other_operator.operated_communities.first()
    assert client.get(reverse("events:dashboard"), {"community": foreign.pk}).status_code == 404
    assert client.get(reverse("events:dashboard"), {"community": "abc"}).status_code == 404
    assert (
        client.get(reverse("events:figure_xlsx", args=["workstations"]), {"community": "9" * 30}).status_code
        == 404
    )
    # The authority of the city may narrow to any community in it.
    authority = Client()
    authority.force_login(w.authority_user)
    assert authority.get(reverse("events:dashboard"), {"community": second.pk}).status_code == 200


def test_spreadsheet_cells_defuse_formulas() -> None:
    from events.exports import cell

    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert cell(Decimal("1.50")) == Decimal("1.50")
    assert cell(None) == ""


def test_empty_area_has_zero_figures(world: World) -> None:
    figs = values(scope_of(world.other_operator_user, world.other_operator))
    assert figs["orders"] == 0 and figs["fill_rate"] == 0.0 and figs["time_to_award"] == 0.0


def test_subsidy_figures_count_submitted_batches(world: World) -> None:
    from django.apps import apps

    try:
        batch_model = apps.get_model("subsidies", "ClaimBatch")
    except LookupError:
        pytest.skip("the subsidies app has no claim batches in this build")
    submitted = timezone.now() - dt.timedelta(days=40)
    common = {
        "operator": world.operator,
        "policy_id": "haishu-token-quota",
        "policy_version": "2026.1",
        "policy_title": "词元额度补贴",
        "period_label": "2026Q1",
        "period_start": dt.date(2026, 1, 1),
        "period_end": dt.date(2026, 3, 31),
        "created_by": world.operator_user,
    }
    batch_model.objects.create(
        **common,
        status="funds_received",
        claimed_amount=Decimal("10000.00"),
        approved_amount=Decimal("8000.00"),
        received_amount=Decimal("8000.00"),
        submitted_at=submitted,
        funds_received_on=timezone.localdate(submitted) + dt.timedelta(days=30),
    )
    batch_model.objects.create(
        **common, status="submitted", claimed_amount=Decimal("500.00"), submitted_at=submitted
    )
    batch_model.objects.create(**common, status="draft", claimed_amount=Decimal("999.00"))  # not submitted
    batch_model.objects.create(  # another operator's
        **{**common, "operator": world.other_operator},
        status="submitted",
        claimed_amount=Decimal("7.00"),
        submitted_at=submitted,
    )
    figs = {f.key: f for f in dashboards.figures(scope_of(world.operator_user, world.operator))}
    assert figs["subsidies_claimed"].value == Decimal("10500.00") and figs["subsidies_claimed"].row_count == 2
    assert figs["subsidies_approved"].value == Decimal("8000.00")
    assert figs["subsidies_received"].value == Decimal("8000.00")
    assert figs["payout_cycle"].value == 30.0
    assert sum(row[5] for row in figs["subsidies_claimed"].rows()) == figs["subsidies_claimed"].value
    authority = {f.key: f.value for f in dashboards.figures(scope_of(world.authority_user, world.authority))}
    assert authority["subsidies_claimed"] == Decimal("10500.00")  # 宁波市: not the Wenzhou operator's


def test_copyright_section_is_there_when_the_registry_is(world: World) -> None:
    from django.apps import apps

    keys = {f.key for f in dashboards.figures(scope_of(world.operator_user, world.operator))}
    has_registry = apps.is_installed("rights") and "rights" in {m._meta.app_label for m in apps.get_models()}
    assert ("copyright_cases" in keys) == has_registry
