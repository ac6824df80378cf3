"""Teams (a project manager's team bid on an order, with a revenue split per member per milestone) and
subcontracts (part of an active contract passed on to another OPC with a standard acceptance checklist).

States change only through ``teams.services`` (transition tables there); money moves only through the ledger
(``TeamPayout`` / ``Subcontract.paid_amount`` record what was paid, for reconciliation).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


class TeamStatus(models.TextChoices):
    FORMING = "forming", _("Forming")
    SUBMITTED = "submitted", _("Bid submitted")
    AWARDED = "awarded", _("Awarded")
    NOT_SELECTED = "not_selected", _("Not selected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ContractForm(models.TextChoices):
    LEAD = "lead", _("Lead contractor (the client contracts with the project manager)")
    CONSORTIUM = "consortium", _("Consortium (the client contracts with the whole team)")


class Team(models.Model):
    order = models.ForeignKey("marketplace.Order", on_delete=models.PROTECT, related_name="teams")
    pm = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="managed_teams",
        verbose_name=_("project manager"),
    )
    name = models.CharField(_("team name"), max_length=120)
    status = models.CharField(
        _("status"), max_length=14, choices=TeamStatus.choices, default=TeamStatus.FORMING
    )
    timeline_days = models.PositiveIntegerField(_("timeline (days)"), default=30)
    plan = models.TextField(_("plan"), blank=True)
    split_version = models.PositiveIntegerField(default=1, editable=False)
    bid = models.OneToOneField(
        "marketplace.Bid", on_delete=models.PROTECT, null=True, blank=True, related_name="team"
    )
    contract_form = models.CharField(
        _("contract form"), max_length=12, choices=ContractForm.choices, blank=True, default=""
    )
    proposal = models.JSONField(default=dict, blank=True, editable=False)  # the solver's method and figures
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["order", "pm"],
                condition=~Q(status="withdrawn"),
                name="teams_one_live_team_per_pm_and_order",
            )
        ]

    def __str__(self) -> str:
        return self.name


class TeamMilestone(models.Model):
    """A milestone of the team's bid; becomes the contract's milestone at the same position on award."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveSmallIntegerField(default=1)
    title = models.CharField(_("title"), max_length=200)
    amount = models.DecimalField(_("amount (CNY)"), **MONEY)
    due_date = models.DateField(_("due date"))

    class Meta:
        verbose_name = _("team milestone")
        verbose_name_plural = _("team milestones")
        ordering: ClassVar = ["team_id", "position", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["team", "position"], name="teams_milestone_position_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="teams_milestone_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.title


class MemberStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed (not yet invited)")
    INVITED = "invited", _("Invited")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    REMOVED = "removed", _("Removed")


class TeamMember(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="members")
    opc = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="team_memberships"
    )
    role = models.ForeignKey(
        "organisations.Skill", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    role_label = models.CharField(_("role"), max_length=120, blank=True)
    quote = models.DecimalField(_("quote (CNY)"), null=True, blank=True, **MONEY)
    status = models.CharField(
        _("status"), max_length=10, choices=MemberStatus.choices, default=MemberStatus.PROPOSED
    )
    signed_version = models.PositiveIntegerField(default=0, editable=False)
    signed_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        ordering: ClassVar = ["team_id", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["team", "opc"], name="teams_member_once_per_team"),
        ]

    def __str__(self) -> str:
        return f"{self.opc} @ {self.team}"


class TeamShare(models.Model):
    """A member's share (CNY, before the platform fee) of one team milestone."""

    member = models.ForeignKey(TeamMember, on_delete=models.CASCADE, related_name="shares")
    milestone = models.ForeignKey(TeamMilestone, on_delete=models.CASCADE, related_name="shares")
    amount = models.DecimalField(_("share (CNY)"), **MONEY)

    class Meta:
        verbose_name = _("revenue share")
        verbose_name_plural = _("revenue shares")
        ordering: ClassVar = ["milestone__position", "member_id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["member", "milestone"], name="teams_share_once"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="teams_share_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.member} {self.amount}"


