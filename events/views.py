"""Event, roadshow, 1:1 meeting, follow-up and competition pages. Views are thin: objects come from
``events.selectors`` with the caller's scope (another organiser's event → 404), writes go through
``events.services``, and a refused rule comes back as a form error or message with a 4xx status."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.backends import find_user_by_login
from core.errors import DomainError, NotFound, NotPermitted
from core.http import acting_user
from events import ics, selectors, services, tickets
from events.forms import (
    AwardForm,
    CheckinForm,
    CompetitionForm,
    CriterionForm,
    DecisionForm,
    DraftOrderForm,
    EventForm,
    IntentForm,
    IntentStatusForm,
    JudgeForm,
    LinkOrderForm,
    PartnerForm,
    PreferencesForm,
    RegisterForm,
    RoadshowForm,
    ScoreForm,
    StatusForm,
    SubmissionForm,
    competition_status_choices,
)
from events.models import (
    HOST_ROLES,
    ApplicationStatus,
    Competition,
    CompetitionStatus,
    Event,
    InvestmentIntent,
    MeetingRun,
    Registration,
    RegistrationRole,
    RegistrationStatus,
    RoadshowApplication,
    Submission,
    SubmissionStatus,
)
from organisations.access import Scope, capability_required, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation

V = TypeVar("V", bound=Callable[..., HttpResponse])


def _org(scope: Scope) -> Organisation:
    if scope.organisation is None:  # pragma: no cover - capability_required guarantees one
        raise NotPermitted()
    return scope.organisation


def login_only(view: V) -> V:
    """Logged in, with or without an organisation (judges may be outside experts)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _user_or_none(request: HttpRequest) -> Any:
    return request.user if request.user.is_authenticated else None


# ================================================================================================ public events
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.public_events(), 20).get_page(request.GET.get("page"))
    return render(request, "events/list.html", {"page": page})


def _detail_context(request: HttpRequest, event: Event, **extra: Any) -> dict[str, Any]:
    scope = scope_for(request)
    may_host = scope.kind in (OrgKind.CLIENT, OrgKind.PROVIDER)
    mine = selectors.user_registration(event, request.user)
    context: dict[str, Any] = {
        "event": event,
        "counts": services.registration_counts(event),
        "open": services.registration_open(event),
        "form": RegisterForm(
            may_host=may_host,
            initial={
                "name": getattr(request.user, "display_name", ""),
                "organisation_name": scope.organisation.name if scope.organisation else "",
            },
        ),
        "mine": mine,
        "mine_ticket": tickets.sign(mine.code) if mine else "",
        "pitches": event.roadshow_applications.filter(status=ApplicationStatus.SELECTED)
        .select_related("organisation")
        .order_by("position"),
        "may_apply": scope.kind == OrgKind.OPC and event.roadshow_slots > 0,
        "is_organiser": scope.organisation is not None and event.organiser_id == scope.organisation.pk,
        "outcomes": selectors.outcome_totals(event),
        "agenda_lines": [line for line in event.agenda.splitlines() if line.strip()],
    }
    context.update(extra)
    return context


@require_GET
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.visible_event(scope_for(request), pk)
    return render(request, "events/detail.html", _detail_context(request, event))


