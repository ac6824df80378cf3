"""Named capabilities a membership carries. Views and API endpoints declare the one they need
(``organisations.access``); tests check them as a matrix."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Capability(models.TextChoices):
    ORG_MANAGE = "org.manage", _("Manage the organisation's profile and people")
    TOKENS_MANAGE = "tokens.manage", _("Create and revoke API tokens")
    LEDGER_VIEW = "ledger.view", _("See the organisation's accounts")
    # community operator
    COMMUNITY_MANAGE = "community.manage", _("Manage communities, workstations and residencies")
    MEMBERS_VERIFY = "members.verify", _("Verify or reject member organisations")
    STATEMENTS_ISSUE = "statements.issue", _("Issue site statements")
    AUDIT_VIEW = "audit.view", _("Browse the audit trail")
    # government authority
    OVERSIGHT_VIEW = "oversight.view", _("Read aggregate figures")


class OrgKind(models.TextChoices):
    OPC = "opc", _("One-person company (OPC)")
    CLIENT = "client", _("Client")
    OPERATOR = "operator", _("Community operator")
    PROVIDER = "provider", _("Service provider")
    AUTHORITY = "authority", _("Government authority")


class OrgSubkind(models.TextChoices):
    NONE = "", _("—")
    ENTERPRISE = "enterprise", _("Enterprise")
    GOVERNMENT = "government", _("Government department")
    SOE = "soe", _("State-owned enterprise")
    LAW_FIRM = "law_firm", _("Law firm")
    ACCOUNTING = "accounting", _("Accounting firm")
    COMPUTE = "compute", _("Compliant compute provider")
    COPYRIGHT_AGENCY = "copyright_agency", _("Copyright agency")
    BANK = "bank", _("Bank")
    INSURER = "insurer", _("Insurer")


SUBKINDS_BY_KIND: dict[str, set[str]] = {
    OrgKind.OPC: {OrgSubkind.NONE},
    OrgKind.CLIENT: {OrgSubkind.ENTERPRISE, OrgSubkind.GOVERNMENT, OrgSubkind.SOE},
    OrgKind.OPERATOR: {OrgSubkind.NONE},
    OrgKind.PROVIDER: {
        OrgSubkind.LAW_FIRM,
        OrgSubkind.ACCOUNTING,
        OrgSubkind.COMPUTE,
        OrgSubkind.COPYRIGHT_AGENCY,
        OrgSubkind.BANK,
        OrgSubkind.INSURER,
    },
    OrgKind.AUTHORITY: {OrgSubkind.NONE},
}

_COMMON = [Capability.ORG_MANAGE, Capability.TOKENS_MANAGE, Capability.LEDGER_VIEW]

OWNER_CAPABILITIES: dict[str, list[str]] = {
    OrgKind.OPC: [*_COMMON],
    OrgKind.CLIENT: [*_COMMON],
    OrgKind.PROVIDER: [*_COMMON],
    OrgKind.OPERATOR: [
        *_COMMON,
        Capability.COMMUNITY_MANAGE,
        Capability.MEMBERS_VERIFY,
        Capability.STATEMENTS_ISSUE,
        Capability.AUDIT_VIEW,
    ],
    OrgKind.AUTHORITY: [
        Capability.ORG_MANAGE,
        Capability.TOKENS_MANAGE,
        Capability.OVERSIGHT_VIEW,
        Capability.AUDIT_VIEW,
    ],
}
