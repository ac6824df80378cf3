"""Marketplace pages: browsing and the procurement zone (public), the order page (what it shows depends on who
looks), posting and editing orders, bids, contest entries, direct orders, contracts with milestones and escrow,
disputes and notifications.

Views are thin: objects come from ``marketplace.selectors`` for the caller's organisation (another tenant's →
404), writes go through ``marketplace.services``; a refused rule re-renders the page with the message and the
error's status (409 for an illegal transition, 403 not permitted, 400 bad input), and nothing changes.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError, NotFound, NotPermitted
from core.http import acting_user
from marketplace import selectors, services
from marketplace.forms import (
    AttachmentForm,
    BidForm,
    BrowseFilterForm,
    CancelForm,
    DecideForm,
    DeclineForm,
    DeliverForm,
    DisputeForm,
    EntryForm,
    InviteForm,
    KeyedForm,
    MilestoneFormSet,
    OrderEditForm,
    OrderForm,
    ProcurementFilterForm,
    PublishForm,
    ReassignForm,
    RevisionForm,
)
from marketplace.models import (
    AcceptanceTemplate,
    BidStatus,
    Contract,
    DisputeStatus,
    Milestone,
    MilestoneStatus,
    Order,
    OrderMode,
    OrderStatus,
)
from organisations.access import Scope, capability_required, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation, Skill

PAGE_SIZE = 20


def _org(request: HttpRequest) -> Organisation:
    """The caller's active organisation (``capability_required`` guarantees one)."""
    org = scope_for(request).organisation
    if org is None:  # pragma: no cover - guarded by capability_required
        raise NotPermitted()
    return org


def _poster(request: HttpRequest) -> Organisation:
    """The caller's organisation when it may post and manage orders (clients, and OPCs passing work on)."""
    org = _org(request)
    if org.kind not in (OrgKind.CLIENT, OrgKind.OPC):
        raise NotPermitted(_("Only clients and OPCs post orders."))
    return org


def _opc(request: HttpRequest) -> Organisation:
    org = _org(request)
    if org.kind != OrgKind.OPC:
        raise NotPermitted(_("Only OPCs can do this."))
    return org


def _page(request: HttpRequest, qs: Any, size: int = PAGE_SIZE) -> Any:
    return Paginator(qs, size).get_page(request.GET.get("page"))


class ListingPaginator(Paginator):
    """Pages of a large order listing (browse, procurement zone) whose cost does not grow with the data.

    * The count stops ``LOOKAHEAD`` pages after the requested one (``SELECT COUNT(*) FROM (… LIMIT n)``,
      without the listing's joins and bid counts): the pager then reads "page 3 of 13+" (``more``) instead
      of counting every open order on each view.
    * A page is read in two steps: the ids of its rows (the listing index range, no joins), then those rows
      with everything a card shows. The joins and the bid-count subquery run for the 20 rows shown, never
      for the rows an OFFSET skips."""

    LOOKAHEAD = 10
    MAX_PAGE = 5000  # a deeper page is answered with the last page counted

    def __init__(self, object_list: QuerySet[Any], per_page: int, *, requested: Any) -> None:
        super().__init__(object_list, per_page)
        self.queryset = object_list
        try:
            number = int(requested)
        except (TypeError, ValueError):
            number = 1
        self.requested = min(max(number, 1), self.MAX_PAGE)
        self.more = False

    @cached_property
    def count(self) -> int:
        limit = (self.requested + self.LOOKAHEAD) * self.per_page
        found = int(self.queryset.order_by().values("pk")[: limit + 1].count())
        if found > limit:
            self.more = True
            return limit
        return found

    def page(self, number: Any) -> Page[Any]:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        ids = list(self.queryset.values_list("pk", flat=True)[bottom : bottom + self.per_page])
        rows = {row.pk: row for row in self.queryset.filter(pk__in=ids)} if ids else {}
        return Page([rows[pk] for pk in ids if pk in rows], number, self)


def _listing_page(request: HttpRequest, qs: Any, size: int = PAGE_SIZE) -> Any:
    requested = request.GET.get("page")
    return ListingPaginator(qs, size, requested=requested).get_page(requested)


