"""Template helpers of the trust partials that marketplace pages include (``trust/_order_panel.html``,
``trust/_contract_panel.html``, ``trust/_opc_reputation.html``, ``trust/_post_price_hint.html``).

Every helper accepts ``None`` (and objects without a primary key) and then returns ``None`` / empty output,
so an including page never breaks because a variable is missing."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from marketplace.models import ContractStatus
from organisations.capabilities import OrgKind
from trust import selectors
from trust.models import ReviewDirection, Thread

register = template.Library()


def _pk(obj: Any) -> int | None:
    return getattr(obj, "pk", None) if obj is not None else None


def _field_value(form: Any, name: str) -> str:
    if form is None:
        return ""
    try:
        value = form[name].value()
    except (KeyError, AttributeError, TypeError):
        return ""
    if value is None:
        return ""
    return str(getattr(value, "code", value))[:40]


@register.simple_tag
def price_hint_context(form: Any = None, hint: Any = None) -> dict[str, Any]:
    """``hint`` when given (the htmx endpoint), else computed from the bound or initial form."""
    if isinstance(hint, dict):
        return hint
    category = _field_value(form, "category")
    if category.isdigit():  # a form whose category field sends the pk instead of the code
        from organisations.models import Skill

        category = Skill.objects.filter(pk=int(category)).values_list("code", flat=True).first() or ""
    return selectors.price_hint(category, _field_value(form, "budget_min"), _field_value(form, "budget_max"))


_CACHE = "_trust_reputations"


def _reputation_cache(context: Any) -> dict[int, selectors.Reputation] | None:
    """Reputations already computed while rendering this request (so a bid list that includes
    ``trust/_opc_reputation.html`` per row does not query per row once the order panel warmed it)."""
    request = context.get("request") if context is not None else None
    if request is None:
        return None
    cache = getattr(request, _CACHE, None)
    if cache is None:
        cache = {}
        setattr(request, _CACHE, cache)
    return cache


def _warm(context: Any, opc_ids: Any) -> None:
    cache = _reputation_cache(context)
    if cache is None:
        return
    missing = [i for i in set(opc_ids) if i is not None and i not in cache]
    if missing:
        cache.update(selectors.reputation_for(missing))


@register.simple_tag(takes_context=True)
def opc_reputation(context: Any, opc: Any) -> selectors.Reputation | None:
    """The OPC's reputation: attached by ``selectors.attach_reputations``, else from this request's cache,
    else computed (three queries) and cached."""
    pk = _pk(opc)
    if pk is None or getattr(opc, "kind", OrgKind.OPC) != OrgKind.OPC:
        return None
    attached = getattr(opc, "trust_reputation", None)
    if isinstance(attached, selectors.Reputation):
        return attached
    cache = _reputation_cache(context)
    if cache is not None and pk in cache:
        return cache[pk]
    found = selectors.reputation_of(opc)
    if cache is not None and found is not None:
        cache[pk] = found
    return found


_UNSET = object()


def _prefetched(obj: Any, name: str) -> list[Any] | None:
    """The rows of ``obj``'s relation ``name`` when the page already prefetched them, else ``None``."""
    found = (getattr(obj, "_prefetched_objects_cache", None) or {}).get(name)
    return list(found) if found is not None else None


def _context_value(context: Any, name: str) -> Any:
    """A variable the including page put in its context (``_UNSET`` when it did not)."""
    try:
        return context[name] if context is not None and name in context else _UNSET
    except (KeyError, TypeError):
        return _UNSET


