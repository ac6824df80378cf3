"""Top navigation: the copyright registry for rights holders (OPCs), copyright agencies, and the operators and
authorities who read its figures."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from core.extensions import NavItem
from rights.services import can_oversee, can_scan


def items(request: Any, scope: Any) -> list[NavItem]:
    if not (can_scan(getattr(scope, "organisation", None)) or (scope is not None and can_oversee(scope))):
        return []
    return [NavItem(label=_("Copyright"), url=reverse("rights:home"), testid="nav-rights", order=60)]