# -- public: browse and the procurement zone ----------------------------------------------------------------------
@require_GET
def browse(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    viewer = scope.organisation if request.user.is_authenticated else None
    form = BrowseFilterForm(request.GET or None)
    qs = selectors.filter_orders(selectors.browse_orders(viewer), **form.filters())
    return render(
        request,
        "marketplace/browse.html",
        {"page": _listing_page(request, qs), "form": form, "viewer": viewer},
    )


@require_GET
def procurement_zone(request: HttpRequest) -> HttpResponse:
    form = ProcurementFilterForm(request.GET or None)
    qs = selectors.procurement_zone_orders(**form.filters())
    return render(
        request, "marketplace/procurement_zone.html", {"page": _listing_page(request, qs), "form": form}
    )


# -- the order page ------------------------------------------------------------------------------------------------
def _find_order(scope: Scope, org: Organisation | None, pk: Any) -> tuple[str, Order]:
    """The order as the caller may see it, and the caller's role: client (owner), opc, operator or visitor."""
    if org is not None:
        if org.kind in (OrgKind.CLIENT, OrgKind.OPC):
            try:
                return "client", selectors.get_order_for_client(org, pk)
            except NotFound:
                pass
        if org.kind == OrgKind.OPC:
            try:
                return "opc", selectors.get_order_for_opc(org, pk)
            except NotFound:
                pass
        if org.kind == OrgKind.OPERATOR and scope.managed_community_ids:
            try:
                return "operator", selectors.get_order_for_operator(scope.managed_community_ids, pk)
            except NotFound:
                pass
    return "visitor", selectors.get_public_order(pk)


def _order_page(request: HttpRequest, pk: Any, *, status: int = 200, **overrides: Any) -> HttpResponse:
    scope = scope_for(request)
    org = scope.organisation if request.user.is_authenticated else None
    role, order = _find_order(scope, org, pk)
    context: dict[str, Any] = {"order": order, "role": role, "org": org}
    if role == "client":
        context.update(_client_context(order))
    elif role == "opc":
        assert org is not None
        context.update(_opc_context(order, org))
    elif role == "operator":
        context["bids"] = list(order.bids.all())
        context["entries"] = list(order.entries.all())
        context["contract"] = selectors.contract_of(order)
    context.update(overrides)
    return render(request, "marketplace/order_detail.html", context, status=status)


def _with_reputations(opcs: list[Organisation]) -> None:
    """Attach the trust app's reputation to every OPC shown in a row (three queries for the whole list,
    whatever its length), so ``trust/_opc_reputation.html`` per row adds no query."""
    try:
        from trust.selectors import attach_reputations
    except ImportError:  # pragma: no cover - the trust app is optional for the marketplace
        return
    attach_reputations(opcs)


def _client_context(order: Order) -> dict[str, Any]:
    bids = list(order.bids.all())
    context: dict[str, Any] = {
        "bids": bids,
        "entries": list(order.entries.all()),
        "invited_ids": {o.pk for o in order.invited_opcs.all()},
        "contract": selectors.contract_of(order),
        "cancel_form": CancelForm(),
        "attachment_form": AttachmentForm(),
        "reassign_form": ReassignForm(),
        "active_bid_states": (BidStatus.SUBMITTED, BidStatus.SHORTLISTED),
    }
    # the recommendations are loaded by htmx from ``order_recommendations`` so this page stays fast
    context["show_recommendations"] = _recommendable(order)
    _with_reputations([b.opc for b in bids])
    return context


def _recommendable(order: Order) -> bool:
    return order.status in (OrderStatus.DRAFT, OrderStatus.OPEN) and order.mode != OrderMode.DIRECT


def _opc_context(order: Order, opc: Organisation) -> dict[str, Any]:
    contract = selectors.contract_of(order)
    return {
        "my_bid": selectors.own_bid(order, opc),
        "my_entry": selectors.own_entry(order, opc),
        "contract": contract if contract is not None and contract.opc_id == opc.pk else None,
        "bid_form": BidForm(),
        "entry_form": EntryForm(),
        "decline_form": DeclineForm(),
        "is_named_opc": order.direct_opc_id == opc.pk,
    }


@require_GET
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _order_page(request, pk)


@capability_required()
@require_GET
def order_recommendations(request: HttpRequest, pk: int) -> HttpResponse:
    """The recommended OPCs of one of the client's own orders (an htmx fragment of the order page; the
    ranking reads the OPCs holding the order's category and their contract and offer counts)."""
    org = _poster(request)
    order = selectors.get_order_for_client(org, pk)
    recommendations: list[Any] = []
    if _recommendable(order):
        from dispatch.services import recommend_for_order

        recommendations = recommend_for_order(order=order, limit=10)
        _with_reputations([r.opc for r in recommendations])
    return render(
        request,
        "marketplace/_recommendations.html",
        {
            "order": order,
            "recommendations": recommendations,
            "invited_ids": {o.pk for o in order.invited_opcs.all()},
        },
    )


def _refused(request: HttpRequest, order_pk: Any, exc: DomainError, **overrides: Any) -> HttpResponse:
    """Show the order page again with the refusal's message and status; nothing was changed."""
    messages.error(request, exc.message)
    return _order_page(request, order_pk, status=exc.status_code, **overrides)


# -- client: my orders, post, edit, publish, cancel, attach, invite ------------------------------------------------
@capability_required()
@require_GET
def my_orders(request: HttpRequest) -> HttpResponse:
    org = _poster(request)
    status = request.GET.get("status", "")
    qs = selectors.orders_for_client(org)
    if status in OrderStatus.values:
        qs = qs.filter(status=status)
    return render(
        request,
        "marketplace/my_orders.html",
        {"page": _page(request, qs), "status": status, "statuses": OrderStatus.choices},
    )


@capability_required()
@require_http_methods(["GET", "POST"])
def order_post(request: HttpRequest) -> HttpResponse:
    org = _poster(request)
    form = OrderForm(request.POST or None, request.FILES or None, client=org)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                with transaction.atomic():
                    order = services.post_order(
                        client=org, actor=acting_user(request), **form.service_kwargs()
                    )
                    upload = form.cleaned_data.get("attachment")
                    if upload:
                        services.add_attachment(
                            order=order, client=org, actor=acting_user(request), upload=upload
                        )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Order “%(title)s” saved as a draft. Publish it when ready.") % {"title": order.title},
                )
                return redirect("marketplace:order_detail", order.pk)
        status = 400
    return render(request, "marketplace/order_form.html", {"form": form, "org": org}, status=status)


