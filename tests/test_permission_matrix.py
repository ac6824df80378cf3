"""The permission matrix: every page and every API operation, for every kind of caller.

Callers: anonymous; the OPC that owns the objects ("owner"); the operator of the OPC's community ("same
community"); another operator and an OPC of another community ("other community"); a government authority
of the same city; a client. Objects: the OPC's residency, site statement, portfolio item, API token and ledger
account, all in ``world.community``.

Expected outcomes: A allowed (any status except 401/403/404 and the login redirect; never 5xx), F 403,
N 404, L login required (302 to the login page for pages, 401 for the API). Each request runs in a savepoint
that is rolled back, so one caller's POST does not change what the next one sees.

The test fails when a URL or API operation exists that is not listed here: a new view must join the matrix.

Apps add their own rows in ``<app>/tests/matrix*.py``: module-level ``PAGES`` and ``API`` dicts in the formats
below and, optionally, ``setup(o: Objects) -> Any`` which builds the app's objects on top of the shared world;
its result is ``o.extra``. Only the contributing module's ``setup`` runs for its rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.services import issue_api_token
from communities.services import assign_workstation, issue_site_statement
from core.testing import World, build_world
from ledger.services import open_account, transfer
from organisations.models import OPCProfile
from organisations.services import add_portfolio_item, verify_organisation
from tests.urlwalk import api_operations, page_url_names

ROLES = ["anon", "opc", "operator", "other_operator", "other_opc", "authority", "client"]


@dataclass
class Objects:
    world: World
    residency_id: int
    statement_id: int
    statement_code: str
    portfolio_id: int
    token_id: int
    opc_account_id: int
    tokens: dict[str, str]
    extra: Any = field(default=None)


def build_objects(source: ModuleType | None = None) -> Objects:
    w = build_world()
    verify_organisation(organisation=w.opc, actor=w.operator_user, operator=w.operator)
    residency = assign_workstation(
        workstation=w.workstations[0],
        organisation=w.opc,
        start_date=dt.date(2026, 1, 5),
        actor=w.operator_user,
    )
    statement = issue_site_statement(
        residency=residency, purpose="广播电视节目制作经营许可证", actor=w.operator_user
    )
    item = add_portfolio_item(
        profile=OPCProfile.objects.get(organisation=w.opc), actor=w.opc_user, title="《星门》"
    )
    token, _secret = issue_api_token(user=w.opc_user, organisation=w.opc, name="matrix")
    pool = open_account(owner=None, purpose="external", code="bank-inflow")
    account = open_account(owner=w.opc, purpose="available")
    transfer(
        idempotency_key="matrix-grant",
        source=pool,
        destination=account,
        amount=Decimal("10.00"),
        kind="grant",
    )
    users = {
        "opc": (w.opc_user, w.opc),
        "operator": (w.operator_user, w.operator),
        "other_operator": (w.other_operator_user, w.other_operator),
        "other_opc": (w.other_opc_user, w.other_opc),
        "authority": (w.authority_user, w.authority),
        "client": (w.client_user, w.client),
    }
    tokens = {
        role: issue_api_token(user=u, organisation=o, name="matrix")[1] for role, (u, o) in users.items()
    }
    o = Objects(w, residency.pk, statement.pk, statement.code, item.pk, token.pk, account.pk, tokens)
    if source is not None and hasattr(source, "setup"):
        o.extra = source.setup(o)
    return o


def user_for(o: Objects, role: str) -> Any:
    w = o.world
    return {
        "opc": w.opc_user,
        "operator": w.operator_user,
        "other_operator": w.other_operator_user,
        "other_opc": w.other_opc_user,
        "authority": w.authority_user,
        "client": w.client_user,
    }.get(role)


def expect(spec: str) -> dict[str, str]:
    """'L A A N N A F' in ROLES order."""
    codes = spec.split()
    assert len(codes) == len(ROLES), spec
    return dict(zip(ROLES, codes, strict=True))


#   name: (method, kwargs(o) -> dict, data(o) -> dict, "anon opc operator other_operator other_opc authority client")
PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "core:home": ("GET", None, None, "A A A A A A A"),
    "core:dashboard": ("GET", None, None, "L A A A A A A"),  # staff without organisation → admin
    "accounts:login": ("GET", None, None, "A A A A A A A"),
    "accounts:logout": ("POST", None, None, "A A A A A A A"),
    "accounts:register": ("GET", None, None, "A A A A A A A"),
    "accounts:profile": ("GET", None, None, "L A A A A A A"),
    "accounts:switch": ("POST", None, lambda o: {"organisation": o.world.opc.pk}, "L A N N N N N"),
    "accounts:tokens": ("GET", None, None, "L A A A A A A"),
    "accounts:token_revoke": ("POST", lambda o: {"pk": o.token_id}, None, "L A N N N N N"),
    "audit:list": ("GET", None, None, "L F A A F A F"),
    "ledger:accounts": ("GET", None, None, "L A A A A F A"),
    "ledger:account_detail": ("GET", lambda o: {"pk": o.opc_account_id}, None, "L A N N N F N"),
    "organisations:detail": ("GET", lambda o: {"pk": o.world.opc.pk}, None, "N A A N N A N"),
    "organisations:directory": ("GET", None, None, "A A A A A A A"),
    "organisations:edit": ("GET", None, None, "L A A A A A A"),
    "organisations:request_verification": ("POST", None, None, "L A A A A A A"),
    "organisations:profile_edit": ("GET", None, None, "L A N N A N N"),
    "organisations:portfolio_add": ("POST", None, lambda o: {"title": "新作品"}, "L A N N A N N"),
    "organisations:portfolio_remove": ("POST", lambda o: {"pk": o.portfolio_id}, None, "L A N N N N N"),
    "organisations:members": ("GET", None, None, "L F A A F F F"),
    "organisations:member_verify": ("POST", lambda o: {"pk": o.world.opc.pk}, None, "L F A N F F F"),
    "organisations:member_reject": (
        "POST",
        lambda o: {"pk": o.world.opc.pk},
        lambda o: {"reason": "资料不全"},
        "L F A N F F F",
    ),
    "communities:directory": ("GET", None, None, "A A A A A A A"),
    "communities:public_detail": ("GET", lambda o: {"pk": o.world.community.pk}, None, "A A A A A A A"),
    "communities:statement_lookup": ("GET", None, None, "A A A A A A A"),
    "communities:statement_verify": ("GET", lambda o: {"code": o.statement_code}, None, "A A A A A A A"),
    "communities:statement_pdf": ("GET", lambda o: {"pk": o.statement_id}, None, "L A A N N N N"),
    "communities:manage_list": ("GET", None, None, "L F A A F F F"),
    "communities:network_create": ("POST", None, lambda o: {"name": "新网络"}, "L F A A F F F"),
    "communities:manage_detail": ("GET", lambda o: {"pk": o.world.community.pk}, None, "L F A N F F F"),
    "communities:manage_edit": ("GET", lambda o: {"pk": o.world.community.pk}, None, "L F A N F F F"),
    "communities:workstations_add": (
        "POST",
        lambda o: {"pk": o.world.community.pk},
        lambda o: {"zone": "B", "prefix": "B-", "first": 1, "last": 2},
        "L F A N F F F",
    ),
    "communities:workstation_status": (
        "POST",
        lambda o: {"pk": o.world.workstations[1].pk},
        lambda o: {"status": "reserved"},
        "L F A N F F F",
    ),
    "communities:assign_for": ("GET", lambda o: {"org_pk": o.world.opc.pk}, None, "L F A N F F F"),
    "communities:residency_end": (
        "POST",
        lambda o: {"pk": o.residency_id},
        lambda o: {"end_date": "2026-12-31"},
        "L F A N F F F",
    ),
    "communities:statement_issue": (
        "POST",
        lambda o: {"pk": o.residency_id},
        lambda o: {"purpose": "ICP备案"},
        "L F A N F F F",
    ),
    "communities:statement_revoke": (
        "POST",
        lambda o: {"pk": o.statement_id},
        lambda o: {"reason": "信息有误"},
        "L F A N F F F",
    ),
    "communities:my_workstation": ("GET", None, None, "L A A A A A A"),
    "communities:oversight": ("GET", None, None, "L F F F F A F"),
    "communities:oversight_csv": ("GET", None, None, "L F F F F A F"),
    # The OpenAI-compatible gateway authenticates only by virtual key (gateway/tests cover keys, allow-lists,
    # expiry and revocation): a logged-in session grants nothing there.
    "gateway:chat_completions": ("POST", None, lambda o: {"model": "x", "messages": []}, "L L L L L L L"),
    "gateway:embeddings": ("POST", None, lambda o: {"model": "x", "input": "x"}, "L L L L L L L"),
    "gateway:models": ("GET", None, None, "L L L L L L L"),
}

#   (method, path): (path params(o) -> dict, json body(o) -> dict | None, "anon opc operator …")
API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", "/api/accounts/me"): (None, None, "L A A A A A A"),
    ("GET", "/api/accounts/tokens"): (None, None, "L A A A A A A"),
    ("POST", "/api/accounts/tokens"): (
        None,
        lambda o: {"name": "ci", "expires_in_days": 30},
        "L A A A A A A",
    ),
    ("POST", "/api/accounts/tokens/{id}/revoke"): (lambda o: {"id": o.token_id}, None, "L A N N N N N"),
    ("GET", "/api/audit/records"): (None, None, "L F A A F A F"),
    ("GET", "/api/communities/"): (None, None, "A A A A A A A"),
    ("GET", "/api/communities/{community_id}"): (
        lambda o: {"community_id": o.world.community.pk},
        None,
        "A A A A A A A",
    ),
    ("GET", "/api/communities/managed"): (None, None, "L F A A F F F"),
    ("POST", "/api/communities/managed"): (
        None,
        lambda o: {
            "name": "新社区",
            "city": "宁波市",
            "district": "海曙区",
            "address": "某路1号",
            "land_use": "office",
        },
        "L F A A F F F",
    ),
    ("GET", "/api/communities/managed/{community_id}/workstations"): (
        lambda o: {"community_id": o.world.community.pk},
        None,
        "L F A N F F F",
    ),
    ("POST", "/api/communities/managed/{community_id}/workstations"): (
        lambda o: {"community_id": o.world.community.pk},
        lambda o: {"zone": "C", "prefix": "C-", "first": 1, "last": 2},
        "L F A N F F F",
    ),
    ("POST", "/api/communities/residencies"): (
        None,
        lambda o: {
            "workstation_id": o.world.workstations[1].pk,
            "organisation_id": o.world.opc.pk,
            "start_date": "2026-02-01",
        },
        "L F A N F F F",
    ),
    ("POST", "/api/communities/residencies/{residency_id}/end"): (
        lambda o: {"residency_id": o.residency_id},
        lambda o: {"end_date": "2026-12-31"},
        "L F A N F F F",
    ),
    ("POST", "/api/communities/residencies/{residency_id}/statements"): (
        lambda o: {"residency_id": o.residency_id},
        lambda o: {"purpose": "ICP备案"},
        "L F A N F F F",
    ),
    ("GET", "/api/communities/statements/{code}"): (
        lambda o: {"code": o.statement_code},
        None,
        "A A A A A A A",
    ),
    ("GET", "/api/ledger/accounts"): (None, None, "L A A A A F A"),
    ("GET", "/api/ledger/accounts/{id}/entries"): (lambda o: {"id": o.opc_account_id}, None, "L A N N N F N"),
    ("GET", "/api/organisations/skills"): (None, None, "A A A A A A A"),
    ("GET", "/api/organisations/directory"): (None, None, "A A A A A A A"),
    ("GET", "/api/organisations/mine"): (None, None, "L A A A A A A"),
    ("PATCH", "/api/organisations/mine"): (None, lambda o: {"description": "更新"}, "L A A A A A A"),
    ("GET", "/api/organisations/mine/profile"): (None, None, "L A N N A N N"),
    ("PUT", "/api/organisations/mine/profile"): (
        None,
        lambda o: {
            "founder_name": "刘",
            "headcount": 1,
            "skills": ["ai-short-drama"],
            "tags": [],
            "capacity": 2,
            "listed_publicly": False,
        },
        "L A N N A N N",
    ),
    ("GET", "/api/organisations/members"): (None, None, "L F A A F F F"),
    ("POST", "/api/organisations/members/{id}/verify"): (
        lambda o: {"id": o.world.opc.pk},
        None,
        "L F A N F F F",
    ),
    ("POST", "/api/organisations/members/{id}/reject"): (
        lambda o: {"id": o.world.opc.pk},
        lambda o: {"reason": "资料不全"},
        "L F A N F F F",
    ),
    ("GET", "/api/organisations/{id}"): (lambda o: {"id": o.world.opc.pk}, None, "L A A N N A N"),
}


def _contributed_modules() -> list[ModuleType]:
    from core.extensions import project_apps

    modules = []
    for app in project_apps():
        folder = Path(import_module(app).__path__[0]) / "tests"
        for file in sorted(folder.glob("matrix*.py")):
            modules.append(import_module(f"{app}.tests.{file.stem}"))
    return modules


PAGE_SOURCE: dict[str, ModuleType] = {}
API_SOURCE: dict[tuple[str, str], ModuleType] = {}


def _collect() -> None:
    import django

    django.setup()
    for module in _contributed_modules():
        for name, row in getattr(module, "PAGES", {}).items():
            assert name not in PAGES, f"{name} listed twice ({module.__name__})"
            PAGES[name] = row
            PAGE_SOURCE[name] = module
        for op, row in getattr(module, "API", {}).items():
            assert op not in API, f"{op} listed twice ({module.__name__})"
            API[op] = row
            API_SOURCE[op] = module


_collect()


def test_every_page_is_in_the_matrix() -> None:
    assert page_url_names() == set(PAGES), "add new pages to PAGES (or remove stale rows)"


def test_every_api_operation_is_in_the_matrix() -> None:
    assert api_operations() == set(API), "add new API operations to API (or remove stale rows)"


def _outcome(response: Any, *, api: bool) -> str:
    status = response.status_code
    assert status < 500, f"server error {status}"
    if status == 401:
        return "L"
    if status == 302 and not api and reverse("accounts:login") in response["Location"]:
        return "L"
    if status == 403:
        return "F"
    if status == 404:
        return "N"
    return "A"


def _run(o: Objects, role: str, send: Any, *, api: bool) -> str:
    with transaction.atomic():
        client = Client()
        user = user_for(o, role)
        if user is not None and not api:
            client.force_login(user)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {o.tokens[role]}"} if api and role in o.tokens else {}
        outcome = _outcome(send(client, headers), api=api)
        transaction.set_rollback(True)
    return outcome


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_permissions(name: str) -> None:
    o = build_objects(PAGE_SOURCE.get(name))
    method, kwargs, data, spec = PAGES[name]
    url = reverse(name, kwargs=kwargs(o) if kwargs else None)
    body = data(o) if data else {}

    def send(client: Client, headers: dict[str, str]) -> Any:
        return client.get(url, **headers) if method == "GET" else client.post(url, body, **headers)

    got = {role: _run(o, role, send, api=False) for role in ROLES}
    assert got == expect(spec), f"{name} {url}"


@pytest.mark.django_db
@pytest.mark.parametrize("operation", sorted(API), ids=lambda op: f"{op[0]} {op[1]}")
def test_api_permissions(operation: tuple[str, str]) -> None:
    o = build_objects(API_SOURCE.get(operation))
    method, path = operation
    params, body, spec = API[operation]
    url = path.format(**params(o)) if params else path
    payload = body(o) if body else None

    def send(client: Client, headers: dict[str, str]) -> Any:
        call = getattr(client, method.lower())
        if payload is None:
            return call(url, **headers)
        return call(url, data=payload, content_type="application/json", **headers)

    got = {role: _run(o, role, send, api=True) for role in ROLES}
    assert got == expect(spec), f"{method} {url}"
