"""Top navigation links of the quota console (``core.extensions``)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from core.extensions import NavItem
from organisations.capabilities import OrgKind, OrgSubkind


def items(request: Any, scope: Any) -> list[NavItem]:
    org = scope.organisation
    if org is None:
        return []
    if org.kind == OrgKind.OPC:
        return [NavItem(_("Token quota"), reverse("quota:mine"), testid="nav-quota", order=40)]
    if scope.is_operator:
        return [NavItem(_("Token quotas"), reverse("quota:operator"), testid="nav-quota", order=40)]
    if org.kind == OrgKind.PROVIDER and org.subkind == OrgSubkind.COMPUTE:
        return [NavItem(_("Model channels"), reverse("quota:channels"), testid="nav-quota", order=40)]
    return []