@capability_required()
@require_GET
def acceptance_template(request: HttpRequest) -> HttpResponse:
    """htmx: the deliverables and acceptance criteria fields prefilled from the category's template."""
    code = request.GET.get("category", "")[:40]
    template = AcceptanceTemplate.objects.filter(category__code=code).select_related("category").first()
    return render(
        request,
        "marketplace/_criteria_fields.html",
        {
            "deliverables": template.deliverables if template else "",
            "acceptance_criteria": template.acceptance_criteria if template else "",
            "category": Skill.objects.filter(code=code).first(),
        },
    )


@capability_required()
@require_http_methods(["GET", "POST"])
def order_edit(request: HttpRequest, pk: int) -> HttpResponse:
    org = _poster(request)
    order = selectors.get_order_for_client(org, pk)
    initial = {name: getattr(order, name) for name in services.EDITABLE_FIELDS}
    form = OrderEditForm(request.POST or None, initial=initial)
    status = 200
    if order.status != OrderStatus.DRAFT:
        messages.error(request, _("Only a draft order can be edited."))
        status = 409
    elif request.method == "POST":
        if form.is_valid():
            try:
                services.update_order(
                    order=order, client=org, actor=acting_user(request), **form.cleaned_data
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Saved."))
                return redirect("marketplace:order_detail", order.pk)
        else:
            status = 400
    return render(request, "marketplace/order_edit.html", {"form": form, "order": order}, status=status)


@capability_required()
@require_POST
def order_publish(request: HttpRequest, pk: int) -> HttpResponse:
    org = _poster(request)
    order = selectors.get_order_for_client(org, pk)
    form = PublishForm(request.POST)
    key = form.cleaned_data["idempotency_key"] if form.is_valid() else ""
    try:
        services.publish_order(order=order, client=org, actor=acting_user(request), idempotency_key=key)
    except DomainError as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("Order published."))
    return redirect("marketplace:order_detail", order.pk)


@capability_required()
@require_POST
def order_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    org = _poster(request)
    order = selectors.get_order_for_client(org, pk)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _refused(request, pk, DomainError(_("The reason is too long.")), cancel_form=form)
    try:
        services.cancel_order(
            order=order,
            client=org,
            actor=acting_user(request),
            reason=form.cleaned_data["reason"],
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except DomainError as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("Order cancelled."))
    return redirect("marketplace:order_detail", order.pk)


@capability_required()
@require_POST
def order_attach(request: HttpRequest, pk: int) -> HttpResponse:
    org = _poster(request)
    order = selectors.get_order_for_client(org, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        return _refused(request, pk, DomainError(_("Choose a file to attach.")), attachment_form=form)
    try:
        services.add_attachment(
            order=order, client=org, actor=acting_user(request), upload=form.cleaned_data["file"]
        )
    except DomainError as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("File attached."))
    return redirect("marketplace:order_detail", order.pk)


