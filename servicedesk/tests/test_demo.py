"""The demo stories of contract review and the service desk load on the shared world (with the demo e-mail
addresses) and only once."""

from __future__ import annotations

import random

import pytest

from contracts import demo_data as contracts_demo
from contracts.models import Review
from core.testing import World, make_residency
from servicedesk import demo_data as desk_demo
from servicedesk.models import CaseStatus, LegalServiceQuota, LicenceCase, Ticket, TicketStatus

pytestmark = pytest.mark.django_db


def test_demo_story_loads_once(world: World) -> None:
    world.opc_user.email = "opc@demo.cn"
    world.opc_user.save()
    world.provider_user.email = "lawyer@demo.cn"
    world.provider_user.save()
    make_residency(world)
    rng = random.Random(1)
    contracts_demo.load(rng)
    desk_demo.load(rng)
    review = Review.objects.get(title=contracts_demo.TITLE)
    assert review.rating == "high" and review.findings.first().category in {"future_works", "ip_assignment"}
    ticket = Ticket.objects.get(subject=desk_demo.SUBJECT)
    assert ticket.provider == world.provider and ticket.status == TicketStatus.IN_PROGRESS
    assert ticket.uses_free_quota and LegalServiceQuota.objects.get(organisation=world.opc).used == 1
    assert f"/contracts/reviews/{review.pk}/" in ticket.description
    case = LicenceCase.objects.get(organisation=world.opc)
    assert case.status == CaseStatus.PREPARING and case.site_statement is not None
    assert case.items.get(code="premises").satisfied
    contracts_demo.load(rng)
    desk_demo.load(rng)
    assert Review.objects.filter(title=contracts_demo.TITLE).count() == 1
    assert Ticket.objects.filter(subject=desk_demo.SUBJECT).count() == 1


def test_demo_story_on_the_base_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real base demo (``core.demo.load_demo``) with only these two apps' demo data, in INSTALLED_APPS
    order (contracts before servicedesk): the stories find their people and leave a consistent state."""
    from core import extensions
    from core.demo import load_demo

    def both(rng: random.Random) -> None:
        contracts_demo.load(rng)
        desk_demo.load(rng)

    monkeypatch.setattr(extensions, "load_app_demos", both)
    load_demo()
    review = Review.objects.get(title=contracts_demo.TITLE)
    assert review.organisation.memberships.filter(user__email="opc@demo.cn").exists()
    assert review.rating == "high" and review.findings.first().category in {"future_works", "ip_assignment"}
    english = Review.objects.get(title="Overseas video services agreement")
    assert english.language == "en" and english.findings.filter(category="ip_assignment").exists()
    ticket = Ticket.objects.get(subject=desk_demo.SUBJECT)
    assert (
        ticket.provider is not None
        and ticket.provider.memberships.filter(user__email="lawyer@demo.cn").exists()
    )
    assert ticket.uses_free_quota and ticket.messages.exists()
    assert Ticket.objects.filter(status=TicketStatus.CLOSED, rating=5).exists()
    assert Ticket.objects.filter(category="copyright", provider__isnull=True).exists()
    quota = LegalServiceQuota.objects.get(organisation=review.organisation)
    assert quota.used == 1 and quota.granted > 1
    case = LicenceCase.objects.get(organisation=review.organisation)
    assert case.site_statement is not None and case.items.get(code="premises").satisfied
    load_demo()  # idempotent: a second run adds nothing
    assert Ticket.objects.filter(subject=desk_demo.SUBJECT).count() == 1
    assert Review.objects.filter(title=contracts_demo.TITLE).count() == 1
    assert LicenceCase.objects.count() == 1
