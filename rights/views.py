"""Pages of the copyright registry. Thin: objects come from ``rights.selectors`` for the caller's active
organisation (foreign → 404), writes go through ``rights.services`` and a refused rule comes back as a form
error or message with a 4xx status, never a 500. Public: certificate verification and the chain."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError, NotFound
from core.http import acting_user
from organisations.access import capability_required, scope_for
from organisations.models import Organisation
from rights import chain, selectors, services
from rights.forms import (
    CaseNoteForm,
    CaseStatusForm,
    CompensationForm,
    FileCheckForm,
    LookupForm,
    OpenCaseForm,
    ScanForm,
    WorkForm,
)
from rights.models import Case, CaseStatus, Match, Work, WorkStatus


def _org(request: HttpRequest) -> Organisation:
    org = scope_for(request).organisation
    if org is None:  # pragma: no cover - capability_required guarantees an organisation
        raise NotFound()
    return org


def _pdf(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


# -- overview ------------------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    context: dict[str, Any] = {
        "org": org,
        "can_register": services.can_register(org),
        "can_scan": services.can_scan(org),
        "is_agency": services.is_copyright_agency(org),
        "can_oversee": services.can_oversee(scope_for(request)),
        "totals": selectors.registry_totals(),
    }
    if context["can_register"]:
        context["works"] = selectors.works_for(org)[:5]
        context["alerts"] = selectors.matches_on_works_of(org)[:5]
    if context["can_scan"]:
        context["scans"] = selectors.scans_for(org)[:5]
        context["cases"] = selectors.cases_for(org)[:5]
    return render(request, "rights/home.html", context)


# -- works -----------------------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def works(request: HttpRequest) -> HttpResponse:
    org = services.require_registrant(_org(request))
    page = Paginator(selectors.works_for(org), 25).get_page(request.GET.get("page"))
    return render(request, "rights/works.html", {"page": page})


@capability_required()
@require_http_methods(["GET", "POST"])
def work_register(request: HttpRequest) -> HttpResponse:
    org = services.require_registrant(_org(request))
    form = WorkForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                work = services.register_work(
                    holder=org,
                    actor=acting_user(request),
                    upload=form.cleaned_data["file"],
                    inspected=form.inspected,
                    **form.values(),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(
                    request, _("“%(title)s” was submitted for registration.") % {"title": work.title}
                )
                return redirect("rights:work_detail", work.pk)
        else:
            status = 400
    return render(request, "rights/work_register.html", {"form": form}, status=status)


@capability_required()
@require_GET
def work_detail(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(request)
    work = selectors.get_work_for(org, pk)
    entry_check = None
    if work.status == WorkStatus.REGISTERED:
        entry_check = chain.check_registered(work)
    return render(
        request,
        "rights/work_detail.html",
        {
            "work": work,
            "entry_check": entry_check,
            "matches": selectors.matches_on_works_of(org).filter(work=work)[:100],
            "processing": work.status == WorkStatus.PROCESSING,
        },
    )


@capability_required()
@require_GET
def certificate_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    work = selectors.get_work_for(_org(request), pk)
    if work.status != WorkStatus.REGISTERED:
        raise NotFound()
    if not work.certificate_pdf:
        work = services.issue_certificate(work=work)
    try:
        handle = work.certificate_pdf.open("rb")
    except OSError:
        raise NotFound() from None
    response: Any = FileResponse(
        handle, content_type="application/pdf", filename=f"certificate-{work.code}.pdf", as_attachment=False
    )
    response["Cache-Control"] = "private, no-store"
    return response


# -- public verification --------------------------------------------------------------------------------------------
@require_GET
def verify_lookup(request: HttpRequest) -> HttpResponse:
    if "code" not in request.GET:
        return render(request, "rights/verify_lookup.html", {"form": LookupForm()})
    form = LookupForm(request.GET)
    if not form.is_valid():
        return render(request, "rights/verify_lookup.html", {"form": form}, status=400)
    return redirect("rights:verify", form.cleaned_data["code"])


def _verify_context(work: Work | None, code: str, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "work": work,
        "code": selectors.normalise_code(code) or code[:32],
        "entry_check": chain.check_registered(work) if work is not None else None,
        "form": LookupForm(),
        "file_form": FileCheckForm(),
    }
    context.update(extra)
    return context


@require_GET
def verify(request: HttpRequest, code: str) -> HttpResponse:
    work = selectors.certificate_by_code(code)
    return render(
        request, "rights/verify.html", _verify_context(work, code), status=404 if work is None else 200
    )


@require_POST
def verify_file(request: HttpRequest, code: str) -> HttpResponse:
    """Public: compare a file someone was given (the certificate PDF or the work) with the registration."""
    work = selectors.certificate_by_code(code)
    if work is None:
        raise NotFound(_("No registered work has this verification code."))
    form = FileCheckForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "rights/verify.html", _verify_context(work, code, file_form=form), status=400)
    upload = form.cleaned_data["file"]
    result, digest = selectors.compare_with_registration(work, upload)
    return render(
        request,
        "rights/verify.html",
        _verify_context(
            work,
            code,
            file_check={"result": result, "sha256": digest, "name": upload.name},
        ),
    )


@require_GET
def chain_view(request: HttpRequest) -> HttpResponse:
    report = chain.verify_chain(use_cache=True)
    page = Paginator(selectors.chain_entries(), 50).get_page(request.GET.get("page"))
    return render(request, "rights/chain.html", {"report": report, "page": page})


# -- detection ---------------------------------------------------------------------------------------------------------
@capability_required()
@require_http_methods(["GET", "POST"])
def scans(request: HttpRequest) -> HttpResponse:
    org = services.require_scanner(_org(request))
    form = ScanForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                scan = services.submit_scan(
                    organisation=org,
                    actor=acting_user(request),
                    uploads=form.cleaned_data["copies"],
                    note=form.cleaned_data["note"],
                    inspected=form.inspected,
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                count = len(form.cleaned_data["copies"])
                messages.success(
                    request,
                    ngettext(
                        "%(count)d file submitted; it is compared with every registered work.",
                        "%(count)d files submitted; each is compared with every registered work.",
                        count,
                    )
                    % {"count": count},
                )
                return redirect("rights:scan_detail", scan.pk)
        else:
            status = 400
    page = Paginator(selectors.scans_for(org), 25).get_page(request.GET.get("page"))
    return render(request, "rights/scans.html", {"form": form, "page": page}, status=status)


@capability_required()
@require_GET
def scan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(request)
    scan = selectors.get_scan_for(org, pk)
    pending = any(s.status == "pending" for s in scan.suspects.all())
    return render(request, "rights/scan_detail.html", {"scan": scan, "org": org, "pending": pending})


def _evidence_context(request: HttpRequest, match: Match, **extra: Any) -> dict[str, Any]:
    org = _org(request)
    case = getattr(match, "case", None)
    context: dict[str, Any] = {
        "match": match,
        "work": match.work,
        "suspect": match.suspect,
        "case": case,
        "is_holder": match.work.holder_id == org.pk,
        "case_form": OpenCaseForm(),
    }
    context.update(extra)
    return context


@capability_required()
@require_GET
def evidence(request: HttpRequest, pk: int) -> HttpResponse:
    match = selectors.get_match_for(_org(request), pk)
    return render(request, "rights/evidence.html", _evidence_context(request, match))


@capability_required()
@require_GET
def evidence_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    from rights.pdf import render_evidence_pdf

    match = selectors.get_match_for(_org(request), pk)
    return _pdf(render_evidence_pdf(match), f"evidence-{match.pk}.pdf")


@capability_required()
@require_POST
def case_open(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(request)
    match = selectors.get_match_for(org, pk)
    form = OpenCaseForm(request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            case = services.open_case(
                match=match,
                organisation=org,
                actor=acting_user(request),
                agency=data["agency"],
                agency_share=data["agency_share"],
                infringer=data["infringer"],
                infringing_url=data["infringing_url"],
                note=data["note"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            messages.success(
                request,
                _("Case #%(case)s opened and handed to %(agency)s.")
                % {"case": case.pk, "agency": case.agency.name},
            )
            return redirect("rights:case_detail", case.pk)
    return render(
        request, "rights/evidence.html", _evidence_context(request, match, case_form=form), status=status
    )


# -- cases ------------------------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def cases(request: HttpRequest) -> HttpResponse:
    org = services.require_case_party(_org(request))
    page = Paginator(selectors.cases_for(org), 25).get_page(request.GET.get("page"))
    return render(request, "rights/cases.html", {"page": page, "org": org})


def _case_context(request: HttpRequest, case: Case, **forms: Any) -> dict[str, Any]:
    org = _org(request)
    is_agency = case.agency_id == org.pk
    context: dict[str, Any] = {
        "case": case,
        "org": org,
        "is_agency": is_agency,
        "is_holder": case.holder_id == org.pk,
        "moves": [(s, CaseStatus(s).label) for s in services.allowed_moves(case, org)],
        "can_record": is_agency and case.status in services.COMPENSATION_STATES,
        "status_form": CaseStatusForm(),
        "note_form": CaseNoteForm(),
        "compensation_form": CompensationForm(),
    }
    context.update(forms)
    return context


@capability_required()
@require_GET
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = selectors.get_case_for(_org(request), pk)
    return render(request, "rights/case_detail.html", _case_context(request, case))


def _case_action(
    request: HttpRequest, pk: int, form: Any, action: Any, success: str, form_name: str
) -> HttpResponse:
    org = _org(request)
    case = selectors.get_case_for(org, pk)
    if form.is_valid():
        try:
            action(case, org, form.cleaned_data)
        except DomainError as exc:
            if exc.status_code in (403, 404):
                raise
            form.add_error(None, exc.message)
            fresh = selectors.get_case_for(org, pk)
            return render(
                request,
                "rights/case_detail.html",
                _case_context(request, fresh, **{form_name: form}),
                status=exc.status_code,
            )
        messages.success(request, success)
        return redirect("rights:case_detail", case.pk)
    return render(
        request, "rights/case_detail.html", _case_context(request, case, **{form_name: form}), status=400
    )


@capability_required()
@require_POST
def case_status(request: HttpRequest, pk: int) -> HttpResponse:
    return _case_action(
        request,
        pk,
        CaseStatusForm(request.POST),
        lambda case, org, data: services.change_case_status(
            case=case,
            organisation=org,
            actor=acting_user(request),
            status=data["status"],
            outcome=data["outcome"],
        ),
        _("The case was updated."),
        "status_form",
    )


@capability_required()
@require_POST
def case_note(request: HttpRequest, pk: int) -> HttpResponse:
    return _case_action(
        request,
        pk,
        CaseNoteForm(request.POST),
        lambda case, org, data: services.add_case_note(
            case=case, organisation=org, actor=acting_user(request), text=data["text"]
        ),
        _("Note added."),
        "note_form",
    )


@capability_required()
@require_POST
def case_compensation(request: HttpRequest, pk: int) -> HttpResponse:
    return _case_action(
        request,
        pk,
        CompensationForm(request.POST),
        lambda case, org, data: services.record_compensation(
            case=case,
            organisation=org,
            actor=acting_user(request),
            amount=data["amount"],
            payer=data["payer"],
            idempotency_key=data["idempotency_key"],
        ),
        _("Compensation recorded and split between the agency and the creator."),
        "compensation_form",
    )