@capability_required()
@require_POST
def order_invite(request: HttpRequest, pk: int) -> HttpResponse:
    org = _poster(request)
    order = selectors.get_order_for_client(org, pk)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _refused(request, pk, DomainError(_("Choose an OPC to invite.")))
    opc = form.cleaned_data["opc"]
    try:
        services.invite_opc(order=order, client=org, actor=acting_user(request), opc=opc)
    except DomainError as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("%(opc)s was invited.") % {"opc": opc.name})
    return redirect("marketplace:order_detail", order.pk)


# -- bids ----------------------------------------------------------------------------------------------------------
@capability_required()
@require_POST
def bid_submit(request: HttpRequest, pk: int) -> HttpResponse:
    opc = _opc(request)
    order = selectors.get_order_for_opc(opc, pk)
    form = BidForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please correct the bid."))
        return _order_page(request, pk, status=400, bid_form=form)
    try:
        services.submit_bid(order=order, opc=opc, actor=acting_user(request), **form.cleaned_data)
    except DomainError as exc:
        return _refused(request, pk, exc, bid_form=form)
    messages.success(request, _("Your bid was submitted."))
    return redirect("marketplace:order_detail", order.pk)


@capability_required()
@require_POST
def bid_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    opc = _opc(request)
    bid = selectors.get_bid_for_opc(opc, pk)
    try:
        services.withdraw_bid(bid=bid, opc=opc, actor=acting_user(request))
    except DomainError as exc:
        return _refused(request, bid.order_id, exc)
    messages.success(request, _("Your bid was withdrawn."))
    return redirect("marketplace:order_detail", bid.order_id)


@capability_required()
@require_POST
def bid_shortlist(request: HttpRequest, pk: int) -> HttpResponse:
    org = _poster(request)
    bid = selectors.get_bid_for_client(org, pk)
    try:
        services.shortlist_bid(bid=bid, client=org, actor=acting_user(request))
    except DomainError as exc:
        return _refused(request, bid.order_id, exc)
    messages.success(request, _("%(opc)s was shortlisted.") % {"opc": bid.opc.name})
    return redirect("marketplace:order_detail", bid.order_id)


@capability_required()
@require_http_methods(["GET", "POST"])
def bid_award(request: HttpRequest, pk: int) -> HttpResponse:
    """The client awards the order to a bid, splitting the price into milestones."""
    org = _poster(request)
    bid = selectors.get_bid_for_client(org, pk)
    order = bid.order
    initial = [
        {
            "title": order.title,
            "amount": bid.price,
            "due_date": order.deadline,
            "acceptance_criteria": order.acceptance_criteria,
        }
    ]
    formset = MilestoneFormSet(request.POST or None, initial=None if request.POST else initial, prefix="ms")
    status = 200
    if request.method == "POST":
        if formset.is_valid():
            specs = [
                services.MilestoneSpec(**f.cleaned_data)
                for f in formset.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE")
            ]
            try:
                contract = services.award_bid(
                    order=order, bid=bid, client=org, actor=acting_user(request), milestones=specs
                )
            except DomainError as exc:
                messages.error(request, exc.message)
                status = exc.status_code
            else:
                messages.success(
                    request,
                    _("Awarded to %(opc)s. Fund the first milestone so the work can start.")
                    % {"opc": bid.opc.name},
                )
                return redirect("marketplace:contract_detail", contract.pk)
        else:
            status = 400
    return render(
        request,
        "marketplace/award.html",
        {"bid": bid, "order": order, "formset": formset},
        status=status,
    )


# -- contests ------------------------------------------------------------------------------------------------------
@capability_required()
@require_POST
def entry_submit(request: HttpRequest, pk: int) -> HttpResponse:
    opc = _opc(request)
    order = selectors.get_order_for_opc(opc, pk)
    form = EntryForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please correct the entry."))
        return _order_page(request, pk, status=400, entry_form=form)
    try:
        services.submit_contest_entry(order=order, opc=opc, actor=acting_user(request), **form.cleaned_data)
    except DomainError as exc:
        return _refused(request, pk, exc, entry_form=form)
    messages.success(request, _("Your entry was submitted."))
    return redirect("marketplace:order_detail", order.pk)


