"""Fair model contracts filled in from a marketplace contract: both kinds, both languages, the licence terms,
milestones and the creator keeping the copyright; the reviewer finds no high risk in them; parties only."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from contracts import fair
from contracts.review.engine import review
from core.testing import World
from marketplace.tests.conftest import awarded

pytestmark = pytest.mark.django_db


def login(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.mark.parametrize("kind", list(fair.KINDS))
def test_the_model_contract_passes_the_reviewer_without_a_high_risk(world: World, kind: str) -> None:
    contract = awarded(world, price="12000.00")
    for lang in ("zh", "en"):
        terms, form = fair.terms_from({"kind": kind, "lang": lang})
        assert form.is_valid()
        text = fair.plain_text(fair.render_body(contract, terms))
        result = review(text)
        assert not [f for f in result.findings if f.severity == "high"], [
            (f.category, f.span) for f in result.findings
        ]
        assert result.rating in ("none", "low", "medium")


def test_the_contract_is_filled_in_from_the_marketplace_contract(world: World) -> None:
    contract = awarded(world, price="12000.00")
    terms, _form = fair.terms_from(
        {
            "kind": "commissioned_creation",
            "licence": "exclusive",
            "years": "2",
            "territory": "worldwide",
            "revisions": "3",
        }
    )
    text = fair.plain_text(fair.render_body(contract, terms))
    assert world.client.name in text and world.opc.name in text
    assert "著作权归乙方所有" in text
    assert "全球范围内、自交付之日起 2 年内" in text and "独占使用许可" in text
    assert "包含 3 轮修改" in text
    for milestone in contract.milestones.all():
        assert milestone.title in text
    english = fair.plain_text(
        fair.render_body(contract, fair.terms_from({"kind": "technical_service", "lang": "en"})[0])
    )
    assert "stays with the creator" in english and "non-exclusive licence" in english


def test_bad_terms_fall_back_to_the_fair_defaults(world: World) -> None:
    terms, form = fair.terms_from({"kind": "buyout", "years": "99", "licence": "perpetual"})
    assert not form.is_valid()
    assert (terms.kind, terms.years, terms.licence) == ("commissioned_creation", 3, "non_exclusive")


def test_pages_and_pdf_for_the_parties_only(world: World) -> None:
    contract = awarded(world)
    url = reverse("contracts:contract_template", args=[contract.pk])
    for user in (world.client_user, world.opc_user):
        page = login(user).get(url + "?kind=technical_service")
        assert page.status_code == 200 and "技术服务合同".encode() in page.content
    assert login(world.other_opc_user).get(url).status_code == 404
    assert login(world.opc_user).get(reverse("contracts:templates")).status_code == 200
    pdf = login(world.opc_user).get(
        reverse("contracts:contract_template_pdf", args=[contract.pk]) + "?kind=commissioned_creation"
    )
    assert pdf.status_code == 200
    text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "委托创作合同" in text


def test_api_fills_in_the_model_contract(world: World) -> None:
    contract = awarded(world)
    client = login(world.client_user)
    response = client.get(
        f"/api/contracts/marketplace-contracts/{contract.pk}/template?kind=technical_service&years=2"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "技术服务合同" and "著作权归乙方所有" in body["text"]
    assert body["review_rating"] in ("none", "low", "medium")
    assert body["pdf_url"].startswith(reverse("contracts:contract_template_pdf", args=[contract.pk]))
    assert (
        client.get(f"/api/contracts/marketplace-contracts/{contract.pk}/template?kind=buyout").status_code
        == 422
    )
    assert (
        login(world.other_opc_user)
        .get(f"/api/contracts/marketplace-contracts/{contract.pk}/template")
        .status_code
        == 404
    )
