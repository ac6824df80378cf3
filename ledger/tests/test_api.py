"""API: ledger accounts and entries are read-only, tenant-scoped, and amounts are strings to the fen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import issue_api_token
from ledger import services
from ledger.models import Account, Entry, Transaction
from ledger.tests.conftest import Books, fund
from organisations.capabilities import Capability
from organisations.models import Membership, Organisation

ACCOUNTS = "/api/ledger/accounts"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def bearer(user: User, organisation: Organisation) -> dict[str, str]:
    _token, secret = issue_api_token(user=user, organisation=organisation, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}", **EN}


def test_own_accounts_with_balances_as_strings(client: Client, books: Books) -> None:
    w = books.world
    fund(books.opc, "1234.5", source=books.bank, key="fund-opc")
    fund(books.other_opc, "99", source=books.bank, key="fund-other")
    response = client.get(ACCOUNTS, **bearer(w.opc_user, w.opc))
    assert response.status_code == 200
    (account,) = response.json()
    assert account["id"] == books.opc.pk
    assert account["purpose"] == "available"
    assert account["currency"] == "CNY"
    assert account["balance"] == "1234.50"
    assert '"balance": "1234.50"' in response.content.decode()  # a JSON string, never a float


def test_each_tenant_sees_only_its_accounts(client: Client, books: Books) -> None:
    w = books.world
    ids = {a["id"] for a in client.get(ACCOUNTS, **bearer(w.client_user, w.client)).json()}
    assert ids == {books.client.pk, books.escrow.pk}
    assert client.get(ACCOUNTS, **bearer(w.operator_user, w.operator)).json() == []
    balances = {a["balance"] for a in client.get(ACCOUNTS, **bearer(w.client_user, w.client)).json()}
    assert balances == {"0.00"}


def test_accounts_need_ledger_view(client: Client, books: Books) -> None:
    w = books.world
    assert client.get(ACCOUNTS).status_code == 401
    # authorities read aggregates elsewhere, not organisations' books
    assert client.get(ACCOUNTS, **bearer(w.authority_user, w.authority)).status_code == 403
    headers = bearer(w.opc_user, w.opc)
    membership = Membership.objects.get(user=w.opc_user, organisation=w.opc)
    membership.capabilities = [c for c in membership.capabilities if c != Capability.LEDGER_VIEW]
    membership.save()
    assert client.get(ACCOUNTS, **headers).status_code == 403
    assert client.get(f"{ACCOUNTS}/{books.opc.pk}/entries", **headers).status_code == 403


def test_entries_of_own_account(client: Client, books: Books) -> None:
    w = books.world
    fund(books.opc, "500", source=books.bank, key="fund-1")
    services.transfer(
        idempotency_key="pay-fee",
        source=books.opc,
        destination=books.fees,
        amount=Decimal("12.34"),
        kind="test.fee",
        memo="platform fee",
    )
    response = client.get(f"{ACCOUNTS}/{books.opc.pk}/entries", **bearer(w.opc_user, w.opc))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, oldest = body["items"]
    assert newest["amount"] == "-12.34"
    assert newest["transaction"]["kind"] == "test.fee"
    assert newest["transaction"]["memo"] == "platform fee"
    assert oldest["amount"] == "500.00"
    assert client.get(ACCOUNTS, **bearer(w.opc_user, w.opc)).json()[0]["balance"] == "487.66"


def test_entries_pagination(client: Client, books: Books) -> None:
    w = books.world
    for i in range(5):
        fund(books.opc, f"{i + 1}", source=books.bank, key=f"fund-{i}")
    headers = bearer(w.opc_user, w.opc)
    page = client.get(f"{ACCOUNTS}/{books.opc.pk}/entries?limit=2&offset=1", **headers).json()
    assert (page["count"], page["limit"], page["offset"]) == (5, 2, 1)
    assert [e["amount"] for e in page["items"]] == ["4.00", "3.00"]


@pytest.mark.parametrize("which", ["other_opc", "bank", "fees", "client"])
def test_entries_of_someone_elses_account_are_404(client: Client, books: Books, which: str) -> None:
    w = books.world
    account: Account = getattr(books, which)
    response = client.get(f"{ACCOUNTS}/{account.pk}/entries", **bearer(w.opc_user, w.opc))
    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("999999/entries", 404),
        ("abc/entries", 422),
        (f"{10**30}/entries", 422),
        ("{opc}/entries?limit=201", 422),
        ("{opc}/entries?limit=0", 422),
        ("{opc}/entries?offset=-1", 422),
        ("{opc}/entries?limit=ten", 422),
    ],
)
def test_bad_ids_and_paging(client: Client, books: Books, path: str, status: int) -> None:
    w = books.world
    response = client.get(f"{ACCOUNTS}/{path.format(opc=books.opc.pk)}", **bearer(w.opc_user, w.opc))
    assert response.status_code == status
    assert response.json()["detail"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["", "/{opc}/entries"])
def test_there_is_no_write_endpoint(client: Client, books: Books, method: str, path: str) -> None:
    w = books.world
    fund(books.opc, "10", source=books.bank, key="fund")
    headers = bearer(w.opc_user, w.opc)
    before = (
        Transaction.objects.count(),
        Entry.objects.count(),
        Account.objects.get(pk=books.opc.pk).balance,
    )
    url = ACCOUNTS + path.format(opc=books.opc.pk)
    payload = {"amount": "1000000.00", "balance": "1000000.00"}
    response = getattr(client, method)(url, payload, content_type="application/json", **headers)
    assert response.status_code == 405
    after = (Transaction.objects.count(), Entry.objects.count(), Account.objects.get(pk=books.opc.pk).balance)
    assert after == before