@capability_required()
@require_POST
def entry_pick(request: HttpRequest, pk: int) -> HttpResponse:
    org = _poster(request)
    entry = selectors.get_entry_for_client(org, pk)
    form = KeyedForm(request.POST)
    if not form.is_valid():
        return _refused(request, entry.order_id, DomainError(_("The form has expired; please try again.")))
    try:
        services.pick_contest_winner(
            order=entry.order,
            entry=entry,
            client=org,
            actor=acting_user(request),
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except DomainError as exc:
        return _refused(request, entry.order_id, exc)
    messages.success(request, _("%(opc)s won; the reward was paid out.") % {"opc": entry.opc.name})
    return redirect("marketplace:order_detail", entry.order_id)


# -- direct orders -------------------------------------------------------------------------------------------------
@capability_required()
@require_POST
def direct_accept(request: HttpRequest, pk: int) -> HttpResponse:
    opc = _opc(request)
    order = selectors.get_order_for_opc(opc, pk)
    try:
        contract = services.accept_direct_order(order=order, opc=opc, actor=acting_user(request))
    except DomainError as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("You accepted the order. The client funds the milestone next."))
    return redirect("marketplace:contract_detail", contract.pk)


@capability_required()
@require_POST
def direct_decline(request: HttpRequest, pk: int) -> HttpResponse:
    opc = _opc(request)
    order = selectors.get_order_for_opc(opc, pk)
    form = DeclineForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.decline_direct_order(order=order, opc=opc, actor=acting_user(request), reason=reason)
    except DomainError as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("You declined the order."))
    return redirect("marketplace:my_bids")


@capability_required()
@require_POST
def direct_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    org = _poster(request)
    order = selectors.get_order_for_client(org, pk)
    form = ReassignForm(request.POST)
    if not form.is_valid():
        return _refused(request, pk, DomainError(_("Choose the OPC to offer the order to.")))
    try:
        services.reassign_direct_order(
            order=order, client=org, actor=acting_user(request), opc=form.cleaned_data["opc"]
        )
    except DomainError as exc:
        return _refused(request, pk, exc)
    messages.success(
        request,
        _("The order now names %(opc)s; publish it to offer it.") % {"opc": form.cleaned_data["opc"].name},
    )
    return redirect("marketplace:order_detail", order.pk)


# -- OPC: my bids, my contracts ------------------------------------------------------------------------------------
@capability_required()
@require_GET
def my_bids(request: HttpRequest) -> HttpResponse:
    opc = _opc(request)
    return render(
        request,
        "marketplace/my_bids.html",
        {
            "page": _page(request, selectors.bids_for_opc(opc)),
            "direct_offers": selectors.direct_offers_for_opc(opc)[:50],
        },
    )


@capability_required()
@require_GET
def my_contracts(request: HttpRequest) -> HttpResponse:
    org = _poster(request)
    return render(
        request,
        "marketplace/my_contracts.html",
        {"page": _page(request, selectors.contracts_for_organisation(org)), "org": org},
    )


# -- contracts and milestones --------------------------------------------------------------------------------------
def _contract_page(request: HttpRequest, pk: Any, *, status: int = 200, **overrides: Any) -> HttpResponse:
    org = _org(request)
    role = "party"
    try:
        contract = selectors.get_contract_for_organisation(org, pk)
    except NotFound:
        if org.kind != OrgKind.OPERATOR:
            raise
        contract = selectors.get_contract_for_mediator(org, pk)
        role = "mediator"
    if role == "party":
        role = "client" if contract.client_id == org.pk else "opc"
    context: dict[str, Any] = {
        "contract": contract,
        "order": contract.order,
        "milestones": list(contract.milestones.all()),
        "role": role,
        "org": org,
        "escrow_balance": contract.escrow_account.balance if contract.escrow_account else None,
        "deliver_form": DeliverForm(),
        "revision_form": RevisionForm(),
        "dispute_form": DisputeForm(),
        "form_milestone": None,
        "ms": MilestoneStatus,
    }
    context.update(overrides)
    return render(request, "marketplace/contract_detail.html", context, status=status)


@capability_required()
@require_GET
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _contract_page(request, pk)


