"""Teams and subcontracting as people use them in a browser.

1. A PM forms a team from OPC Hub's proposal, invites the members, who accept; the PM sets the revenue split,
   the members sign it, the PM submits the team bid; the client awards the team as a consortium, funds and
   accepts the milestone; the release is split between the members (the team page shows each payout and the
   ledger balances follow).
2. An OPC holding a contract subcontracts a part with the standard video checklist; an invited OPC takes and
   delivers it; the upstream ticks the checklist and accepts; the client sees that part was subcontracted.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from core.testing import PASSWORD, build_world
from marketplace import services as mkt
from marketplace.models import Contract
from teams.models import SubcontractStatus, Team, TeamStatus
from teams.tests.helpers import available, awarded_team, future, profile, team_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def warm_server(live_server: Any) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{live_server.url}/accounts/login/", timeout=120) as response:
        assert response.status == 200


def as_user(browser: Browser, live_server: Any, login_id: str) -> Page:
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, base_url=live_server.url
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", login_id)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    return page


def test_pm_forms_team_members_sign_team_wins_release_is_split(browser: Browser, live_server: Any) -> None:
    w = build_world()
    t = team_world(w)
    profile(t.third, [t.design], "2500")  # third covers design only, other_opc voice: a team of three
    pm = as_user(browser, live_server, "opc@example.cn")
    pm.goto(f"/market/orders/{t.order.pk}/")
    pm.get_by_test_id("propose-team").click()
    expect(pm.get_by_test_id("proposal-method")).to_be_visible()
    expect(pm.get_by_test_id("proposal").locator("tbody tr")).to_have_count(3)
    pm.fill("form[data-testid=form-team] input[name=name]", "星门联合体")
    pm.locator("form[data-testid=form-team] button").click()
    expect(pm).to_have_url(re.compile(r"/teams/\d+/$"))
    team = Team.objects.get(order=t.order)
    pm.get_by_test_id("invite").click()

    for login_id in ("otheropc@example.cn", "third@example.cn"):
        member = as_user(browser, live_server, login_id)
        member.goto(f"/teams/{team.pk}/")
        member.get_by_test_id("accept-invitation").click()
        expect(member.get_by_test_id("team-members")).to_be_visible()
        member.context.close()

    pm.goto(f"/teams/{team.pk}/")
    pm.get_by_test_id(f"share-{w.opc.pk}-1").fill("6000.00")
    pm.get_by_test_id(f"share-{w.other_opc.pk}-1").fill("3000.00")
    pm.get_by_test_id(f"share-{t.third.pk}-1").fill("2500.00")
    pm.get_by_test_id("save-split").click()
    expect(pm.get_by_test_id("blockers")).to_be_visible()

    for login_id in ("otheropc@example.cn", "third@example.cn"):
        member = as_user(browser, live_server, login_id)
        member.goto(f"/teams/{team.pk}/")
        member.get_by_test_id("sign-split").click()
        expect(member.get_by_test_id("sign-split")).to_have_count(0)
        member.context.close()

    pm.goto(f"/teams/{team.pk}/")
    pm.get_by_test_id("submit-bid").click()
    expect(pm.get_by_test_id("team-status")).to_be_visible()
    team.refresh_from_db()
    assert team.status == TeamStatus.SUBMITTED and team.bid is not None
    assert team.bid.price == Decimal("11500.00")

    client = as_user(browser, live_server, "client@example.cn")
    client.goto(f"/market/orders/{t.order.pk}/")
    client.get_by_test_id(f"team-bid-{team.pk}").click()
    client.locator("input[name=contract_form][value=consortium]").check()
    client.get_by_test_id("award-team").click()
    expect(client.get_by_test_id("team-status")).to_be_visible()
    team.refresh_from_db()
    assert team.status == TeamStatus.AWARDED and team.contract_form == "consortium"
    contract = Contract.objects.get(bid=team.bid)

    before = {org.pk: available(org) for org in (w.opc, w.other_opc, t.third)}
    client.goto(f"/market/contracts/{contract.pk}/")
    client.get_by_test_id("fund-1").click()
    expect(client.get_by_test_id("milestone-1")).to_have_attribute("data-status", "funded")
    mkt.deliver_milestone(milestone=contract.milestones.get(), opc=w.opc, actor=None, note="成片")
    client.goto(f"/market/contracts/{contract.pk}/")
    client.get_by_test_id("accept-1").click()
    expect(client.get_by_test_id("milestone-1")).to_have_attribute("data-status", "released")

    assert available(w.other_opc) - before[w.other_opc.pk] == Decimal("3000.00")
    assert available(t.third) - before[t.third.pk] == Decimal("2500.00")
    assert available(w.opc) - before[w.opc.pk] == Decimal("6000.00")
    pm.goto(f"/teams/{team.pk}/")
    expect(pm.get_by_test_id(f"payout-{w.other_opc.pk}-1")).to_contain_text("3,000.00")
    expect(pm.get_by_test_id(f"payout-{t.third.pk}-1")).to_contain_text("2,500.00")


def test_opc_subcontracts_a_part_and_accepts_it_against_the_checklist(
    browser: Browser, live_server: Any
) -> None:
    w = build_world()
    t = team_world(w)
    _team, contract = awarded_team(t, "lead")
    upstream = as_user(browser, live_server, "opc@example.cn")
    upstream.goto(f"/market/contracts/{contract.pk}/")
    upstream.get_by_test_id("subcontract-link").click()
    form = upstream.get_by_test_id("subcontract-form")
    form.locator("input[name=title]").fill("片头动画")
    form.locator("input[name=price]").fill("800")
    form.locator("input[name=deadline]").fill(future(7).isoformat())
    form.locator("select[name=invited]").select_option(str(t.third.pk))
    upstream.get_by_test_id("post-subcontract").click()
    expect(upstream.get_by_test_id("subcontract-status")).to_be_visible()
    sub = contract.subcontracts.get()
    assert [c["key"] for c in sub.criteria] == [
        "resolution",
        "duration",
        "format",
        "revision_rounds",
        "deadline",
    ]

    sub_page = as_user(browser, live_server, "third@example.cn")
    sub_page.goto(f"/teams/subcontracts/{sub.pk}/")
    sub_page.get_by_test_id("take").click()
    sub_page.get_by_test_id("delivery-note").fill("4K 成片已上传网盘")
    sub_page.get_by_test_id("deliver").click()
    expect(sub_page.get_by_test_id("subcontract-status")).to_be_visible()

    upstream.goto(f"/teams/subcontracts/{sub.pk}/")
    for c in sub.criteria:
        upstream.get_by_test_id(f"ok-{c['key']}").check()
    upstream.get_by_test_id("review").click()
    expect(upstream.get_by_test_id("subcontract-status")).to_be_visible()
    sub.refresh_from_db()
    assert sub.status == SubcontractStatus.ACCEPTED
    assert all(sub.checklist[c["key"]] for c in sub.criteria)

    client = as_user(browser, live_server, "client@example.cn")
    client.goto(f"/market/contracts/{contract.pk}/")
    expect(client.get_by_test_id("subcontracts")).to_contain_text("片头动画")
