"""The teams demo on top of the base and market demos: a submitted team bid and a subcontract; idempotent."""

from __future__ import annotations

import random
from unittest import mock

import pytest

from teams import demo_data
from teams.models import Subcontract, Team, TeamStatus


@pytest.mark.django_db
def test_demo_teams() -> None:
    from core.demo import load_demo
    from marketplace import demo_data as market_demo

    with mock.patch("core.extensions.load_app_demos"):
        load_demo()
    market_demo.load(random.Random(2026))
    demo_data.load(random.Random(2026))
    team = Team.objects.get(name="甬城文旅联合体")
    assert team.status == TeamStatus.SUBMITTED and team.bid is not None
    assert team.members.count() >= 2
    assert team.proposal["method"] in ("exact", "heuristic", "greedy")
    assert Subcontract.objects.filter(upstream=team.pm).count() == 1
    demo_data.load(random.Random(2026))
    assert Team.objects.filter(pm=team.pm).count() == 1
