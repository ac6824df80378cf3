"""Trust pages and partials: threads and messages, reviews, trust profiles, the htmx price hint, reports and the
operator's queue, the credit profile and its public verification; the partials marketplace pages include;
navigation and dashboard panels."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils.translation import gettext

from core.testing import World
from marketplace import services as market
from organisations.access import Scope
from organisations.models import Membership, Skill
from trust import services
from trust.models import CreditExport, Message, Report, ReportStatus, Review, Thread

from .conftest import awarded, category, completed, open_order

pytestmark = pytest.mark.django_db


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html(response: Any) -> str:
    return response.content.decode()


# ---------------------------------------------------------------------------------------------- messages


class TestMessagePages:
    def test_start_write_read_and_flag(self, world: World) -> None:
        contract = awarded(world)
        opc = login(world.opc_user)
        response = opc.post(reverse("trust:thread_start"), {"contract": contract.pk})
        thread = Thread.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse(
            "trust:thread_detail", args=[thread.pk]
        )
        url = reverse("trust:thread_detail", args=[thread.pk])
        upload = SimpleUploadedFile("分镜脚本.txt", "第一场".encode())
        response = opc.post(url, {"body": "样片已上传", "attachments": [upload]})
        assert response.status_code == 302
        message = Message.objects.get()
        assert message.attachments.get().name == "分镜脚本.txt"
        # A flagged message: the sender is told, the recipient sees the warning and can report it.
        response = opc.post(url, {"body": "平台手续费太高，我们私下转账吧"}, follow=True)
        assert response.status_code == 200
        flagged = Message.objects.get(flagged=True)
        client = login(world.client_user)
        page = html(client.get(url))
        assert 'data-testid="flag-warning"' in page and "私下转账吧" in page
        assert f'data-testid="report-message-{flagged.pk}"' in page
        assert 'data-testid="flag-warning"' not in html(opc.get(url))  # the sender sees only the badge
        # Attachments download for participants (as attachments, never inline).
        attachment = message.attachments.get()
        download = client.get(reverse("trust:attachment", args=[attachment.pk]))
        assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
        assert b"".join(download.streaming_content) == "第一场".encode()
        assert (
            login(world.other_opc_user).get(reverse("trust:attachment", args=[attachment.pk])).status_code
            == 404
        )
        # The inbox lists the thread with its flag count.
        inbox = html(client.get(reverse("trust:inbox")))
        assert contract.order.title in inbox and "⚠ 1" in inbox

    def test_operator_reads_but_cannot_write(self, world: World) -> None:
        thread = services.open_contract_thread(contract=awarded(world), organisation=world.opc, actor=None)
        services.post_message(thread=thread, sender=world.opc, actor=None, body="你好")
        operator = login(world.operator_user)
        url = reverse("trust:thread_detail", args=[thread.pk])
        page = operator.get(url)
        assert (
            page.status_code == 200
            and "你好" in html(page)
            and 'data-testid="message-form"' not in html(page)
        )
        assert operator.post(url, {"body": "调解"}).status_code == 403
        assert login(world.other_operator_user).get(url).status_code == 404
        assert Message.objects.count() == 1

    def test_bad_input_changes_nothing(self, world: World) -> None:
        thread = services.open_contract_thread(contract=awarded(world), organisation=world.opc, actor=None)
        opc = login(world.opc_user)
        url = reverse("trust:thread_detail", args=[thread.pk])
        assert opc.post(url, {"body": "  "}).status_code == 400
        assert opc.post(url, {"body": "长" * 5001}).status_code == 400
        assert opc.post(reverse("trust:thread_start"), {}).status_code == 400
        assert opc.post(reverse("trust:thread_start"), {"order": "abc"}).status_code == 400
        assert opc.post(reverse("trust:thread_start"), {"order": 10**15}).status_code == 404
        order = open_order(world)
        assert (
            login(world.client_user).post(reverse("trust:thread_start"), {"order": order.pk}).status_code
            == 400
        )
        assert Message.objects.count() == 0


# ---------------------------------------------------------------------------------------------- reviews


class TestReviewPages:
    def test_review_form_and_profile(self, world: World) -> None:
        contract = completed(world)
        client = login(world.client_user)
        url = reverse("trust:review", args=[contract.pk])
        assert 'data-testid="review-form"' in html(client.get(url))
        assert client.post(url, {"rating": "9"}).status_code == 400
        response = client.post(url, {"rating": "5", "text": "交付及时", "next": "/trust/messages/"})
        assert response.status_code == 302 and response["Location"] == "/trust/messages/"
        assert Review.objects.get().rating == 5
        again = client.post(url, {"rating": "1"})
        assert again.status_code == 409 and gettext("You have already reviewed this contract.") in html(again)
        assert 'data-testid="my-review"' in html(client.get(url))
        profile = html(client.get(reverse("trust:organisation", args=[world.opc.pk])))
        assert 'data-testid="reputation-score">+2<' in profile and "交付及时" in profile
        reliability = html(login(world.opc_user).get(reverse("trust:organisation", args=[world.client.pk])))
        assert 'data-testid="reliability-rate">100.0%<' in reliability
        assert 'data-testid="report-organisation-' in reliability
        assert (
            login(world.opc_user).get(reverse("trust:organisation", args=[world.operator.pk])).status_code
            == 404
        )

    def test_review_refused_before_completion_and_for_outsiders(self, world: World) -> None:
        contract = awarded(world)
        url = reverse("trust:review", args=[contract.pk])
        response = login(world.opc_user).post(url, {"rating": "4"})
        assert response.status_code == 409
        assert gettext("Reviews can be written once the contract is completed.") in html(response)
        assert login(world.other_opc_user).get(url).status_code == 404
        assert not Review.objects.exists()


# ---------------------------------------------------------------------------------------------- prices


def test_price_hint_endpoint_and_partial(world: World) -> None:
    for price in ("8000.00", "9000.00", "10000.00", "11000.00", "12000.00"):
        completed(world, price=price)
    client = login(world.client_user)
    url = reverse("trust:price_hint")
    page = html(client.get(url, {"category": "ai-short-drama"}))
    assert 'id="trust-price-hint"' in page and 'data-testid="price-median">¥10,000.00<' in page
    flagged = html(client.get(url, {"category": "ai-short-drama", "budget_min": "500", "budget_max": "1000"}))
    assert 'data-testid="budget-flag" data-level="far_below"' in flagged
    within = html(
        client.get(url, {"category": "ai-short-drama", "budget_min": "5000", "budget_max": "15000"})
    )
    assert "budget-flag" not in within
    empty = html(client.get(url, {"category": "no-such", "budget_max": "x" * 100}))
    assert 'data-testid="price-reference"' not in empty and 'hx-get="/trust/price-reference/"' in empty
    few = html(client.get(url, {"category": "design"}))
    assert 'data-count="0"' in few
    # The partial renders from a posting form like the marketplace's (bound or not) and from nothing.
    form = PostingForm(data={"category": "ai-short-drama", "budget_min": "100", "budget_max": "200"})
    rendered = render_to_string("trust/_post_price_hint.html", {"form": form})
    assert "price-median" in rendered and 'data-level="far_below"' in rendered
    assert 'data-testid="price-reference"' not in render_to_string(
        "trust/_post_price_hint.html", {"form": None}
    )
    assert 'data-testid="price-reference"' not in render_to_string("trust/_post_price_hint.html", {})
    unbound = render_to_string(
        "trust/_post_price_hint.html", {"form": PostingForm(initial={"category": "ai-short-drama"})}
    )
    assert "price-median" in unbound and "budget-flag" not in unbound


class PostingForm(forms.Form):
    """The fields of the marketplace posting form the partial reads."""

    category = forms.ModelChoiceField(queryset=Skill.objects.all(), to_field_name="code")
    budget_min = forms.DecimalField(required=False)
    budget_max = forms.DecimalField(required=False)


# ---------------------------------------------------------------------------------------------- partials


def _request(user: Any = None) -> Any:
    request = RequestFactory().get("/market/orders/1/")
    from django.contrib.auth.models import AnonymousUser

    request.user = user or AnonymousUser()
    return request


class TestPartials:
    def test_partials_render_nothing_harmful_with_none(self, world: World) -> None:
        for name in ("_order_panel", "_contract_panel", "_opc_reputation", "_post_price_hint"):
            for context in ({}, {"order": None, "org": None, "contract": None, "opc": None, "form": None}):
                out = render_to_string(f"trust/{name}.html", context, request=_request())
                assert "Traceback" not in out
                if name != "_post_price_hint":
                    assert out.strip() == ""

    def test_order_panel_for_an_opc_and_anonymous(self, world: World) -> None:
        order = open_order(world)
        market.submit_bid(order=order, opc=world.opc, actor=None, price=Decimal("100"), timeline_days=5)
        anonymous = render_to_string(
            "trust/_order_panel.html", {"order": order, "org": None}, request=_request()
        )
        assert 'data-testid="unverified-client-warning"' in anonymous and "report-order" not in anonymous
        out = render_to_string(
            "trust/_order_panel.html", {"order": order, "org": world.opc}, request=_request(world.opc_user)
        )
        assert 'data-testid="unverified-client-warning"' in out
        assert 'data-testid="order-thread-start"' in out and f'data-testid="report-order-{order.pk}"' in out
        assert 'data-testid="client-reliability"' in out and 'data-testid="price-reference"' in out
        services.open_thread(order=order, organisation=world.opc, actor=None)
        out = render_to_string(
            "trust/_order_panel.html", {"order": order, "org": world.opc}, request=_request(world.opc_user)
        )
        assert 'data-testid="order-thread-link"' in out
        # Not a bidder: no message button.
        other = render_to_string(
            "trust/_order_panel.html",
            {"order": order, "org": world.other_opc},
            request=_request(world.other_opc_user),
        )
        assert "order-thread" not in other

    def test_order_panel_for_the_client_flags_far_off_bids(self, world: World) -> None:
        for price in ("8000.00", "9000.00", "10000.00", "11000.00", "12000.00"):
            completed(world, price=price)
        world.client.verification_status = "verified"
        world.client.save()
        order = open_order(world, budget=("1000", "50000"))
        market.submit_bid(order=order, opc=world.opc, actor=None, price=Decimal("1000"), timeline_days=5)
        market.submit_bid(
            order=order, opc=world.other_opc, actor=None, price=Decimal("10000"), timeline_days=5
        )
        out = render_to_string(
            "trust/_order_panel.html",
            {"order": order, "org": world.client},
            request=_request(world.client_user),
        )
        assert "unverified-client-warning" not in out
        assert 'data-testid="flagged-bids"' in out and "¥1,000.00" in out and "¥10,000.00 —" not in out
        assert f'data-testid="order-thread-start-{world.opc.pk}"' in out
        assert f'data-testid="order-thread-start-{world.other_opc.pk}"' in out
        assert "report-order" not in out  # nobody reports their own order
        opc_view = render_to_string(
            "trust/_order_panel.html", {"order": order, "org": world.opc}, request=_request(world.opc_user)
        )
        assert 'data-testid="own-bid-flag" data-level="far_below"' in opc_view

    def test_contract_panel(self, world: World) -> None:
        contract = awarded(world)
        out = render_to_string(
            "trust/_contract_panel.html",
            {"contract": contract, "org": world.client},
            request=_request(world.client_user),
        )
        assert 'data-testid="contract-thread-start"' in out and "review-form" not in out
        assert f'data-testid="report-contract-{contract.pk}"' in out
        from .conftest import complete

        complete(contract)
        out = render_to_string(
            "trust/_contract_panel.html",
            {"contract": contract, "org": world.client},
            request=_request(world.client_user),
        )
        assert 'data-testid="review-form"' in out
        services.submit_review(contract=contract, author=world.opc, actor=None, rating=4, text="付款爽快")
        services.open_contract_thread(contract=contract, organisation=world.opc, actor=None)
        out = render_to_string(
            "trust/_contract_panel.html",
            {"contract": contract, "org": world.client},
            request=_request(world.client_user),
        )
        assert 'data-testid="their-review"' in out and "付款爽快" in out and "contract-thread-link" in out
        outsider = render_to_string(
            "trust/_contract_panel.html",
            {"contract": contract, "org": world.operator},
            request=_request(world.operator_user),
        )
        assert "review-form" not in outsider and "report-contract" not in outsider

    def test_order_panel_warms_the_bidders_reputations(self, world: World) -> None:
        from django.db import connection
        from django.template import engines
        from django.test.utils import CaptureQueriesContext

        order = open_order(world)
        for opc in (world.opc, world.other_opc):
            market.submit_bid(order=order, opc=opc, actor=None, price=Decimal("5000"), timeline_days=5)
        page = engines["django"].from_string(
            '{% include "trust/_order_panel.html" %}'
            "{% for b in bids %}{% with opc=b.opc %}{% include 'trust/_opc_reputation.html' %}{% endwith %}{% endfor %}"
        )
        bids = list(order.bids.select_related("opc"))
        request = _request(world.client_user)
        with CaptureQueriesContext(connection) as ctx:
            out = page.render({"order": order, "org": world.client, "bids": bids}, request=request)
        assert out.count('data-testid="opc-reputation"') == 2
        rows_only = engines["django"].from_string(
            "{% for b in bids %}{% with opc=b.opc %}{% include 'trust/_opc_reputation.html' %}{% endwith %}{% endfor %}"
        )
        with CaptureQueriesContext(connection) as again:
            rows_only.render({"bids": bids}, request=request)  # same request: cached
        assert len(again) == 0
        assert len(ctx) < 20

    def test_opc_reputation_partial(self, world: World) -> None:
        out = render_to_string("trust/_opc_reputation.html", {"opc": world.opc})
        assert 'data-testid="opc-reputation"' in out and 'data-score="0"' in out
        contract = completed(world)
        services.submit_review(contract=contract, author=world.client, actor=None, rating=5)
        out = render_to_string("trust/_opc_reputation.html", {"opc": world.opc})
        assert 'data-score="2"' in out
        assert render_to_string("trust/_opc_reputation.html", {"opc": world.client}).strip() == ""


# ---------------------------------------------------------------------------------------------- reports


def test_report_flow_through_pages(world: World) -> None:
    order = open_order(world)
    opc = login(world.opc_user)
    url = reverse("trust:report_new")
    form = opc.get(url, {"kind": "order", "target": order.pk})
    assert form.status_code == 200 and order.title in html(form)
    assert opc.get(url, {"kind": "order", "target": 10**12}).status_code == 404
    assert opc.get(url).status_code == 404
    assert (
        opc.post(url, {"kind": "order", "target": order.pk, "reason": "fraud", "details": ""}).status_code
        == 400
    )
    response = opc.post(
        url, {"kind": "order", "target": order.pk, "reason": "fraud", "details": "要求线下付定金"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("trust:my_reports")
    duplicate = opc.post(url, {"kind": "order", "target": order.pk, "reason": "fraud", "details": "再次"})
    assert duplicate.status_code == 409
    report = Report.objects.get()
    operator = login(world.operator_user)
    queue = html(operator.get(reverse("trust:report_queue")))
    assert f'data-testid="report-open-{report.pk}"' in queue and 'data-testid="open-report-count">1<' in queue
    detail_url = reverse("trust:report_detail", args=[report.pk])
    assert operator.post(detail_url, {"outcome": "actioned", "note": ""}).status_code == 400
    response = operator.post(detail_url, {"outcome": "dismissed", "note": "已核实，不构成欺诈"})
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == ReportStatus.DISMISSED
    mine = html(opc.get(reverse("trust:my_reports")))
    assert 'data-status="dismissed"' in mine and "已核实，不构成欺诈" in mine
    assert login(world.other_operator_user).get(detail_url).status_code == 404
    assert opc.get(reverse("trust:report_queue")).status_code == 403


# ---------------------------------------------------------------------------------------------- credit profile


def test_credit_profile_pages_and_public_verification(world: World) -> None:
    awarded(world, price="15000.00")
    opc = login(world.opc_user)
    url = reverse("trust:credit_list")
    page = html(opc.get(url))
    assert 'data-testid="credit-value">¥15,000.00<' in page
    assert (
        opc.post(url, {"recipient": "宁波银行", "purpose": "订单贷"}).status_code == 400
    )  # no consent ticked
    response = opc.post(url, {"recipient": "宁波银行", "purpose": "订单贷", "consent": "on"})
    assert response.status_code == 302
    export = CreditExport.objects.get()
    pdf = opc.get(reverse("trust:credit_pdf", args=[export.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    data = json.loads(opc.get(reverse("trust:credit_json", args=[export.pk])).content)
    assert data["code"] == export.code and data["totals"]["value"] == "15000.00"
    assert data["verify_url"].endswith(f"/trust/credit/verify/{export.code}/")
    # Public verification, anonymous.
    anonymous = Client()
    verify = anonymous.get(reverse("trust:credit_verify", args=[export.code]))
    assert 'data-state="valid"' in html(verify) and "¥15,000.00" in html(verify)
    lookup = anonymous.get(reverse("trust:credit_lookup"), {"code": export.code.lower()})
    assert lookup.status_code == 302 and lookup["Location"] == reverse(
        "trust:credit_verify", args=[export.code]
    )
    assert anonymous.get(reverse("trust:credit_lookup"), {"code": "!"}).status_code == 400
    assert anonymous.get(reverse("trust:credit_verify", args=["NOPE2345NOPE"])).status_code == 404
    # Another export, then revoke: the page says so and hides the figures.
    assert opc.post(reverse("trust:credit_export", args=[export.consent_id])).status_code == 302
    assert CreditExport.objects.count() == 2
    assert opc.post(reverse("trust:credit_revoke", args=[export.consent_id])).status_code == 302
    revoked = html(anonymous.get(reverse("trust:credit_verify", args=[export.code])))
    assert 'data-state="revoked"' in revoked and "¥15,000.00" not in revoked
    assert opc.post(reverse("trust:credit_revoke", args=[export.consent_id])).status_code == 409
    assert opc.post(reverse("trust:credit_export", args=[export.consent_id])).status_code == 409
    # Others cannot reach it.
    assert login(world.other_opc_user).get(reverse("trust:credit_pdf", args=[export.pk])).status_code == 404
    assert login(world.client_user).get(url).status_code == 403


# ---------------------------------------------------------------------------------------------- nav and panels


def test_nav_and_dashboard_panels(world: World) -> None:
    from trust.nav import items

    def nav(user: Any, org: Any) -> dict[str, str]:
        scope = Scope(Membership.objects.get(user=user, organisation=org))
        return {i.testid: i.label for i in items(None, scope)}

    assert set(nav(world.opc_user, world.opc)) == {"nav-messages", "nav-credit"}
    assert set(nav(world.client_user, world.client)) == {"nav-messages"}
    assert nav(world.operator_user, world.operator)["nav-reports"] == gettext("Reports")
    services.file_report(
        reporter=world.opc,
        actor=None,
        target_kind="organisation",
        reported=world.client,
        reason="spam",
        details="x",
    )
    assert nav(world.operator_user, world.operator)["nav-reports"] == gettext("Reports (%(count)d)") % {
        "count": 1
    }
    assert nav(world.authority_user, world.authority) == {}
    page = html(login(world.operator_user).get(reverse("core:dashboard")))
    assert 'data-testid="open-reports">1<' in page and 'data-testid="nav-reports"' in page
    assert 'data-testid="trust-panel-opc"' in html(login(world.opc_user).get(reverse("core:dashboard")))
    assert 'data-testid="trust-panel-client"' in html(login(world.client_user).get(reverse("core:dashboard")))
    assert category().code == "ai-short-drama"
