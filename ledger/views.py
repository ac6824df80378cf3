from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import NotFound
from ledger.selectors import accounts_for_organisation, entries_for_account
from organisations.access import capability_required, scope_for
from organisations.capabilities import Capability


@capability_required(Capability.LEDGER_VIEW)
def accounts_view(request: HttpRequest) -> HttpResponse:
    org = scope_for(request).organisation
    return render(request, "ledger/accounts.html", {"accounts": accounts_for_organisation(org)})  # type: ignore[arg-type]


@capability_required(Capability.LEDGER_VIEW)
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    org = scope_for(request).organisation
    account = accounts_for_organisation(org).filter(pk=pk).first()  # type: ignore[arg-type]
    if account is None:
        raise NotFound()
    page = Paginator(entries_for_account(account), 50).get_page(request.GET.get("page"))
    return render(request, "ledger/account_detail.html", {"account": account, "page": page})
