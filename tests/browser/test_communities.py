"""Browser test of the operator's community page: adding workstations with htmx swaps the table in place."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from communities.models import Workstation, WorkstationStatus
from core.testing import build_world


def log_in(page: Page, live_server: Any, user: Any) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_operator_adds_workstations_with_htmx(page: Page, live_server: Any) -> None:
    world = build_world()
    log_in(page, live_server, world.operator_user)
    page.goto(f"/operator/communities/{world.community.pk}/")
    page.wait_for_function("typeof window.htmx === 'object'")
    form = page.get_by_test_id("batch-form")
    page.locator("#workstations details summary").click()

    # A-01..A-03 exist: the whole batch is refused and the error appears in place.
    form.locator("input[name=zone]").fill("A")
    form.locator("input[name=prefix]").fill("A-")
    form.locator("input[name=first]").fill("3")
    form.locator("input[name=last]").fill("5")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("batch-form").get_by_role("alert")).to_contain_text("A-03")
    assert Workstation.objects.filter(community=world.community).count() == 3

    form = page.get_by_test_id("batch-form")
    form.locator("input[name=zone]").fill("B")
    form.locator("input[name=prefix]").fill("B-")
    form.locator("input[name=first]").fill("1")
    form.locator("input[name=last]").fill("4")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("batch-message")).to_be_visible()
    expect(page.locator("tr[data-code='B-04']")).to_be_visible()
    assert page.url.endswith(f"/operator/communities/{world.community.pk}/")  # swapped, not reloaded

    row = page.locator("tr[data-code='B-02']")
    row.locator("select[name=status]").select_option("out_of_service")
    row.locator("button[type=submit]").click()
    expect(page.locator("tr[data-code='B-02']")).to_have_attribute("data-status", "out_of_service")
    assert (
        Workstation.objects.get(community=world.community, code="B-02").status
        == WorkstationStatus.OUT_OF_SERVICE
    )
