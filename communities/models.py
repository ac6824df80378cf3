from __future__ import annotations

import secrets
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LandUse(models.TextChoices):
    EDUCATION = "education", _("Education (re-used school building)")
    WAREHOUSE = "warehouse", _("Warehouse")
    OFFICE = "office", _("Office")
    INDUSTRIAL = "industrial", _("Industrial")
    COMMERCIAL = "commercial", _("Commercial")
    OTHER = "other", _("Other")


class CommunityNetwork(models.Model):
    """Communities run by one operator under one programme (e.g. Haishu's distributed AiOPC communities)."""

    name = models.CharField(_("name"), max_length=120)
    operator = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="community_networks"
    )
    city = models.CharField(_("city"), max_length=40, blank=True)
    planned_communities = models.PositiveSmallIntegerField(_("planned communities"), default=0)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("community network")
        verbose_name_plural = _("community networks")

    def __str__(self) -> str:
        return self.name


class Community(models.Model):
    name = models.CharField(_("name"), max_length=120)
    network = models.ForeignKey(
        CommunityNetwork, on_delete=models.SET_NULL, null=True, blank=True, related_name="communities"
    )
    operator = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="operated_communities",
        verbose_name=_("operator"),
    )
    city = models.CharField(_("city"), max_length=40)
    district = models.CharField(_("district"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=200)
    land_use = models.CharField(_("land use"), max_length=16, choices=LandUse.choices, default=LandUse.OFFICE)
    sectors = models.ManyToManyField(
        "organisations.Skill", blank=True, related_name="communities", verbose_name=_("positioning sectors")
    )
    positioning = models.CharField(_("positioning"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    opened_on = models.DateField(_("opened on"), null=True, blank=True)
    is_public = models.BooleanField(_("listed in the public directory"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        ordering: ClassVar = ["city", "district", "name"]

    def __str__(self) -> str:
        return self.name


class WorkstationStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    OCCUPIED = "occupied", _("Occupied")
    RESERVED = "reserved", _("Reserved")
    OUT_OF_SERVICE = "out_of_service", _("Out of service")


class Workstation(models.Model):
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="workstations")
    code = models.CharField(_("code"), max_length=20)
    zone = models.CharField(_("zone"), max_length=40, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=WorkstationStatus.choices, default=WorkstationStatus.AVAILABLE
    )

    class Meta:
        verbose_name = _("workstation")
        verbose_name_plural = _("workstations")
        ordering: ClassVar = ["community", "zone", "code"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["community", "code"], name="workstation_code_unique_in_community")
        ]

    def __str__(self) -> str:
        return f"{self.community} · {self.code}"


class Residency(models.Model):
    """An OPC occupying a workstation from ``start_date`` until ``end_date`` (open-ended while null).
    Rent is zero by default (Haishu's zero-rent workstations)."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="residencies"
    )
    workstation = models.ForeignKey(Workstation, on_delete=models.PROTECT, related_name="residencies")
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    monthly_rent = models.DecimalField(
        _("monthly rent (CNY)"), max_digits=10, decimal_places=2, default=Decimal("0.00")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("residency")
        verbose_name_plural = _("residencies")
        ordering: ClassVar = ["-start_date"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["workstation"],
                condition=Q(end_date__isnull=True),
                name="one_open_residency_per_workstation",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="residency_ends_after_start",
            ),
            models.CheckConstraint(condition=Q(monthly_rent__gte=0), name="residency_rent_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} @ {self.workstation}"

    @property
    def is_open(self) -> bool:
        return self.end_date is None or self.end_date >= timezone.localdate()


def new_verification_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I
    return "".join(secrets.choice(alphabet) for _ in range(12))


class SiteStatement(models.Model):
    """场地情况说明: a statement an operator issues for a resident's registration address. The facts printed
    on the PDF are frozen in ``facts`` so the public verification page shows exactly what was issued."""

    residency = models.ForeignKey(Residency, on_delete=models.PROTECT, related_name="statements")
    code = models.CharField(_("verification code"), max_length=16, unique=True, default=new_verification_code)
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)
    facts = models.JSONField(_("facts"), default=dict)
    pdf = models.FileField(_("PDF"), upload_to="statements/%Y/%m/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("reason for revocation"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("site statement")
        verbose_name_plural = _("site statements")
        ordering: ClassVar = ["-issued_at"]

    def __str__(self) -> str:
        return self.code
