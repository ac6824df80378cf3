"""The events demo: the seeds' matching event (120 sign-ups for 40 seats) with hosts and a published
schedule, a past event with outcomes, a competition with results and badges; idempotent."""

from __future__ import annotations

import random
from unittest import mock

import pytest

from events import demo_data
from events.models import Badge, Competition, Event, MeetingRun, Registration


@pytest.mark.django_db
def test_demo_events() -> None:
    from core.demo import load_demo

    with mock.patch("core.extensions.load_app_demos"):
        load_demo()
    demo_data.load(random.Random(2026))
    event = Event.objects.get(title=demo_data.MATCHING_TITLE)
    attendees = Registration.objects.filter(event=event, role="attendee")
    assert attendees.count() == 120
    assert attendees.filter(status="confirmed").count() == 40
    assert attendees.filter(status="waitlisted").count() == 78
    assert attendees.filter(status="cancelled").count() == 2
    assert Registration.objects.filter(event=event, role__in=["investor", "industry"]).count() == 10
    run = MeetingRun.objects.get(event=event)
    assert run.published_at is not None and run.optimal and run.meetings.count() > 0
    past = Event.objects.exclude(pk=event.pk).get()
    assert (
        past.status == "closed" and past.outcome_orders.count() == 1 and past.investment_intents.count() == 1
    )
    assert Registration.objects.filter(event=past, checked_in_at__isnull=False).exists()
    comp = Competition.objects.get()
    assert comp.status == "closed" and comp.results.count() >= 6
    assert Badge.objects.filter(title__endswith="一等奖", organisation__name="归去来兮影像工作室").exists()
    before = Registration.objects.count()
    demo_data.load(random.Random(1))
    assert Registration.objects.count() == before
