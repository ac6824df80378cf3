"""Top-navigation link of the teams app (``core.extensions``): OPCs and community operators."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from core.extensions import NavItem
from organisations.capabilities import OrgKind


def items(request: Any, scope: Any) -> list[NavItem]:
    org = scope.organisation
    if org is None or not (org.kind == OrgKind.OPC or scope.is_operator):
        return []
    return [NavItem(_("Teams"), reverse("teams:my_teams"), "nav-teams", 13)]
