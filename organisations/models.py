from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from organisations.capabilities import Capability, OrgKind, OrgSubkind


class VerificationStatus(models.TextChoices):
    UNVERIFIED = "unverified", _("Unverified")
    PENDING = "pending", _("Awaiting verification")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")


class Organisation(models.Model):
    """Any party on the platform: an OPC, a client, an operator, a provider or an authority."""

    kind = models.CharField(_("kind"), max_length=16, choices=OrgKind.choices)
    subkind = models.CharField(_("type"), max_length=24, choices=OrgSubkind.choices, blank=True, default="")
    name = models.CharField(_("name"), max_length=120)
    uscc = models.CharField(
        _("unified social credit code"), max_length=18, unique=True, null=True, blank=True
    )
    legal_representative = models.CharField(_("legal representative"), max_length=60, blank=True)
    legal_rep_id_masked = models.CharField(_("legal representative ID (masked)"), max_length=18, blank=True)
    legal_rep_id_digest = models.CharField(max_length=64, blank=True, editable=False)
    city = models.CharField(_("city"), max_length=40, blank=True)
    district = models.CharField(_("district"), max_length=40, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    description = models.TextField(_("description"), blank=True)
    home_community = models.ForeignKey(
        "communities.Community",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="member_organisations",
        verbose_name=_("community"),
    )
    verification_status = models.CharField(
        _("verification"),
        max_length=16,
        choices=VerificationStatus.choices,
        default=VerificationStatus.UNVERIFIED,
    )
    verification_note = models.CharField(_("verification note"), max_length=300, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering: ClassVar = ["name"]
        indexes: ClassVar = [models.Index(fields=["kind", "verification_status"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_verified(self) -> bool:
        return self.verification_status == VerificationStatus.VERIFIED


class MemberRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Administrator")
    STAFF = "staff", _("Staff")


class Membership(models.Model):
    """A person's place in an organisation, with the named capabilities it grants."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=12, choices=MemberRole.choices, default=MemberRole.OWNER)
    capabilities = models.JSONField(_("capabilities"), default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "organisation"], name="one_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation}"

    def has(self, capability: Capability | str) -> bool:
        return str(capability) in self.capabilities


class Skill(models.Model):
    """The controlled skill taxonomy (AI short drama, digital-human live streaming, …)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=40)
    name_en = models.CharField(_("name (English)"), max_length=60)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("skill")
        verbose_name_plural = _("skills")
        ordering: ClassVar = ["position", "code"]

    def __str__(self) -> str:
        return self.name_en if (get_language() or "").startswith("en") else self.name_zh


class TalentLevel(models.TextChoices):
    NONE = "", _("None")
    CITY = "city", _("City-level talent")
    PROVINCE = "province", _("Provincial-level talent")
    NATIONAL = "national", _("National-level talent")


class OPCProfile(models.Model):
    organisation = models.OneToOneField(
        Organisation,
        on_delete=models.CASCADE,
        related_name="opc_profile",
        limit_choices_to={"kind": OrgKind.OPC},
    )
    founder_name = models.CharField(_("founder"), max_length=60)
    headcount = models.PositiveSmallIntegerField(_("people"), default=1)
    skills = models.ManyToManyField(Skill, blank=True, related_name="profiles", verbose_name=_("skills"))
    tags = models.JSONField(_("tags"), default=list, blank=True)
    capacity = models.PositiveSmallIntegerField(_("concurrent orders"), default=2)
    rate_min = models.DecimalField(
        _("rate from (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    rate_max = models.DecimalField(_("rate to (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True)
    talent_level = models.CharField(
        _("talent certification"), max_length=12, choices=TalentLevel.choices, blank=True, default=""
    )
    founded_on = models.DateField(_("founded on"), null=True, blank=True)
    listed_publicly = models.BooleanField(_("listed in the public OPC directory"), default=False)

    class Meta:
        verbose_name = _("OPC profile")
        verbose_name_plural = _("OPC profiles")
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(headcount__gte=1, headcount__lte=3),
                name="opc_headcount_1_to_3",
                violation_error_message=_("A one-person company has 1 to 3 people."),
            ),
            models.CheckConstraint(
                condition=Q(rate_min__isnull=True)
                | Q(rate_max__isnull=True)
                | Q(rate_min__lte=models.F("rate_max")),
                name="opc_rate_range_ordered",
                violation_error_message=_("The lower rate must not exceed the upper rate."),
            ),
        ]

    def __str__(self) -> str:
        return str(self.organisation)


class PortfolioItem(models.Model):
    profile = models.ForeignKey(OPCProfile, on_delete=models.CASCADE, related_name="portfolio")
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    link = models.URLField(_("link"), blank=True)
    image = models.ImageField(_("image"), upload_to="portfolio/%Y/%m/", blank=True)
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("portfolio item")
        verbose_name_plural = _("portfolio items")
        ordering: ClassVar = ["-year", "-created_at"]

    def __str__(self) -> str:
        return self.title