class TeamPayout(models.Model):
    """What a member received from one released contract milestone (net of its part of the fee)."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="payouts")
    member = models.ForeignKey(TeamMember, on_delete=models.PROTECT, related_name="payouts")
    milestone = models.ForeignKey("marketplace.Milestone", on_delete=models.PROTECT, related_name="+")
    share = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY)
    net = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("team payout")
        verbose_name_plural = _("team payouts")
        ordering: ClassVar = ["milestone_id", "member_id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["member", "milestone"], name="teams_payout_once"),
        ]

    def __str__(self) -> str:
        return f"{self.member} {self.net}"


class SubMilestoneStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")


class SubMilestone(models.Model):
    """A member's own part of a team milestone (planned by the PM, ticked off by the member)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="sub_milestones")
    milestone = models.ForeignKey(TeamMilestone, on_delete=models.CASCADE, related_name="sub_milestones")
    member = models.ForeignKey(TeamMember, on_delete=models.CASCADE, related_name="sub_milestones")
    title = models.CharField(_("title"), max_length=200)
    due_date = models.DateField(_("due date"))
    status = models.CharField(
        _("status"), max_length=6, choices=SubMilestoneStatus.choices, default=SubMilestoneStatus.OPEN
    )
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sub-milestone")
        verbose_name_plural = _("sub-milestones")
        ordering: ClassVar = ["milestone__position", "due_date", "id"]

    def __str__(self) -> str:
        return self.title


class DeliverableType(models.TextChoices):
    VIDEO = "video", _("Video")
    IMAGE = "image", _("Images / design")
    AUDIO = "audio", _("Audio / voice-over")
    SCRIPT = "script", _("Script / copy")
    SOFTWARE = "software", _("Software / agent")


class SubcontractStatus(models.TextChoices):
    OPEN = "open", _("Open")
    AWARDED = "awarded", _("Taken")
    DELIVERED = "delivered", _("Delivered")
    REVISION = "revision", _("Revision requested")
    ACCEPTED = "accepted", _("Accepted (paid with the milestone release)")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


class SubcontractVisibility(models.TextChoices):
    INVITED = "invited", _("Invited OPCs only")
    COMMUNITY = "community", _("My community")


class Subcontract(models.Model):
    contract = models.ForeignKey(
        "marketplace.Contract", on_delete=models.PROTECT, related_name="subcontracts"
    )
    milestone = models.ForeignKey(
        "marketplace.Milestone",
        on_delete=models.PROTECT,
        related_name="subcontracts",
        verbose_name=_("paid from milestone"),
    )
    upstream = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    subcontractor = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="subcontracts_taken",
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    deliverable_type = models.CharField(_("deliverable type"), max_length=10, choices=DeliverableType.choices)
    criteria = models.JSONField(_("acceptance criteria"), default=list)
    price = models.DecimalField(_("price (CNY)"), **MONEY)
    deadline = models.DateField(_("deadline"))
    visibility = models.CharField(
        _("visible to"),
        max_length=10,
        choices=SubcontractVisibility.choices,
        default=SubcontractVisibility.INVITED,
    )
    community = models.ForeignKey(
        "communities.Community", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    invited = models.ManyToManyField("organisations.Organisation", blank=True, related_name="+")
    status = models.CharField(
        _("status"), max_length=10, choices=SubcontractStatus.choices, default=SubcontractStatus.OPEN
    )
    revision_rounds_used = models.PositiveSmallIntegerField(default=0)
    delivery_note = models.TextField(_("delivery note"), blank=True)
    checklist = models.JSONField(default=dict, blank=True)  # criterion key → passed (bool), at acceptance
    paid_amount = models.DecimalField(default=0, editable=False, **MONEY)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("subcontract")
        verbose_name_plural = _("subcontracts")
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(price__gt=0), name="teams_subcontract_price_positive"),
            models.CheckConstraint(
                condition=Q(status__in=SubcontractStatus.values), name="teams_subcontract_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title
