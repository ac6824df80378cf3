"""Top-navigation link of contract review: every member organisation may review its contracts."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from core.extensions import NavItem


def items(request: Any, scope: Any) -> list[NavItem]:
    if scope.organisation is None:
        return []
    return [NavItem(_("Contract review"), reverse("contracts:reviews"), "nav-contract-review", 40)]