@register.simple_tag(takes_context=True)
def trust_order_panel(context: Any, order: Any, org: Any = None) -> dict[str, Any] | None:
    """What the order page's trust panel shows for ``org`` (the acting organisation, or None). For the client
    (and an overseeing operator) it also computes the bidders' reputations in one batch for the bid list.

    What the order page already loaded is reused instead of queried again: the prefetched bids (with their
    OPCs) and invited OPCs, and the page's ``contract`` and ``my_bid``."""
    if _pk(order) is None or getattr(order, "client", None) is None:
        return None
    client = order.client
    org_pk = _pk(org)
    is_client = org_pk is not None and org_pk == order.client_id
    is_opc = org_pk is not None and not is_client and getattr(org, "kind", "") == OrgKind.OPC
    panel: dict[str, Any] = {
        "order": order,
        "org": org,
        "is_client": is_client,
        "is_opc": is_opc,
        "client": client,
        "client_unverified": not client.is_verified,
        "can_report": org_pk is not None and not is_client,
    }
    if org_pk is None:
        return panel
    reference = selectors.price_reference(order.category)
    panel["reference"] = reference
    panel["budget_flag"] = selectors.budget_flag(
        order.category, order.budget_min, order.budget_max, reference=reference
    )
    panel["reliability"] = selectors.payment_reliability_of(client)
    from marketplace.models import Bid, BidStatus

    bids = _prefetched(order, "bids") if not is_opc else None
    if bids is None and is_client:
        bids = list(
            Bid.objects.filter(order=order).select_related("opc").order_by("price", "created_at", "id")
        )
    if bids is not None:
        # reputations for the bid list: only the bidders the page did not attach one to
        _warm(context, [b.opc_id for b in bids if getattr(b.opc, "trust_reputation", None) is None])
    if is_opc:
        page_bid = _context_value(context, "my_bid")  # the view's own bid of this OPC (or None)
        own_bid = (
            Bid.objects.filter(order=order, opc=org).only("price").first() if page_bid is _UNSET else page_bid
        )
        page_contract = _context_value(context, "contract")  # the view's contract, when this OPC holds it
        if page_bid is _UNSET or page_contract is _UNSET:
            panel["can_message"] = selectors.opc_may_message(order, org)
        elif order.direct_opc_id == org_pk or own_bid is not None or page_contract is not None:
            panel["can_message"] = True
        else:  # neither named, bidding nor contracted: only an invitation lets it write
            invited = _prefetched(order, "invited_opcs")
            panel["can_message"] = (
                any(o.pk == org_pk for o in invited)
                if invited is not None
                else order.invited_opcs.filter(pk=org_pk).exists()
            )
        panel["own_thread"] = selectors.thread_for_order(order, org)
        if own_bid is not None:
            panel["own_bid"] = own_bid
            panel["own_bid_flag"] = selectors.price_flag(order.category, own_bid.price, reference=reference)
    if is_client:
        threads = {t.opc_id: t for t in Thread.objects.filter(order=order)}
        invited = _prefetched(order, "invited_opcs")
        page_contract = _context_value(context, "contract")
        if bids is not None and invited is not None and page_contract is not _UNSET:
            partners = selectors.partners_among(order, bids=bids, invited=invited, contract=page_contract)
        else:
            partners = selectors.message_partners(order)
        panel["partners"] = [(opc, threads.get(opc.pk)) for opc in partners]
        if reference.enough:
            flagged = []
            live = [b for b in bids or [] if b.status != BidStatus.WITHDRAWN]
            for bid in sorted(live, key=lambda b: (b.price, b.pk)):
                flag = selectors.price_flag(order.category, bid.price, reference=reference)
                if flag.flagged:
                    flagged.append((bid, flag))
            panel["flagged_bids"] = flagged
    return panel


@register.simple_tag
def trust_contract_panel(contract: Any, org: Any = None) -> dict[str, Any] | None:
    if _pk(contract) is None:
        return None
    org_pk = _pk(org)
    is_client = org_pk is not None and org_pk == contract.client_id
    is_party = is_client or (org_pk is not None and org_pk == contract.opc_id)
    thread = Thread.objects.filter(order_id=contract.order_id, opc_id=contract.opc_id).first()
    panel: dict[str, Any] = {
        "contract": contract,
        "org": org,
        "is_party": is_party,
        "thread": thread,
        "completed": contract.status == ContractStatus.COMPLETED,
        "can_report": is_party,
    }
    if is_party:
        from trust.forms import ReviewForm

        reviews = selectors.reviews_of_contract(contract)
        mine = ReviewDirection.CLIENT_TO_OPC if is_client else ReviewDirection.OPC_TO_CLIENT
        theirs = ReviewDirection.OPC_TO_CLIENT if is_client else ReviewDirection.CLIENT_TO_OPC
        panel.update(
            mine=reviews[mine],
            theirs=reviews[theirs],
            other=contract.opc if is_client else contract.client,
            form=ReviewForm(),
        )
        panel["can_review"] = panel["completed"] and panel["mine"] is None
    return panel


@register.simple_tag
def price_flag_badge(category: Any, amount: Any) -> str:
    """A small badge when ``amount`` is far outside the category's accepted prices (else nothing); for bid
    lists (one query per call: use it on detail pages, not long lists)."""
    if _pk(category) is None or amount in (None, ""):
        return ""
    flag = selectors.price_flag(category, amount)
    if not flag.flagged:
        return ""
    return format_html(
        '<span class="badge badge-rejected" data-testid="price-flag" data-level="{}" title="{}">⚠ {}</span>',
        flag.level,
        flag.message,
        flag.message.split(":")[0].split("：")[0],
    )


@register.filter
def stars(rating: Any) -> str:
    try:
        n = max(0, min(5, int(rating)))
    except (TypeError, ValueError):
        return ""
    return "★" * n + "☆" * (5 - n)


@register.filter
def signed(value: Any) -> str:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return ""
    return f"+{n}" if n > 0 else str(n)
