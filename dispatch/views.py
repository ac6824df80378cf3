"""Dispatch pages: the operator's run history with a "batch dispatch now" button and each run's assignments
(only those touching the operator's communities), and the OPC's offers to accept or decline before their
deadline. Accepting places a bid on the order (``dispatch.services.respond_to_offer``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError, NotFound, NotPermitted
from core.http import acting_user, parse_id
from dispatch import services
from dispatch.models import DispatchRun, DispatchTrigger, Offer, OfferStatus
from marketplace.selectors import operator_orders_q
from organisations.access import capability_required, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation


class OfferResponseForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("accept", gettext_lazy("Accept")), ("decline", gettext_lazy("Decline"))]
    )
    price = forms.DecimalField(
        label=gettext_lazy("Your price (CNY)"),
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal("999999999999.99"),
        max_digits=14,
        decimal_places=2,
    )
    timeline_days = forms.IntegerField(
        label=gettext_lazy("Timeline (days)"), required=False, min_value=1, max_value=3650
    )
    plan = forms.CharField(label=gettext_lazy("Plan"), max_length=20000, required=False)


def _org(request: HttpRequest) -> Organisation:
    org = scope_for(request).organisation
    if org is None:  # pragma: no cover - guarded by capability_required
        raise NotPermitted()
    return org


def _operator_offers(community_ids: set[int]) -> QuerySet[Offer]:
    """Offers touching the operator's communities: to its member OPCs, or for orders in its communities."""
    return Offer.objects.filter(
        Q(opc__home_community_id__in=community_ids) | operator_orders_q(community_ids, prefix="order__")
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def runs(request: HttpRequest) -> HttpResponse:
    page = Paginator(DispatchRun.objects.select_related("triggered_by").order_by("-started_at", "-id"), 20)
    return render(
        request,
        "dispatch/runs.html",
        {
            "page": page.get_page(request.GET.get("page")),
            "pending_offers": Offer.objects.filter(status=OfferStatus.PENDING).count(),
            "dispatchable": len(services.dispatchable_orders()),
        },
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def run_now(request: HttpRequest) -> HttpResponse:
    run = services.run_batch_dispatch(actor=acting_user(request), trigger=DispatchTrigger.OPERATOR)
    messages.success(
        request,
        _("Dispatch run finished: %(n)d offers for %(orders)d orders.")
        % {"n": run.assignments, "orders": run.orders_considered},
    )
    return redirect("dispatch:run_detail", run.pk)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    run = DispatchRun.objects.filter(pk=pk).select_related("triggered_by").first()
    if run is None:
        raise NotFound()
    offers = (
        _operator_offers(scope.managed_community_ids)
        .filter(run=run)
        .select_related("order", "order__client", "opc")
        .order_by("-score", "id")
        .distinct()
    )
    return render(request, "dispatch/run_detail.html", {"run": run, "offers": offers[:500]})


def _offer_context(opc: Organisation, **extra: Any) -> dict[str, Any]:
    offers = (
        Offer.objects.filter(opc=opc)
        .select_related("order", "order__client", "order__category")
        .order_by("-created_at", "-id")
    )
    return {
        "pending": [o for o in offers.filter(status=OfferStatus.PENDING)[:100]],
        "history": offers.exclude(status=OfferStatus.PENDING)[:100],
        "now": timezone.now(),
        "form": OfferResponseForm(),
        **extra,
    }


@capability_required()
@require_GET
def my_offers(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if org.kind != OrgKind.OPC:
        raise NotPermitted(_("Only OPCs receive dispatch offers."))
    return render(request, "dispatch/my_offers.html", _offer_context(org))


@capability_required()
@require_POST
def offer_respond(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(request)
    offer_id = parse_id(pk)
    offer = Offer.objects.filter(pk=offer_id, opc=org).first() if offer_id is not None else None
    if offer is None:
        raise NotFound()
    form = OfferResponseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please correct the answer."))
        return render(
            request,
            "dispatch/my_offers.html",
            _offer_context(org, form=form, form_offer=offer.pk),
            status=400,
        )
    data = form.cleaned_data
    accept = data["decision"] == "accept"
    try:
        services.respond_to_offer(
            offer=offer,
            accept=accept,
            actor=acting_user(request),
            opc=org,
            price=data["price"],
            timeline_days=data["timeline_days"],
            plan=data["plan"],
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(
            request,
            "dispatch/my_offers.html",
            _offer_context(org, form=form, form_offer=offer.pk),
            status=exc.status_code,
        )
    if accept:
        messages.success(request, _("Accepted: your bid was placed on the order. The client awards it."))
        return redirect("marketplace:order_detail", offer.order_id)
    messages.success(request, _("Declined. The order goes to another OPC."))
    return redirect("dispatch:my_offers")
