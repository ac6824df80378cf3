"""The trust demo data on top of the base demo and the demo market (other apps' demo data left out)."""

from __future__ import annotations

import random

import pytest

from core import extensions
from core.demo import load_demo
from marketplace.models import Contract, ContractStatus
from trust import demo_data
from trust.models import Message, Report, ReportStatus, Review, Thread

pytestmark = pytest.mark.django_db


def test_without_a_market_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extensions, "load_app_demos", lambda rng: None)
    load_demo()
    demo_data.load(random.Random(2026))
    assert not Review.objects.exists() and not Thread.objects.exists() and not Report.objects.exists()


def test_demo_data(monkeypatch: pytest.MonkeyPatch) -> None:
    import dispatch.services
    from marketplace import demo_data as market_demo

    monkeypatch.setattr(extensions, "load_app_demos", lambda rng: None)
    monkeypatch.setattr(dispatch.services, "run_batch_dispatch", lambda **kwargs: None)
    load_demo()
    market_demo.load(random.Random(2026))
    demo_data.load(random.Random(2026))
    counts = (Review.objects.count(), Message.objects.count(), Report.objects.count())
    demo_data.load(random.Random(2026))  # a second run adds nothing
    assert (Review.objects.count(), Message.objects.count(), Report.objects.count()) == counts

    completed = Contract.objects.filter(status=ContractStatus.COMPLETED).count()
    assert completed >= 1 and Review.objects.count() == 2 * completed
    assert Message.objects.filter(flagged=True).count() == 1
    assert Message.objects.filter(flagged=False).count() >= 2
    report = Report.objects.get()
    assert report.status == ReportStatus.OPEN and report.operator is not None
    assert report.message is not None and report.message.flagged