@require_POST
def event_register(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    event = selectors.visible_event(scope, pk)
    may_host = scope.kind in (OrgKind.CLIENT, OrgKind.PROVIDER)
    form = RegisterForm(request.POST, may_host=may_host)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        host = (
            services.HostDetails(
                ticket_min=data.get("ticket_min"),
                ticket_max=data.get("ticket_max"),
                brings_orders=data.get("brings_orders") or "",
                orders_value=data.get("orders_value"),
            )
            if data["role"] in HOST_ROLES
            else None
        )
        user = _user_or_none(request)
        try:
            reg = services.register(
                event=event,
                name=data["name"],
                actor=user,
                organisation=scope.organisation if user is not None else None,
                contact=data["contact"],
                organisation_name=data["organisation_name"],
                role=data["role"],
                interests=list(data["interests"]),
                host=host,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            if reg.status == RegistrationStatus.CONFIRMED:
                messages.success(request, _("You are registered. Show the QR code at the door."))
            else:
                messages.warning(
                    request,
                    _(
                        "All seats are taken: you are number %(n)d on the waitlist. You move up automatically when a seat frees."
                    )
                    % {"n": services.waitlist_position(reg) or 0},
                )
            return redirect("events:ticket", tickets.sign(reg.code))
    return render(request, "events/detail.html", _detail_context(request, event, form=form), status=status)


# ================================================================================================ tickets
def _slot_label(event: Event, slot: int) -> str:
    start, end = services.slot_times(event, slot)
    return f"{timezone.localtime(start):%H:%M}–{timezone.localtime(end):%H:%M}"


def _checkin_url(request: HttpRequest, ticket: str) -> str:
    return request.build_absolute_uri(reverse("events:checkin_code", args=[ticket]))


@never_cache
@require_GET
def ticket(request: HttpRequest, code: str) -> HttpResponse:
    reg = selectors.get_ticket(code)
    event = reg.event
    run = selectors.published_run(event)
    meetings = list(selectors.meetings_of(run, reg))
    return render(
        request,
        "events/ticket.html",
        {
            "reg": reg,
            "event": event,
            "ticket": tickets.sign(reg.code),
            "checkin_url": _checkin_url(request, tickets.sign(reg.code)),
            "position": services.waitlist_position(reg),
            "run": run,
            "meetings": meetings,
            "can_cancel": reg.status != RegistrationStatus.CANCELLED and reg.checked_in_at is None,
            "has_preferences": event.has_meetings and reg.status != RegistrationStatus.CANCELLED,
        },
    )


@never_cache
@require_GET
def ticket_qr(request: HttpRequest, code: str) -> HttpResponse:
    import qrcode
    import qrcode.image.svg

    reg = selectors.get_ticket(code)
    image = qrcode.make(
        _checkin_url(request, tickets.sign(reg.code)),
        image_factory=qrcode.image.svg.SvgPathImage,
        box_size=10,
        border=2,
    )
    response = HttpResponse(image.to_string(encoding="unicode"), content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-store"
    return response


@never_cache
@require_GET
def ticket_ics(request: HttpRequest, code: str) -> HttpResponse:
    reg = selectors.get_ticket(code)
    event = reg.event
    run = selectors.published_run(event)
    entries = []
    for m in selectors.meetings_of(run, reg):
        other = m.attendee if m.host_id == reg.pk else m.host
        entries.append(
            ics.CalendarEntry(
                uid=f"opchub-meeting-{m.pk}-{reg.pk}@opchub",
                starts_at=m.starts_at,
                ends_at=m.ends_at,
                summary=_("1:1 meeting with %(name)s") % {"name": other.organisation_name or other.name},
                location=_("%(venue)s, table %(table)d") % {"venue": event.venue, "table": m.table},
                description=event.title,
            )
        )
    body = ics.calendar(entries, name=event.title, now=timezone.now())
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="meetings-{event.pk}.ics"'
    return response


@require_POST
def ticket_cancel(request: HttpRequest, code: str) -> HttpResponse:
    reg = selectors.get_ticket(code)
    try:
        services.cancel_registration(registration=reg, actor=_user_or_none(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Your registration is cancelled."))
    return redirect("events:ticket", tickets.sign(reg.code))


def _counterparts(reg: Registration) -> list[Registration]:
    roles = [RegistrationRole.ATTENDEE] if reg.is_host else list(HOST_ROLES)
    return list(
        Registration.objects.filter(event_id=reg.event_id, role__in=roles)
        .exclude(status=RegistrationStatus.CANCELLED)
        .order_by("organisation_name", "name", "id")[:200]
    )


@require_http_methods(["GET", "POST"])
def ticket_preferences(request: HttpRequest, code: str) -> HttpResponse:
    reg = selectors.get_ticket(code)
    event = reg.event
    slot_choices = (
        [(s, _slot_label(event, s)) for s in range(event.meeting_slots)] if event.has_meetings else []
    )
    counterparts = _counterparts(reg)
    ratings = dict(reg.requests_made.values_list("target_id", "rating"))
    initial: dict[str, Any] = {
        "interests": list(reg.interests.all()),
        "slots": reg.available_slots or [s for s, _label in slot_choices],
        "ticket_min": reg.ticket_min,
        "ticket_max": reg.ticket_max,
        "brings_orders": reg.brings_orders,
        "orders_value": reg.orders_value,
        **{f"rate_{c.pk}": ratings.get(c.pk, 0) for c in counterparts},
    }
    form = PreferencesForm(
        request.POST or None,
        slot_choices=slot_choices,
        counterparts=counterparts,
        host=reg.is_host,
        initial=initial,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.update_preferences(
                    registration=reg,
                    actor=_user_or_none(request),
                    interests=list(form.cleaned_data["interests"]),
                    available_slots=form.cleaned_data.get("slots") if slot_choices else None,
                    ratings=form.ratings(),
                    host=services.HostDetails(
                        ticket_min=form.cleaned_data.get("ticket_min"),
                        ticket_max=form.cleaned_data.get("ticket_max"),
                        brings_orders=form.cleaned_data.get("brings_orders") or "",
                        orders_value=form.cleaned_data.get("orders_value"),
                    )
                    if reg.is_host
                    else None,
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Your meeting preferences are saved."))
                return redirect("events:ticket", tickets.sign(reg.code))
    return render(
        request,
        "events/preferences.html",
        {"reg": reg, "event": event, "form": form, "ticket": tickets.sign(reg.code)},
        status=status,
    )


@capability_required()
@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    org = _org(scope)
    registrations = list(selectors.registrations_of_user(request.user))
    for reg in registrations:
        reg.ticket = tickets.sign(reg.code)  # type: ignore[attr-defined]
    return render(
        request,
        "events/mine.html",
        {
            "registrations": registrations,
            "applications": RoadshowApplication.objects.filter(organisation=org).select_related("event"),
            "submissions": Submission.objects.filter(organisation=org).select_related("competition"),
            "badges": selectors.badges_for(org.pk),
            "judging": Competition.objects.filter(judges__user=acting_user(request)).distinct(),
            "intents": selectors.intents_for_opc(org.pk),
            "event_orders": selectors.event_orders_for_client(org.pk),
            "org": org,
        },
    )


# ================================================================================================ roadshow
@capability_required()
@require_http_methods(["GET", "POST"])
def roadshow_apply(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    event = selectors.visible_event(scope, pk)
    if scope.kind != OrgKind.OPC:
        raise NotPermitted(_("Only one-person companies (OPCs) pitch at roadshows."))
    form = RoadshowForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.apply_for_roadshow(
                    event=event,
                    organisation=_org(scope),
                    actor=acting_user(request),
                    title=form.cleaned_data["title"],
                    pitch=form.cleaned_data["pitch"],
                    deck=form.cleaned_data.get("deck"),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Your application is in. The organiser selects the pitches."))
                return redirect("events:mine")
    return render(request, "events/roadshow_apply.html", {"event": event, "form": form}, status=status)


@capability_required()
@require_POST
def roadshow_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(scope_for(request))
    application = RoadshowApplication.objects.filter(pk=pk, organisation=org).first()
    if application is None:
        raise NotFound()
    try:
        services.withdraw_application(application=application, organisation=org, actor=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Application withdrawn."))
    return redirect("events:mine")


def _private_file(field: Any, filename: str) -> HttpResponse:
    if not field:
        raise NotFound()
    try:
        handle = field.open("rb")
    except OSError:
        raise NotFound() from None
    response: Any = FileResponse(handle, as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


@capability_required()
@require_GET
def roadshow_deck(request: HttpRequest, pk: int) -> HttpResponse:
    """The deck, for the applicant and the organiser."""
    scope = scope_for(request)
    application = RoadshowApplication.objects.select_related("event").filter(pk=pk).first()
    org = _org(scope)
    if application is None or not (
        application.organisation_id == org.pk
        or selectors.managed_events(scope).filter(pk=application.event_id).exists()
    ):
        raise NotFound()
    return _private_file(application.deck, application.deck_name or "deck")


# ================================================================================================ operator: events
@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def manage_list(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    form = EventForm(request.POST or None, communities=scope.managed_communities())
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                event = services.create_event(
                    organiser=_org(scope),
                    actor=acting_user(request),
                    community=form.cleaned_data["community"],
                    **form.values(),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Event created as a draft. Publish it to open registration."))
                return redirect("events:manage_detail", event.pk)
    events = selectors.with_counts(selectors.managed_events(scope)).order_by("-starts_at")
    return render(request, "events/manage_list.html", {"events": events, "form": form}, status=status)


ATTENDEE_FILTERS = ("confirmed", "waitlisted", "cancelled", "checked_in", "not_checked_in")


def _attendee_matches(reg: Registration, status: str, query: str) -> bool:
    if status == "checked_in" and reg.checked_in_at is None:
        return False
    if status == "not_checked_in" and (
        reg.checked_in_at is not None or reg.status != RegistrationStatus.CONFIRMED
    ):
        return False
    if status in ("confirmed", "waitlisted", "cancelled") and reg.status != status:
        return False
    if query:
        haystack = " ".join([reg.name, reg.organisation_name, reg.contact, reg.code]).casefold()
        return query.casefold() in haystack
    return True


def _manage_context(request: HttpRequest, event: Event, **extra: Any) -> dict[str, Any]:
    registrations = list(selectors.event_registrations(event))
    waiting = 0
    for reg in registrations:
        reg.ticket = tickets.sign(reg.code)  # type: ignore[attr-defined]
        if reg.role == RegistrationRole.ATTENDEE and reg.status == RegistrationStatus.WAITLISTED:
            waiting += 1  # same order as services.waitlist_position: sign-up time, then id
            reg.waitlist_position = waiting  # type: ignore[attr-defined]
    attendees = [r for r in registrations if r.role == RegistrationRole.ATTENDEE]
    status = request.GET.get("status", "")
    status = status if status in ATTENDEE_FILTERS else ""
    query = request.GET.get("q", "").strip()[:100]
    context: dict[str, Any] = {
        "event": event,
        "counts": services.registration_counts(event),
        "attendees": [r for r in attendees if _attendee_matches(r, status, query)],
        "attendee_total": len(attendees),
        "attendee_filter": {"status": status, "q": query},
        "attendee_filters": [
            *((s.value, s.label) for s in RegistrationStatus),
            ("checked_in", _("Checked in")),
            ("not_checked_in", _("Confirmed, not checked in yet")),
        ],
        "hosts": [r for r in registrations if r.is_host],
        "transitions": sorted(services.EVENT_TRANSITIONS.get(event.status, set())),
        "partner_form": PartnerForm(),
        "outcomes": selectors.outcome_totals(event),
        "run": selectors.published_run(event),
    }
    context.update(extra)
    return context


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def manage_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.get_managed_event(scope_for(request), pk)
    return render(request, "events/manage_detail.html", _manage_context(request, event))


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def manage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    event = selectors.get_managed_event(scope, pk)
    form = EventForm(
        request.POST or None, communities=scope.managed_communities(), initial=EventForm.initial_for(event)
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                _event, promoted = services.update_event(
                    event=event,
                    actor=acting_user(request),
                    values=form.values(),
                    community=form.cleaned_data["community"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Saved."))
                if promoted:
                    messages.info(
                        request,
                        _("%(count)d people moved up from the waitlist.") % {"count": len(promoted)},
                    )
                return redirect("events:manage_detail", event.pk)
    return render(request, "events/manage_edit.html", {"event": event, "form": form}, status=status)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def manage_status(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.get_managed_event(scope_for(request), pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what to do with the event."))
        return render(request, "events/manage_detail.html", _manage_context(request, event), status=400)
    try:
        services.set_event_status(event=event, target=form.cleaned_data["target"], actor=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(
            request, "events/manage_detail.html", _manage_context(request, event), status=exc.status_code
        )
    messages.success(request, _("Event status changed."))
    return redirect("events:manage_detail", event.pk)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def partner_add(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.get_managed_event(scope_for(request), pk)
    form = PartnerForm(request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.register(
                event=event,
                name=data["name"],
                actor=acting_user(request),
                contact=data["contact"],
                organisation_name=data["organisation_name"],
                role=data["role"],
                interests=list(data["interests"]),
                host=services.HostDetails(
                    ticket_min=data.get("ticket_min"),
                    ticket_max=data.get("ticket_max"),
                    brings_orders=data.get("brings_orders") or "",
                    orders_value=data.get("orders_value"),
                ),
                invited_by_organiser=True,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            messages.success(request, _("%(name)s is on the guest list.") % {"name": data["name"]})
            return redirect(reverse("events:manage_detail", args=[event.pk]) + "#hosts")
    return render(
        request,
        "events/manage_detail.html",
        _manage_context(request, event, partner_form=form),
        status=status,
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def registration_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    reg: Registration = selectors.managed_object(scope_for(request), Registration, pk)
    try:
        _reg, promoted = services.cancel_registration(
            registration=reg, actor=acting_user(request), by_organiser=True
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        text = _("Registration of %(name)s cancelled.") % {"name": reg.name}
        if promoted:
            text += " " + _("%(name)s moved up from the waitlist.") % {"name": promoted[0].name}
        messages.success(request, text)
    return redirect(reverse("events:manage_detail", args=[reg.event_id]) + "#attendees")


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def checkin(request: HttpRequest, pk: int) -> HttpResponse:
    """The door: type the ticket code or paste / scan the QR link."""
    event = selectors.get_managed_event(scope_for(request), pk)
    form = CheckinForm(request.POST or None)
    status = 200
    result: Registration | None = None
    error = ""
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                result = services.check_in(
                    event=event, code_text=form.cleaned_data["code"], actor=acting_user(request)
                )
            except DomainError as exc:
                error = exc.message
                status = exc.status_code
            else:
                status = 200
                form = CheckinForm()
    return render(
        request,
        "events/checkin.html",
        {
            "event": event,
            "form": form,
            "result": result,
            "error": error,
            "counts": services.registration_counts(event),
            "recent": Registration.objects.filter(event=event, checked_in_at__isnull=False).order_by(
                "-checked_in_at"
            )[:10],
        },
        status=status,
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def checkin_code(request: HttpRequest, code: str) -> HttpResponse:
    """What the door staff's phone opens when it scans a ticket's QR code."""
    scope = scope_for(request)
    reg = selectors.registration_by_ticket(code)
    if reg is None or not selectors.managed_events(scope).filter(pk=reg.event_id).exists():
        raise NotFound()
    event = reg.event
    error = ""
    status = 200
    if request.method == "POST":
        try:
            reg = services.check_in(event=event, code_text=code, actor=acting_user(request))
        except DomainError as exc:
            error = exc.message
            status = exc.status_code
            reg.refresh_from_db()
        else:
            messages.success(request, _("%(name)s checked in.") % {"name": reg.name})
            return redirect("events:checkin_code", code)
    return render(
        request,
        "events/checkin_code.html",
        {"reg": reg, "event": event, "error": error, "code": code},
        status=status,
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def registrations_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    from events.exports import registrations_workbook, xlsx_response

    event = selectors.get_managed_event(scope_for(request), pk)
    return xlsx_response(registrations_workbook(event), f"registrations-{event.pk}.xlsx")


# ================================================================================================ roadshow (operator)
@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def roadshow_manage(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.get_managed_event(scope_for(request), pk)
    applications = event.roadshow_applications.select_related("organisation").order_by(
        "status", "position", "created_at"
    )
    return render(
        request,
        "events/roadshow_manage.html",
        {
            "event": event,
            "applications": applications,
            "selected": applications.filter(status=ApplicationStatus.SELECTED).count(),
        },
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def roadshow_decide(request: HttpRequest, pk: int) -> HttpResponse:
    application: RoadshowApplication = selectors.managed_object(scope_for(request), RoadshowApplication, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Select or decline the application."))
    else:
        try:
            services.decide_application(
                application=application, target=form.cleaned_data["decision"], actor=acting_user(request)
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Decision saved."))
    return redirect("events:roadshow_manage", application.event_id)


# ================================================================================================ 1:1 schedule
@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def schedule(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.get_managed_event(scope_for(request), pk)
    status = 200
    if request.method == "POST":
        try:
            run = services.run_scheduler(event=event, actor=acting_user(request))
        except DomainError as exc:
            messages.error(request, exc.message)
            status = exc.status_code
        else:
            messages.success(
                request,
                _("%(count)d meetings scheduled (total mutual interest %(total)s).")
                % {"count": run.meetings.count(), "total": run.total_interest},
            )
            return redirect(reverse("events:schedule", args=[event.pk]) + f"?run={run.pk}")
    runs = list(event.meeting_runs.all()[:10])
    chosen = None
    wanted = request.GET.get("run")
    if wanted:
        chosen = next((r for r in runs if str(r.pk) == wanted), None)
    chosen = chosen or next((r for r in runs if r.published_at), None) or (runs[0] if runs else None)
    grid: list[dict[str, Any]] = []
    slots: list[str] = []
    if chosen is not None and event.has_meetings:
        slots = [_slot_label(event, s) for s in range(event.meeting_slots)]
        by_host: dict[int, dict[str, Any]] = {}
        for m in selectors.run_meetings(chosen):
            row = by_host.setdefault(m.host_id, {"host": m.host, "cells": [None] * event.meeting_slots})
            if m.slot < event.meeting_slots:
                row["cells"][m.slot] = m
        grid = sorted(by_host.values(), key=lambda r: (r["host"].organisation_name, r["host"].name))
        for row in grid:
            row["host"].ticket = tickets.sign(row["host"].code)
    return render(
        request,
        "events/schedule.html",
        {
            "event": event,
            "runs": runs,
            "run": chosen,
            "grid": grid,
            "slots": slots,
            "ratio": (chosen.total_interest / chosen.bound) if chosen and chosen.bound else None,
            "staleness": services.run_staleness(chosen) if chosen else None,
        },
        status=status,
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def schedule_publish(request: HttpRequest, pk: int) -> HttpResponse:
    run: MeetingRun = selectors.managed_object(scope_for(request), MeetingRun, pk)
    try:
        services.publish_schedule(run=run, actor=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Schedule published: every participant sees it on their ticket."))
    return redirect(reverse("events:schedule", args=[run.event_id]) + f"?run={run.pk}")


# ================================================================================================ outcomes
def _outcome_forms(event: Event) -> dict[str, Any]:
    participants = Organisation.objects.filter(pk__in=services.participant_organisation_ids(event)).order_by(
        "name"
    )
    return {
        "link_form": LinkOrderForm(),
        "draft_form": DraftOrderForm(clients=participants.filter(kind__in=[OrgKind.CLIENT, OrgKind.OPC])),
        "intent_form": IntentForm(
            investors=Registration.objects.filter(event=event, role=RegistrationRole.INVESTOR).exclude(
                status=RegistrationStatus.CANCELLED
            ),
            opcs=participants.filter(kind=OrgKind.OPC),
        ),
    }


def _outcomes_context(event: Event, **forms: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "event": event,
        "orders": event.outcome_orders.select_related("order__client", "order__category").order_by(
            "recorded_at"
        ),
        "intents": event.investment_intents.select_related("opc", "investor").order_by("recorded_at"),
        "totals": selectors.outcome_totals(event),
        "status_form": IntentStatusForm(),
        **_outcome_forms(event),
    }
    context.update(forms)
    return context


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def outcomes(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.get_managed_event(scope_for(request), pk)
    return render(request, "events/outcomes.html", _outcomes_context(event))


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def outcome_link(request: HttpRequest, pk: int) -> HttpResponse:
    from marketplace.models import Order

    event = selectors.get_managed_event(scope_for(request), pk)
    form = LinkOrderForm(request.POST)
    status = 400
    if form.is_valid():
        order = Order.objects.select_related("contract").filter(pk=form.cleaned_data["order"]).first()
        try:
            if order is None:
                raise NotFound(_("There is no order with this number."))
            services.link_order(
                event=event, order=order, actor=acting_user(request), note=form.cleaned_data["note"]
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            messages.success(request, _("Order recorded as an outcome of the event."))
            return redirect("events:outcomes", event.pk)
    return render(request, "events/outcomes.html", _outcomes_context(event, link_form=form), status=status)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def outcome_draft(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.get_managed_event(scope_for(request), pk)
    clients = _outcome_forms(event)["draft_form"].fields["client"].queryset
    form = DraftOrderForm(request.POST, clients=clients)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            link = services.draft_order_for_client(
                event=event,
                client=data["client"],
                actor=acting_user(request),
                title=data["title"],
                category=data["category"],
                budget_min=data["budget_min"],
                budget_max=data["budget_max"],
                deadline=data["deadline"],
                description=data["description"],
                procurement_method=data["procurement_method"] or "",
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            messages.success(
                request,
                _("Draft order %(title)s created for %(client)s; they review and publish it.")
                % {"title": link.order.title, "client": data["client"].name},
            )
            return redirect("events:outcomes", event.pk)
    return render(request, "events/outcomes.html", _outcomes_context(event, draft_form=form), status=status)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def outcome_intent(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.get_managed_event(scope_for(request), pk)
    base = _outcome_forms(event)["intent_form"]
    form = IntentForm(
        request.POST,
        request.FILES,
        investors=base.fields["investor"].queryset,
        opcs=base.fields["opc"].queryset,
    )
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.record_intent(
                event=event,
                opc=data["opc"],
                actor=acting_user(request),
                amount=data["amount"],
                investor=data["investor"],
                investor_name=data["investor_name"],
                terms=data["terms"],
                term_sheet=data.get("term_sheet"),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            messages.success(request, _("Investment intent recorded."))
            return redirect("events:outcomes", event.pk)
    return render(request, "events/outcomes.html", _outcomes_context(event, intent_form=form), status=status)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def intent_status(request: HttpRequest, pk: int) -> HttpResponse:
    intent: InvestmentIntent = selectors.managed_object(scope_for(request), InvestmentIntent, pk)
    form = IntentStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose signed or withdrawn."))
    else:
        try:
            services.set_intent_status(
                intent=intent, target=form.cleaned_data["target"], actor=acting_user(request)
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Saved."))
    return redirect("events:outcomes", intent.event_id)


@capability_required()
@require_GET
def intent_term_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    """The term sheet, for the organiser and the OPC it concerns."""
    scope = scope_for(request)
    intent = InvestmentIntent.objects.filter(pk=pk).first()
    if intent is None or not (
        intent.opc_id == _org(scope).pk or selectors.managed_events(scope).filter(pk=intent.event_id).exists()
    ):
        raise NotFound()
    return _private_file(intent.term_sheet, intent.term_sheet_name or "term-sheet")


# ================================================================================================ competitions
@require_GET
def competition_list(request: HttpRequest) -> HttpResponse:
    return render(request, "events/competition_list.html", {"competitions": selectors.public_competitions()})


@require_GET
def competition_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    comp = selectors.visible_competition(scope, pk)
    mine = None
    if scope.organisation is not None:
        mine = Submission.objects.filter(
            competition=comp, organisation=scope.organisation, status=SubmissionStatus.SUBMITTED
        ).first()
    results = (
        comp.results.select_related("submission__organisation", "award")
        if comp.status == CompetitionStatus.CLOSED
        else []
    )
    return render(
        request,
        "events/competition_detail.html",
        {
            "competition": comp,
            "criteria": comp.criteria.all(),
            "awards": comp.awards.all(),
            "results": results,
            "mine": mine,
            "may_enter": scope.kind == OrgKind.OPC and comp.status == CompetitionStatus.OPEN,
            "is_judge": services.judge_for(comp, request.user) is not None,
            "is_organiser": scope.organisation is not None and comp.organiser_id == scope.organisation.pk,
        },
    )


@capability_required()
@require_http_methods(["GET", "POST"])
def competition_submit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    comp = selectors.visible_competition(scope, pk)
    if scope.kind != OrgKind.OPC:
        raise NotPermitted(_("Only one-person companies (OPCs) enter competitions."))
    form = SubmissionForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.submit_entry(
                    competition=comp,
                    organisation=_org(scope),
                    actor=acting_user(request),
                    title=data["title"],
                    description=data["description"],
                    video=data.get("video"),
                    link=data.get("link") or "",
                    ai_tools=data.get("ai_tools") or "",
                    original=bool(data.get("original")),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Your entry is in. Good luck!"))
                return redirect("events:competition_detail", comp.pk)
    return render(
        request, "events/competition_submit.html", {"competition": comp, "form": form}, status=status
    )


@capability_required()
@require_POST
def submission_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(scope_for(request))
    submission = Submission.objects.filter(pk=pk, organisation=org).first()
    if submission is None:
        raise NotFound()
    try:
        services.withdraw_entry(submission=submission, organisation=org, actor=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Entry withdrawn."))
    return redirect("events:competition_detail", submission.competition_id)


@login_only
@require_GET
def submission_video(request: HttpRequest, pk: int) -> HttpResponse:
    """The entry's file, for its OPC, the organiser and the judges."""
    scope = scope_for(request)
    submission = Submission.objects.select_related("competition").filter(pk=pk).first()
    own = scope.organisation.pk if scope.organisation is not None else None
    if submission is None or not (
        submission.organisation_id == own
        or selectors.managed_competitions(scope).filter(pk=submission.competition_id).exists()
        or services.judge_for(submission.competition, request.user) is not None
    ):
        raise NotFound()
    return _private_file(submission.video, submission.video_name or "video")


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def competition_manage_list(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    form = CompetitionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                comp = services.create_competition(
                    organiser=_org(scope), actor=acting_user(request), **form.cleaned_data
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(
                    request, _("Competition created. Add the rubric, judges and awards, then open it.")
                )
                return redirect("events:competition_manage", comp.pk)
    competitions = selectors.managed_competitions(scope).order_by("-created_at")
    return render(
        request,
        "events/competition_manage_list.html",
        {"competitions": competitions, "form": form},
        status=status,
    )


def _competition_context(comp: Competition, **forms: Any) -> dict[str, Any]:
    totals, missing = services.weighted_totals(comp)
    ranking = services.rank_with_ties(totals)
    entries = {s.pk: s for s in comp.submissions.select_related("organisation")}
    context: dict[str, Any] = {
        "competition": comp,
        "criteria": comp.criteria.all(),
        "judges": comp.judges.select_related("user"),
        "awards": comp.awards.all(),
        "entries": comp.submissions.select_related("organisation").order_by("created_at"),
        "provisional": [(r, entries[r.submission_id]) for r in ranking],
        "missing": missing,
        "transitions": competition_status_choices(comp),
        "criterion_form": CriterionForm(),
        "judge_form": JudgeForm(),
        "award_form": AwardForm(),
        "results": comp.results.select_related("submission__organisation", "award"),
    }
    context.update(forms)
    return context


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def competition_manage(request: HttpRequest, pk: int) -> HttpResponse:
    comp = selectors.get_managed_competition(scope_for(request), pk)
    return render(request, "events/competition_manage.html", _competition_context(comp))


def _competition_action(
    request: HttpRequest, comp: Competition, form: Any, action: Any, *, form_name: str, success: str
) -> HttpResponse:
    status = 400
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            messages.success(request, success)
            return redirect("events:competition_manage", comp.pk)
    return render(
        request,
        "events/competition_manage.html",
        _competition_context(comp, **{form_name: form}),
        status=status,
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def competition_criterion_add(request: HttpRequest, pk: int) -> HttpResponse:
    comp = selectors.get_managed_competition(scope_for(request), pk)
    actor = acting_user(request)
    return _competition_action(
        request,
        comp,
        CriterionForm(request.POST),
        lambda d: services.add_criterion(competition=comp, actor=actor, **d),
        form_name="criterion_form",
        success=_("Criterion added."),
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def competition_judge_add(request: HttpRequest, pk: int) -> HttpResponse:
    comp = selectors.get_managed_competition(scope_for(request), pk)
    actor = acting_user(request)

    def add(data: dict[str, Any]) -> Any:
        user = find_user_by_login(data["login"])
        if user is None or not user.is_active:
            raise NotFound(_("No account has this mobile number or e-mail."))
        return services.add_judge(competition=comp, user=user, actor=actor)

    return _competition_action(
        request, comp, JudgeForm(request.POST), add, form_name="judge_form", success=_("Judge added.")
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def competition_award_add(request: HttpRequest, pk: int) -> HttpResponse:
    comp = selectors.get_managed_competition(scope_for(request), pk)
    actor = acting_user(request)
    return _competition_action(
        request,
        comp,
        AwardForm(request.POST),
        lambda d: services.add_award(competition=comp, actor=actor, **d),
        form_name="award_form",
        success=_("Award added."),
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def competition_status(request: HttpRequest, pk: int) -> HttpResponse:
    comp = selectors.get_managed_competition(scope_for(request), pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what to do with the competition."))
        return render(request, "events/competition_manage.html", _competition_context(comp), status=400)
    target = form.cleaned_data["target"]
    try:
        if target == CompetitionStatus.CLOSED:
            services.publish_results(competition=comp, actor=acting_user(request))
        else:
            services.set_competition_status(competition=comp, target=target, actor=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(
            request, "events/competition_manage.html", _competition_context(comp), status=exc.status_code
        )
    messages.success(
        request,
        _("Results published; winners' badges are on their profiles.")
        if target == CompetitionStatus.CLOSED
        else _("Competition status changed."),
    )
    return redirect("events:competition_manage", comp.pk)


@login_only
@require_GET
def judging(request: HttpRequest, pk: int) -> HttpResponse:
    comp = selectors.visible_competition(scope_for(request), pk)
    judge = services.judge_for(comp, request.user)
    if judge is None:
        raise NotPermitted(_("Only the competition's judges score entries."))
    criteria = list(comp.criteria.all())
    entries = list(comp.submissions.filter(status=SubmissionStatus.SUBMITTED).select_related("organisation"))
    done = set(judge.scores.values_list("submission_id", "criterion_id"))
    for entry in entries:
        entry.scored = all((entry.pk, c.pk) in done for c in criteria)  # type: ignore[attr-defined]
    return render(
        request, "events/judging.html", {"competition": comp, "entries": entries, "criteria": criteria}
    )


@login_only
@require_http_methods(["GET", "POST"])
def submission_score(request: HttpRequest, pk: int) -> HttpResponse:
    submission = Submission.objects.select_related("competition", "organisation").filter(pk=pk).first()
    if submission is None:
        raise NotFound()
    comp = submission.competition
    judge = services.judge_for(comp, request.user)
    if judge is None:
        raise NotFound()
    criteria = list(comp.criteria.all())
    existing = {s.criterion_id: s for s in judge.scores.filter(submission=submission)}
    initial: dict[str, Any] = {f"c_{cid}": s.value for cid, s in existing.items()}
    if existing:
        initial["comment"] = next(iter(existing.values())).comment
    form = ScoreForm(request.POST or None, criteria=criteria, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.score_submission(
                    submission=submission,
                    user=acting_user(request),
                    values=form.values(),
                    comment=form.cleaned_data["comment"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Scores saved."))
                return redirect("events:judging", comp.pk)
    return render(
        request,
        "events/submission_score.html",
        {"competition": comp, "submission": submission, "form": form},
        status=status,
    )


@require_GET
def org_badges(request: HttpRequest, org_pk: int) -> HttpResponse:
    org = Organisation.objects.filter(pk=org_pk, kind=OrgKind.OPC).first()
    if org is None:
        raise NotFound()
    return render(request, "events/org_badges.html", {"org": org, "badges": selectors.badges_for(org.pk)})


# ================================================================================================ dashboards
def _dashboard_scope(request: HttpRequest) -> Scope:
    from events.dashboards import may_view

    scope = scope_for(request)
    if not may_view(scope):
        raise NotPermitted(_("Dashboards are for community operators and government authorities."))
    return scope


def _area_label(scope: Scope, community: Any = None) -> str:
    if scope.is_authority:
        area = (scope.organisation.city if scope.organisation else "") or _("all cities")
    else:
        area = scope.organisation.name if scope.organisation else ""
    return f"{area} · {community.name}" if community is not None else area


def _dashboard_filter(request: HttpRequest, scope: Scope) -> tuple[Any, str]:
    """The community the dashboard is narrowed to (``?community=``) and the query string that keeps it."""
    from urllib.parse import urlencode

    from events.dashboards import overseen_community

    community = overseen_community(scope, request.GET.get("community"))
    return community, ("?" + urlencode({"community": community.pk}) if community is not None else "")


@capability_required()
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    from events.charts import bar_chart
    from events.dashboards import by_section, figures

    scope = _dashboard_scope(request)
    community, keep = _dashboard_filter(request, scope)
    items = figures(scope, community)
    for i, f in enumerate(items):
        f.extra["svg"] = bar_chart(f.chart, color=i) if f.chart is not None and f.chart.labels else None
    return render(
        request,
        "events/dashboard.html",
        {
            "sections": by_section(items),
            "area": _area_label(scope, community),
            "generated": timezone.now(),
            "communities": scope.overseen_communities().order_by("name"),
            "community": community,
            "keep": keep,
        },
    )


@capability_required()
@require_GET
def figure_rows(request: HttpRequest, key: str) -> HttpResponse:
    from events.dashboards import figure

    scope = _dashboard_scope(request)
    community, keep = _dashboard_filter(request, scope)
    fig = figure(scope, key, community)
    if fig is None:
        raise NotFound()
    page = Paginator(list(fig.rows()), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "events/figure_rows.html",
        {"figure": fig, "page": page, "keep": keep, "area": _area_label(scope, community)},
    )


@capability_required()
@require_GET
def figure_xlsx(request: HttpRequest, key: str) -> HttpResponse:
    from events.dashboards import figure
    from events.exports import figures_workbook, xlsx_response

    scope = _dashboard_scope(request)
    community, _keep = _dashboard_filter(request, scope)
    fig = figure(scope, key, community)
    if fig is None:
        raise NotFound()
    return xlsx_response(
        figures_workbook([fig], title=f"{fig.label} · {_area_label(scope, community)}"), f"{key}.xlsx"
    )


@capability_required()
@require_GET
def dashboard_xlsx(request: HttpRequest) -> HttpResponse:
    from events.dashboards import figures
    from events.exports import figures_workbook, xlsx_response

    scope = _dashboard_scope(request)
    community, _keep = _dashboard_filter(request, scope)
    title = _("Oversight dashboard · %(area)s") % {"area": _area_label(scope, community)}
    return xlsx_response(figures_workbook(figures(scope, community), title=title), "dashboard.xlsx")
