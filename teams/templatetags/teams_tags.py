"""Template tags for the teams panels included in the marketplace's order and contract pages."""

from __future__ import annotations

from typing import Any

from django import template

from teams import selectors
from teams.models import TeamStatus

register = template.Library()


@register.simple_tag
def submitted_teams(order: Any) -> list[Any]:
    """Teams whose bid on ``order`` is submitted or decided (what the client may see)."""
    return list(
        selectors.teams_for_order(order).exclude(status__in=(TeamStatus.FORMING, TeamStatus.WITHDRAWN))
    )


@register.simple_tag
def my_team(order: Any, org: Any) -> Any:
    if org is None:
        return None
    return selectors.teams_for_order(order).filter(pm=org).exclude(status=TeamStatus.WITHDRAWN).first()


@register.simple_tag
def team_of_contract(contract: Any) -> Any:
    return selectors.team_of_contract(contract)


@register.simple_tag
def subcontracts_of(contract: Any) -> list[Any]:
    return list(selectors.subcontracts_of_contract(contract))
