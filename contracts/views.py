"""Pages of contract review: upload or paste, the report (and its PDF), and the one-click review of a
document that lives in another app. Thin: forms check shapes, ``contracts.services`` reviews and stores,
``contracts.selectors`` decide what the caller may see."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contracts import selectors, services
from contracts.forms import ReviewForm
from contracts.links import SOURCE_ATTACHMENT, SOURCE_TERM_SHEET
from contracts.models import Review, ReviewSource
from contracts.review.rules import library
from core.errors import DomainError, NotFound
from core.http import acting_user
from organisations.access import Scope, capability_required, scope_for


def _org(scope: Scope) -> Any:
    if scope.organisation is None:
        raise NotFound()
    return scope.organisation


def _list_context(scope: Scope, form: ReviewForm | None = None) -> dict[str, Any]:
    return {
        "reviews": selectors.reviews_for(scope)[:50],
        "form": form or ReviewForm(),
        "categories": sorted(library().categories.values(), key=lambda c: (c.rank, c.code)),
    }


@capability_required()
@require_GET
def reviews(request: HttpRequest) -> HttpResponse:
    return render(request, "contracts/reviews.html", _list_context(scope_for(request)))


@capability_required()
@require_POST
def review_new(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    form = ReviewForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data.get("file"):
                review = services.review_upload(
                    organisation=_org(scope),
                    actor=acting_user(request),
                    upload=data["file"],
                    title=data["title"],
                )
            else:
                review = services.review_text(
                    organisation=_org(scope),
                    actor=acting_user(request),
                    text=data["text"],
                    title=data["title"],
                )
        except DomainError as exc:
            form.add_error("file" if data.get("file") else "text", exc.message)
        else:
            return _reviewed(request, review)
    return render(request, "contracts/reviews.html", _list_context(scope, form), status=400)


def _reviewed(request: HttpRequest, review: Review) -> HttpResponse:
    if review.findings.exists():
        messages.success(
            request,
            _("Reviewed %(title)s: %(count)d risks found.")
            % {"title": review.title, "count": review.findings.count()},
        )
    else:
        messages.success(request, _("Reviewed %(title)s: no risk found.") % {"title": review.title})
    return redirect("contracts:review_detail", review.pk)


@capability_required()
@require_GET
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = selectors.get_review(scope_for(request), pk)
    findings = list(review.findings.all())
    return render(
        request,
        "contracts/review_detail.html",
        {"review": review, "findings": findings, "top": findings[0] if findings else None},
    )


@capability_required()
@require_GET
def review_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    from contracts.pdf import render_review_pdf

    review = selectors.get_review(scope_for(request), pk)
    response = HttpResponse(render_review_pdf(review), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="contract-review-{review.pk}.pdf"'
    return response


def _document(scope: Scope, source: str, raw_id: str) -> tuple[str, Any, str, str]:
    """(review source, object, title, file name) of a document another app holds."""
    if source == SOURCE_ATTACHMENT:
        attachment = selectors.get_attachment_for_review(scope, raw_id)
        return ReviewSource.ORDER_ATTACHMENT, attachment, attachment.order.title, attachment.name
    if source == SOURCE_TERM_SHEET:
        intent = selectors.get_intent_for_review(scope, raw_id)
        return ReviewSource.TERM_SHEET, intent, intent.event.title, intent.term_sheet_name
    raise NotFound()


@capability_required()
@require_http_methods(["GET", "POST"])
def review_from_file(request: HttpRequest) -> HttpResponse:
    """One click: GET shows the document and earlier reviews of it, POST reviews it."""
    scope = scope_for(request)
    params = request.POST if request.method == "POST" else request.GET
    source = params.get("source", "")
    raw_id = params.get("id", "")
    kind, document, title, file_name = _document(scope, source, raw_id)
    error = ""
    if request.method == "POST":
        try:
            if kind == ReviewSource.ORDER_ATTACHMENT:
                review = services.review_order_attachment(
                    attachment=document, organisation=_org(scope), actor=acting_user(request)
                )
            else:
                review = services.review_term_sheet(
                    intent=document, organisation=_org(scope), actor=acting_user(request)
                )
        except services.ExtractionError as exc:
            error = exc.message
        else:
            return _reviewed(request, review)
    return render(
        request,
        "contracts/review_from_file.html",
        {
            "source": source,
            "document_id": document.pk,
            "kind": kind,
            "title": title,
            "file_name": file_name,
            "earlier": selectors.reviews_of_source(scope, kind, document.pk)[:10],
            "error": error,
        },
        status=400 if error else 200,
    )


# -- fair model contracts ------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def templates(request: HttpRequest) -> HttpResponse:
    from contracts.fair import KINDS
    from marketplace.selectors import contracts_for_organisation

    scope = scope_for(request)
    return render(
        request,
        "contracts/templates.html",
        {"kinds": KINDS, "contracts": contracts_for_organisation(_org(scope))[:50]},
    )


def _marketplace_contract(scope: Scope, pk: int) -> Any:
    from marketplace.selectors import get_contract_for_organisation

    return get_contract_for_organisation(_org(scope), pk)


@capability_required()
@require_GET
def contract_template(request: HttpRequest, pk: int) -> HttpResponse:
    from contracts import fair
    from contracts.review import engine

    contract = _marketplace_contract(scope_for(request), pk)
    terms, form = fair.terms_from(request.GET)
    body = fair.render_body(contract, terms)
    check = engine.review(fair.plain_text(body))
    return render(
        request,
        "contracts/contract_template.html",
        {
            "contract": contract,
            "terms": terms,
            "form": form,
            "body": body,
            "check": check,
            "kinds": fair.KINDS,
            "query": request.GET.urlencode(),
        },
    )


@capability_required()
@require_GET
def contract_template_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    from contracts import fair

    contract = _marketplace_contract(scope_for(request), pk)
    terms, _form = fair.terms_from(request.GET)
    response = HttpResponse(fair.render_pdf(contract, terms), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="OPC-{contract.pk}-{terms.kind}.pdf"'
    return response
