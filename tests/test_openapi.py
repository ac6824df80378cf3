"""The API's OpenAPI schema and its documentation page."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

# The operations of the accounts, organisations, audit and ledger routers (communities tests its own).
OPERATIONS = {
    ("GET", "/api/accounts/me"),
    ("GET", "/api/accounts/tokens"),
    ("POST", "/api/accounts/tokens"),
    ("POST", "/api/accounts/tokens/{id}/revoke"),
    ("GET", "/api/organisations/skills"),
    ("GET", "/api/organisations/directory"),
    ("GET", "/api/organisations/mine"),
    ("PATCH", "/api/organisations/mine"),
    ("GET", "/api/organisations/mine/profile"),
    ("PUT", "/api/organisations/mine/profile"),
    ("GET", "/api/organisations/members"),
    ("POST", "/api/organisations/members/{id}/verify"),
    ("POST", "/api/organisations/members/{id}/reject"),
    ("GET", "/api/organisations/{id}"),
    ("GET", "/api/audit/records"),
    ("GET", "/api/ledger/accounts"),
    ("GET", "/api/ledger/accounts/{id}/entries"),
}
PUBLIC = {("GET", "/api/organisations/skills"), ("GET", "/api/organisations/directory")}


@pytest.fixture
def schema(client: Client, db: None) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return json.loads(response.content)


def operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, ops in schema["paths"].items() for method, op in ops.items()}


def test_schema_lists_the_operations(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "OPC Hub API"
    missing = OPERATIONS - set(operations(schema))
    assert not missing, f"not in /api/openapi.json: {sorted(missing)}"


def test_authentication_is_documented(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert schemes["SessionAuth"]["in"] == "cookie"
    for key, op in operations(schema).items():
        if key not in OPERATIONS:
            continue
        if key in PUBLIC:
            assert not op.get("security"), key
        else:
            assert op["security"] == [{"TokenAuth": []}, {"SessionAuth": []}], key
            assert {"200", "201"} & set(op["responses"]), key
            assert {"401", "403", "422"} <= set(op["responses"]), key


def test_audit_and_ledger_are_read_only(schema: dict[str, Any]) -> None:
    for method, path in operations(schema):
        if path.startswith(("/api/audit/", "/api/ledger/")):
            assert method == "GET", (method, path)


def test_money_is_a_string_in_the_schema(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    balance = components["LedgerAccountOut"]["properties"]["balance"]
    assert balance["type"] == "string"
    assert re.fullmatch(balance["pattern"], "1234.50")
    assert components["LedgerEntryOut"]["properties"]["amount"]["type"] == "string"
    rate = components["OPCProfileOut"]["properties"]["rate_min"]
    assert {"type": "null"} in rate["anyOf"]
    assert any(alt.get("type") == "string" for alt in rate["anyOf"])


def test_every_reference_resolves(schema: dict[str, Any]) -> None:
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert refs <= set(schema["components"]["schemas"])


def test_token_secrets_appear_only_in_the_creation_answer(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    holders = {name for name, c in components.items() if {"secret", "digest"} & set(c.get("properties", {}))}
    # API tokens and gateway keys: each secret is shown once, in the answer that creates it.
    assert holders == {"TokenCreatedOut", "KeyCreatedOut"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                ref = json.dumps(answer.get("content", {}))
                for holder in holders:
                    if f'/{holder}"' in ref:
                        assert (method, status) == ("post", "201"), (path, method, status, holder)


def test_docs_page(client: Client, db: None) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "/api/openapi.json" in html


def test_docs_load_their_assets_locally(client: Client, db: None) -> None:
    html = client.get("/api/docs").content.decode()
    assert "cdn.jsdelivr.net" not in html
    assert "ninja" in settings.INSTALLED_APPS
    assets = re.findall(r'(?:src|href)="(/static/ninja/[^"]+)"', html)
    assert assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        response.close()
