"""Admin: acceptance templates are edited here; everything that carries state or money is read-only (it
changes only through ``marketplace.services``)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from marketplace.models import (
    AcceptanceTemplate,
    Bid,
    ContestEntry,
    Contract,
    Dispute,
    Milestone,
    Notification,
    Order,
)


@admin.register(AcceptanceTemplate)
class AcceptanceTemplateAdmin(admin.ModelAdmin):
    list_display = ("category",)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("title", "client", "mode", "status", "is_procurement", "budget_max", "deadline")
    list_filter = ("status", "mode", "visibility", "is_procurement", "procurement_method")
    search_fields = ("title", "client__name")
    list_select_related = ("client",)


@admin.register(Bid)
class BidAdmin(ReadOnlyAdmin):
    list_display = ("order", "opc", "price", "timeline_days", "status")
    list_select_related = ("order", "opc")


@admin.register(ContestEntry)
class ContestEntryAdmin(ReadOnlyAdmin):
    list_display = ("order", "opc", "status")
    list_select_related = ("order", "opc")


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ("order", "client", "opc", "price", "status")
    list_select_related = ("order", "client", "opc")


@admin.register(Milestone)
class MilestoneAdmin(ReadOnlyAdmin):
    list_display = ("title", "contract", "amount", "status", "revision_rounds", "due_date")
    list_filter = ("status",)


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = ("milestone", "opened_by", "mediator", "status", "amount_to_opc", "amount_to_client")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("recipient", "kind", "created_at", "read_at")
