"""Events in a browser, as the operator and the visitors do it: create and publish an event, sign up past
capacity onto the waitlist, check a ticket in by its QR code (and be refused the second time), compute and
publish the 1:1 schedule and see a personal schedule, record a follow-up order, view the dashboard and
export it."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
import qrcode
import qrcode.image.svg
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from core.testing import build_world
from events import services, tickets
from events.models import Event, EventOrder, Registration, RegistrationRole
from organisations.models import Skill

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, live_server: Any, user: Any) -> None:
    client = Client()
    client.force_login(user)
    # The first request of a process imports every app's views and compiles templates (15 s on a busy
    # machine, past the 10 s browser timeout); do it here, in the process the live server shares.
    assert client.get("/", follow=True).status_code == 200
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def sign_up(visitor: Page, event: Event, name: str, phone: str) -> None:
    visitor.goto(f"/events/{event.pk}/")
    form = visitor.get_by_test_id("register-form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=contact]").fill(phone)
    form.locator("button[type=submit]").click()
    expect(visitor).to_have_url(re.compile(r"/events/ticket/[A-Z0-9-]+/$"))


def test_event_from_creation_to_dashboard(page: Page, browser: Browser, live_server: Any) -> None:
    world = build_world()
    # The taxonomy comes from a data migration; an earlier transactional test may have flushed it.
    Skill.objects.get_or_create(code="aigc-video", defaults={"name_zh": "AIGC视频", "name_en": "AIGC video"})
    log_in(page, live_server, world.operator_user)

    # 1. The operator creates the event (2 seats, 1:1 meetings at 2 tables) and publishes it.
    day = (timezone.localtime() + dt.timedelta(days=3)).date().isoformat()
    page.goto("/")
    page.get_by_test_id("nav-events").click()
    page.get_by_test_id("new-event").click()
    form = page.get_by_test_id("event-form")
    form.locator("input[name=title]").fill("海曙OPC资源对接会")
    form.locator("select[name=community]").select_option(label=world.community.name)
    form.locator("input[name=venue]").fill("OPC云创Labo 报告厅")
    form.locator("input[name=starts_at]").fill(f"{day}T13:30")
    form.locator("input[name=ends_at]").fill(f"{day}T18:00")
    form.locator("input[name=capacity]").fill("2")
    form.locator("textarea[name=agenda]").fill("13:30 签到\n15:00 一对一对接")
    form.locator("input[name=meetings_start]").fill(f"{day}T15:00")
    form.locator("input[name=meeting_slots]").fill("4")
    form.locator("input[name=tables]").fill("2")
    form.locator("button[type=submit]").click()
    event = Event.objects.get(title="海曙OPC资源对接会")
    expect(page).to_have_url(re.compile(rf"/events/manage/{event.pk}/$"))
    page.get_by_test_id("status-published").click()
    expect(page.get_by_test_id("event-status")).to_have_attribute("data-status", "published")

    # 2. Three visitors sign up for two seats: the third lands on the waitlist.
    first = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    sign_up(first, event, "先到者", "13911110000")
    expect(first.get_by_test_id("ticket-status")).to_have_attribute("data-status", "confirmed")
    first.context.close()
    visitor = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    sign_up(visitor, event, "徐鼎轩", "13912345678")
    expect(visitor.get_by_test_id("ticket-status")).to_have_attribute("data-status", "confirmed")
    ticket_url = visitor.url
    late = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    sign_up(late, event, "晚到者", "13987654321")
    expect(late.get_by_test_id("ticket-status")).to_have_attribute("data-status", "waitlisted")
    expect(late.get_by_test_id("waitlist-position")).to_contain_text("1")
    page.goto(f"/events/manage/{event.pk}/")
    expect(page.get_by_test_id("confirmed-count")).to_contain_text("2 / 2")
    expect(page.get_by_test_id("waitlist-count")).to_have_text("1")
    assert Registration.objects.filter(event=event, status="waitlisted").get().name == "晚到者"

    # 3. Check-in by QR: the ticket's QR image encodes the check-in link; the door phone opens it.
    reg = Registration.objects.get(name="徐鼎轩")
    code = tickets.sign(reg.code)
    visitor.goto(ticket_url)
    qr_src = visitor.get_by_test_id("ticket-qr").get_attribute("src") or ""
    svg = visitor.request.get(qr_src).text()
    scanned = f"{live_server.url}/events/checkin/{code}/"
    expected = qrcode.make(
        scanned, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2
    ).to_string(encoding="unicode")
    assert svg == expected, "the QR code encodes the check-in link"
    page.goto(scanned)
    expect(page.get_by_test_id("scanned-ticket")).to_contain_text("徐鼎轩")
    page.get_by_test_id("checkin-confirm").click()
    expect(page.get_by_test_id("checked-in-at")).to_be_visible()
    # The same ticket at the door again (typed this time): refused, clearly.
    page.goto(f"/events/manage/{event.pk}/checkin/")
    page.get_by_test_id("checkin-form").locator("input[name=code]").fill(code.lower())
    page.get_by_test_id("checkin-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("checkin-error")).to_contain_text("徐鼎轩")
    reg.refresh_from_db()
    assert reg.checked_in_at is not None

    # 4. An investor joins; the visitor rates them; the operator computes and publishes the schedule.
    page.goto(f"/events/manage/{event.pk}/")
    page.locator("#hosts ~ details summary").click()
    partner = page.get_by_test_id("partner-form")
    partner.locator("select[name=role]").select_option("investor")
    partner.locator("input[name=name]").fill("林总")
    partner.locator("input[name=organisation_name]").fill("瓯江创投基金")
    partner.locator("button[type=submit]").click()
    expect(page.get_by_test_id("hosts-table")).to_contain_text("瓯江创投基金")
    host = Registration.objects.get(role=RegistrationRole.INVESTOR)
    visitor.goto(ticket_url)
    visitor.get_by_test_id("preferences-link").click()
    visitor.locator(f"select[name=rate_{host.pk}]").select_option("3")
    visitor.get_by_test_id("preferences-form").locator("button[type=submit]").click()
    expect(visitor).to_have_url(ticket_url)
    page.goto(f"/events/manage/{event.pk}/")
    page.get_by_test_id("nav-schedule").click()
    page.get_by_test_id("run-scheduler").click()
    expect(page.get_by_test_id("schedule-grid")).to_contain_text("徐鼎轩")
    page.get_by_test_id("publish-schedule").click()
    expect(page.get_by_test_id("run-published")).to_be_visible()
    visitor.goto(ticket_url)
    expect(visitor.get_by_test_id("personal-schedule")).to_contain_text("瓯江创投基金")
    with visitor.expect_download() as download:
        visitor.get_by_test_id("ics-download").click()
    assert "BEGIN:VEVENT" in download.value.path().read_text(encoding="utf-8")

    # 5. A client who came drafts an order with the operator: a follow-up on the outcomes page.
    services.register(
        event=event,
        name="王经理",
        actor=world.client_user,
        organisation=world.client,
        role=RegistrationRole.INDUSTRY,
    )
    page.get_by_test_id("nav-outcomes").click()
    page.get_by_test_id("draft-order-toggle").click()
    draft = page.get_by_test_id("draft-order-form")
    draft.locator("select[name=client]").select_option(label=world.client.name)
    draft.locator("input[name=title]").fill("文旅宣传 AIGC 短片")
    draft.locator("select[name=category]").select_option("aigc-video")
    draft.locator("input[name=budget_min]").fill("10000")
    draft.locator("input[name=budget_max]").fill("30000")
    draft.locator("input[name=deadline]").fill((timezone.localdate() + dt.timedelta(days=30)).isoformat())
    draft.locator("select[name=procurement_method]").select_option("inquiry")
    draft.locator("button[type=submit]").click()
    expect(page.get_by_test_id("outcome-orders-table")).to_contain_text("文旅宣传 AIGC 短片")
    expect(page.get_by_test_id("outcome-orders")).to_have_text("1")
    link = EventOrder.objects.get(event=event)
    assert link.order.client == world.client and link.order.status == "draft"

    # 6. The dashboard, and its export.
    page.get_by_test_id("nav-dashboards").click()
    # 3 attendees (one waiting) and 2 hosts.
    expect(page.get_by_test_id("figure-event_signups")).to_contain_text("5")
    expect(page.get_by_test_id("chart-workstations")).to_be_visible()
    page.get_by_test_id("figure-event_signups").locator(".figure a").click()
    expect(page.get_by_test_id("figure-rows")).to_contain_text(event.title)
    page.goto("/events/dashboards/")
    with page.expect_download() as download:
        page.get_by_test_id("export-dashboard").click()
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()))
    summary = book[book.sheetnames[0]]
    values = {row[1]: row[2] for row in summary.iter_rows(min_row=5, values_only=True) if row[1]}
    with translation.override("zh-hans"):
        assert values[gettext("Event sign-ups")] == 5
        assert values[gettext("Workstations")] == 3
    assert len(book.sheetnames) == 1 + len(values)
    visitor.context.close()
    late.context.close()


def test_authority_sees_the_dashboard_from_the_nav(page: Page, live_server: Any) -> None:
    world = build_world()
    log_in(page, live_server, world.authority_user)
    page.goto("/dashboard/")
    page.get_by_test_id("nav-dashboards").click()
    expect(page.get_by_test_id("figure-workstations")).to_contain_text("3")