def _milestone_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    org = _org(request)
    milestone = selectors.get_milestone_for_party(org, pk)
    contract_pk = milestone.contract_id
    actor = acting_user(request)
    forms_by_action: dict[str, Any] = {
        "fund": KeyedForm,
        "accept": KeyedForm,
        "deliver": DeliverForm,
        "revision": RevisionForm,
        "dispute": DisputeForm,
    }
    form = forms_by_action[action](request.POST)
    if not form.is_valid():
        messages.error(request, _("Please correct the form."))
        return _contract_page(
            request, contract_pk, status=400, form_milestone=milestone.pk, **{f"{action}_form": form}
        )
    data = form.cleaned_data
    try:
        if action == "fund":
            services.fund_milestone(
                milestone=milestone, client=org, actor=actor, idempotency_key=data["idempotency_key"]
            )
            done = _("Milestone funded: the money is held in escrow until you accept the delivery.")
        elif action == "accept":
            services.accept_milestone(
                milestone=milestone, client=org, actor=actor, idempotency_key=data["idempotency_key"]
            )
            done = _("Delivery accepted; the money was released to the OPC.")
        elif action == "deliver":
            services.deliver_milestone(milestone=milestone, opc=org, actor=actor, note=data["note"])
            done = _("Delivered. The client is asked to accept it.")
        elif action == "revision":
            services.request_revision(milestone=milestone, client=org, actor=actor, note=data["note"])
            done = _("Revision requested.")
        else:
            services.open_dispute(milestone=milestone, party=org, actor=actor, reason=data["reason"])
            done = _("Dispute opened. The community operator will mediate.")
    except DomainError as exc:
        messages.error(request, exc.message)
        return _contract_page(request, contract_pk, status=exc.status_code)
    messages.success(request, done)
    return redirect("marketplace:contract_detail", contract_pk)


@capability_required()
@require_POST
def milestone_fund(request: HttpRequest, pk: int) -> HttpResponse:
    return _milestone_action(request, pk, "fund")


@capability_required()
@require_POST
def milestone_deliver(request: HttpRequest, pk: int) -> HttpResponse:
    return _milestone_action(request, pk, "deliver")


@capability_required()
@require_POST
def milestone_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _milestone_action(request, pk, "accept")


@capability_required()
@require_POST
def milestone_revision(request: HttpRequest, pk: int) -> HttpResponse:
    return _milestone_action(request, pk, "revision")


@capability_required()
@require_POST
def dispute_open(request: HttpRequest, pk: int) -> HttpResponse:
    return _milestone_action(request, pk, "dispute")


# -- operator: disputes and orders in the communities --------------------------------------------------------------
@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def disputes(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    show = request.GET.get("show", "open")
    qs = selectors.disputes_for_operator(org, open_only=show != "all")
    return render(request, "marketplace/disputes.html", {"page": _page(request, qs), "show": show})


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def dispute_decide(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(request)
    dispute = selectors.get_dispute_for_operator(org, pk)
    form = DecideForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.decide_dispute(
                    dispute=dispute,
                    operator=org,
                    actor=acting_user(request),
                    amount_to_opc=form.cleaned_data["amount_to_opc"],
                    idempotency_key=form.cleaned_data["idempotency_key"],
                    note=form.cleaned_data["note"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Dispute decided; the escrow was split."))
                return redirect("marketplace:disputes")
        else:
            status = 400
    milestone: Milestone = dispute.milestone
    contract: Contract = milestone.contract
    return render(
        request,
        "marketplace/dispute_decide.html",
        {
            "dispute": dispute,
            "milestone": milestone,
            "contract": contract,
            "form": form,
            "is_open": dispute.status == DisputeStatus.OPEN,
        },
        status=status,
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def operator_orders(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    status = request.GET.get("status", "")
    qs = selectors.orders_for_operator(scope.managed_community_ids)
    if status in OrderStatus.values:
        qs = qs.filter(status=status)
    return render(
        request,
        "marketplace/operator_orders.html",
        {"page": _page(request, qs), "status": status, "statuses": OrderStatus.choices},
    )


# -- notifications -------------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    show = request.GET.get("show", "all")
    qs = selectors.notifications_for(org, unread_only=show == "unread")
    return render(
        request,
        "marketplace/notifications.html",
        {"page": _page(request, qs, 30), "show": show, "unread": selectors.unread_notification_count(org)},
    )


@capability_required()
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    from marketplace.models import Notification

    raw = request.POST.get("id", "")
    subset = None
    if raw:
        from core.http import parse_id

        pk = parse_id(raw)
        if pk is None:
            raise NotFound()
        subset = Notification.objects.filter(pk=pk)
    count = services.mark_notifications_read(
        organisation=org, actor=acting_user(request), notifications=subset
    )
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponse("")
    if count:
        messages.success(request, _("Marked as read."))
    return redirect("marketplace:notifications")
