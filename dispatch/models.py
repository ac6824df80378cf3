"""Dispatch records: one ``DispatchRun`` per batch (or re-dispatch), one ``Offer`` per proposed assignment.

States change only through ``dispatch.services`` (``OFFER_TRANSITIONS`` there)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DispatchTrigger(models.TextChoices):
    SCHEDULE = "schedule", _("Scheduled")
    OPERATOR = "operator", _("Operator")
    REDISPATCH = "redispatch", _("Re-dispatch after a decline or timeout")


class DispatchRun(models.Model):
    method = models.CharField(_("method"), max_length=40)
    trigger = models.CharField(
        _("trigger"), max_length=12, choices=DispatchTrigger.choices, default=DispatchTrigger.SCHEDULE
    )
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    orders_considered = models.PositiveIntegerField(_("orders considered"), default=0)
    opcs_considered = models.PositiveIntegerField(_("OPCs considered"), default=0)
    assignments = models.PositiveIntegerField(_("assignments"), default=0)
    total_score = models.FloatField(_("total score"), default=0.0)
    params = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("dispatch run")
        verbose_name_plural = _("dispatch runs")
        ordering: ClassVar = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.method} @ {self.started_at:%Y-%m-%d %H:%M}"


class OfferStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting response")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Expired")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Offer(models.Model):
    """An order offered to one OPC by the dispatcher, to accept or decline before ``expires_at``."""

    order = models.ForeignKey("marketplace.Order", on_delete=models.CASCADE, related_name="dispatch_offers")
    opc = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="dispatch_offers"
    )
    run = models.ForeignKey(DispatchRun, on_delete=models.PROTECT, related_name="offers")
    score = models.FloatField(_("match score"))
    explanation = models.JSONField(_("explanation"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("respond by"))
    responded_at = models.DateTimeField(null=True, blank=True)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("dispatch offer")
        verbose_name_plural = _("dispatch offers")
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["status", "expires_at"], name="dispatch_offer_due")]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="pending"), name="dispatch_one_pending_offer_per_order"
            ),
            models.CheckConstraint(
                condition=Q(status__in=OfferStatus.values), name="dispatch_offer_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order} → {self.opc}"
