"""Forms of the event, competition and dashboard pages. They check shapes (types, ranges, lengths, file
contents); the domain rules live in ``events.services`` and come back as form errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community
from core.uploads import check_size
from events.models import (
    ApplicationStatus,
    Competition,
    Criterion,
    Event,
    EventKind,
    Registration,
    RegistrationRole,
)
from marketplace.models import ProcurementMethod
from organisations.models import Organisation, Skill

MONEY_MAX = Decimal("999999999999.99")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def _money_field(label: Any, *, required: bool = False) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=Decimal("0.01"),
        max_value=MONEY_MAX,
        max_digits=14,
        decimal_places=2,
    )


def _skills_field(label: Any) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        label=label,
        queryset=Skill.objects.all(),
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


# -- file contents --------------------------------------------------------------------------------------------
def _head(upload: UploadedFile, size: int = 16) -> bytes:
    upload.seek(0)
    head = upload.read(size)
    upload.seek(0)
    return head if isinstance(head, bytes) else b""


def check_document(upload: UploadedFile) -> UploadedFile:
    """PDF, or an Office Open XML file (PPTX/DOCX: a ZIP container), judged by content, not the name."""
    check_size(upload)
    head = _head(upload)
    if not (head.startswith(b"%PDF-") or head.startswith(b"PK\x03\x04")):
        raise ValidationError(_("Upload a PDF, PPTX or DOCX file."), code="document")
    return upload


def check_video(upload: UploadedFile) -> UploadedFile:
    """MP4/MOV (an ISO-BMFF ``ftyp`` box) or WebM/Matroska, judged by content."""
    check_size(upload)
    head = _head(upload)
    if not (head[4:8] == b"ftyp" or head.startswith(b"\x1a\x45\xdf\xa3")):
        raise ValidationError(_("Upload an MP4, MOV or WebM video."), code="video")
    return upload


# -- events ----------------------------------------------------------------------------------------------------
class EventForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=EventKind.choices)
    community: forms.ModelChoiceField[Community] = forms.ModelChoiceField(
        label=_("Host community"), queryset=Community.objects.none(), required=False
    )
    venue = forms.CharField(label=_("Venue"), max_length=200)
    starts_at = forms.DateTimeField(label=_("Starts"), widget=DateTimeInput())
    ends_at = forms.DateTimeField(label=_("Ends"), widget=DateTimeInput())
    capacity = forms.IntegerField(label=_("Seats"), min_value=1, max_value=100_000)
    agenda = forms.CharField(
        label=_("Agenda"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    description = forms.CharField(
        label=_("Description"), required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 3})
    )
    roadshow_slots = forms.IntegerField(label=_("Roadshow slots"), min_value=0, max_value=100, initial=0)
    meetings_start = forms.DateTimeField(
        label=_("1:1 meetings start"), required=False, widget=DateTimeInput()
    )
    meeting_slots = forms.IntegerField(label=_("Meeting slots"), min_value=0, max_value=48, initial=0)
    slot_minutes = forms.IntegerField(label=_("Minutes per meeting"), min_value=5, max_value=120, initial=15)
    tables = forms.IntegerField(label=_("Tables"), min_value=0, max_value=500, initial=0)
    meetings_per_attendee = forms.IntegerField(
        label=_("Meetings per attendee (at most; 0: no limit)"), min_value=0, max_value=48, initial=4
    )

    def __init__(self, *args: Any, communities: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["community"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = communities.order_by("name")

    @classmethod
    def initial_for(cls, event: Event) -> dict[str, Any]:
        values = {
            name: getattr(event, name)
            for name in cls.base_fields
            if name != "community" and hasattr(event, name)
        }
        for key in ("starts_at", "ends_at", "meetings_start"):
            if values.get(key):
                values[key] = timezone.localtime(values[key])
        values["community"] = event.community_id
        return values

    def values(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "community"}


class StatusForm(forms.Form):
    target = forms.CharField(max_length=20)


class RegisterForm(forms.Form):
    role = forms.ChoiceField(label=_("I come as"), choices=RegistrationRole.choices, initial="attendee")
    name = forms.CharField(label=_("Name"), max_length=60)
    organisation_name = forms.CharField(label=_("Company"), max_length=120, required=False)
    contact = forms.CharField(
        label=_("Mobile number or e-mail"),
        max_length=120,
        required=False,
        help_text=_("Needed when you are not logged in; we send nothing else to it."),
    )
    interests = _skills_field(_("What you are looking for"))
    ticket_min = _money_field(_("Ticket size from (CNY)"))
    ticket_max = _money_field(_("Ticket size to (CNY)"))
    brings_orders = forms.CharField(
        label=_("Orders you bring"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    orders_value = _money_field(_("Value of the orders (CNY)"))

    def __init__(self, *args: Any, may_host: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not may_host:
            self.fields["role"].choices = [(RegistrationRole.ATTENDEE, RegistrationRole.ATTENDEE.label)]  # type: ignore[attr-defined]
            for name in ("ticket_min", "ticket_max", "brings_orders", "orders_value"):
                del self.fields[name]


class PartnerForm(forms.Form):
    """The organiser invites an investor or industry party (no account needed)."""

    role = forms.ChoiceField(
        label=_("Role"),
        choices=[
            (RegistrationRole.INVESTOR, RegistrationRole.INVESTOR.label),
            (RegistrationRole.INDUSTRY, RegistrationRole.INDUSTRY.label),
        ],
    )
    name = forms.CharField(label=_("Name"), max_length=60)
    organisation_name = forms.CharField(label=_("Company"), max_length=120)
    contact = forms.CharField(label=_("Mobile number or e-mail"), max_length=120, required=False)
    interests = _skills_field(_("Interests"))
    ticket_min = _money_field(_("Ticket size from (CNY)"))
    ticket_max = _money_field(_("Ticket size to (CNY)"))
    brings_orders = forms.CharField(
        label=_("Orders brought"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    orders_value = _money_field(_("Value of the orders (CNY)"))


class PreferencesForm(forms.Form):
    """Interests, meeting availability and ratings of the other side (one select per counterpart)."""

    interests = _skills_field(_("Interests"))
    slots = forms.TypedMultipleChoiceField(
        label=_("I am available for meetings at"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    RATINGS = [(0, "—"), (1, _("some interest")), (2, _("interested")), (3, _("very interested"))]

    def __init__(
        self,
        *args: Any,
        slot_choices: list[tuple[int, str]],
        counterparts: list[Registration],
        host: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if host:
            self.fields["ticket_min"] = _money_field(_("Ticket size from (CNY)"))
            self.fields["ticket_max"] = _money_field(_("Ticket size to (CNY)"))
            self.fields["brings_orders"] = forms.CharField(
                label=_("Orders you bring"),
                required=False,
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
            self.fields["orders_value"] = _money_field(_("Value of the orders (CNY)"))
        self.host = host
        slots = self.fields["slots"]
        assert isinstance(slots, forms.TypedMultipleChoiceField)
        slots.choices = slot_choices
        if not slot_choices:
            del self.fields["slots"]
        self.counterparts = counterparts
        for reg in counterparts:
            label = f"{reg.organisation_name or reg.name}"
            self.fields[f"rate_{reg.pk}"] = forms.TypedChoiceField(
                label=label, choices=self.RATINGS, coerce=int, required=False
            )

    def host_fields(self) -> list[Any]:
        names = ("ticket_min", "ticket_max", "brings_orders", "orders_value")
        return [self[n] for n in names if n in self.fields]

    def ratings(self) -> dict[int, int]:
        return {reg.pk: int(self.cleaned_data.get(f"rate_{reg.pk}") or 0) for reg in self.counterparts}

    def rating_fields(self) -> list[Any]:
        return [self[f"rate_{reg.pk}"] for reg in self.counterparts]


class CheckinForm(forms.Form):
    code = forms.CharField(
        label=_("Ticket code or scanned link"),
        max_length=500,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )


class RoadshowForm(forms.Form):
    title = forms.CharField(label=_("Project"), max_length=120)
    pitch = forms.CharField(label=_("Pitch"), max_length=5000, widget=forms.Textarea(attrs={"rows": 5}))
    deck = forms.FileField(label=_("Deck (PDF or PPTX)"), required=False)

    def clean_deck(self) -> UploadedFile | None:
        deck = self.cleaned_data.get("deck")
        return check_document(deck) if deck else None


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[(ApplicationStatus.SELECTED, _("Select")), (ApplicationStatus.DECLINED, _("Decline"))]
    )


# -- follow-ups --------------------------------------------------------------------------------------------------
class LinkOrderForm(forms.Form):
    order = forms.IntegerField(label=_("Order number"), min_value=1, max_value=2**63 - 1)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class DraftOrderForm(forms.Form):
    client = forms.ModelChoiceField(label=_("Client"), queryset=Organisation.objects.none())
    title = forms.CharField(label=_("Title"), max_length=200)
    category = forms.ModelChoiceField(label=_("Category"), queryset=Skill.objects.all(), to_field_name="code")
    budget_min = forms.DecimalField(
        label=_("Budget from (CNY)"),
        min_value=Decimal("0"),
        max_value=MONEY_MAX,
        max_digits=14,
        decimal_places=2,
    )
    budget_max = _money_field(_("Budget to (CNY)"), required=True)
    deadline = forms.DateField(label=_("Deadline"), widget=DateInput())
    procurement_method = forms.ChoiceField(
        label=_("Procurement method (government and SOE clients)"),
        choices=ProcurementMethod.choices,
        required=False,
    )
    description = forms.CharField(
        label=_("Description"), required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, clients: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["client"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = clients

    def clean_deadline(self) -> dt.date:
        value: dt.date = self.cleaned_data["deadline"]
        if not dt.date(2000, 1, 1) <= value <= dt.date(2100, 12, 31):
            raise ValidationError(_("Enter a date between 2000 and 2100."))
        return value


class InvestorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.organisation_name or obj.name} · {obj.name}"


class IntentForm(forms.Form):
    investor = InvestorChoiceField(
        label=_("Investor (registered)"), queryset=Registration.objects.none(), required=False
    )
    investor_name = forms.CharField(label=_("or investor name"), max_length=120, required=False)
    opc = forms.ModelChoiceField(label=_("OPC"), queryset=Organisation.objects.none())
    amount = _money_field(_("Amount (CNY)"), required=True)
    terms = forms.CharField(
        label=_("Terms"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    term_sheet = forms.FileField(label=_("Term sheet (PDF or DOCX)"), required=False)

    def __init__(
        self, *args: Any, investors: QuerySet[Registration], opcs: QuerySet[Organisation], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        investor = self.fields["investor"]
        opc = self.fields["opc"]
        assert isinstance(investor, forms.ModelChoiceField) and isinstance(opc, forms.ModelChoiceField)
        investor.queryset = investors
        opc.queryset = opcs

    def clean_term_sheet(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("term_sheet")
        return check_document(upload) if upload else None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("investor") and not (data.get("investor_name") or "").strip():
            raise ValidationError(_("Choose the investor or type their name."))
        return data


class IntentStatusForm(forms.Form):
    target = forms.ChoiceField(choices=[("signed", _("Signed")), ("withdrawn", _("Withdrawn"))])


# -- competitions --------------------------------------------------------------------------------------------------
class CompetitionForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    theme = forms.CharField(label=_("Theme"), max_length=200, required=False)
    submissions_close = forms.DateField(label=_("Submissions close"), widget=DateInput())
    description = forms.CharField(
        label=_("Description"), max_length=10000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    rules = forms.CharField(
        label=_("Rules"), max_length=10000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean_submissions_close(self) -> dt.date:
        value: dt.date = self.cleaned_data["submissions_close"]
        if not dt.date(2000, 1, 1) <= value <= dt.date(2100, 12, 31):
            raise ValidationError(_("Enter a date between 2000 and 2100."))
        return value


class CriterionForm(forms.Form):
    name = forms.CharField(label=_("Criterion"), max_length=80)
    weight = forms.DecimalField(
        label=_("Weight"), min_value=Decimal("0.01"), max_value=Decimal("100"), max_digits=5, decimal_places=2
    )
    max_score = forms.IntegerField(label=_("Maximum score"), min_value=1, max_value=100, initial=10)
    description = forms.CharField(label=_("What judges look for"), max_length=300, required=False)


class JudgeForm(forms.Form):
    login = forms.CharField(label=_("Judge's mobile number or e-mail (an existing account)"), max_length=120)


class AwardForm(forms.Form):
    name = forms.CharField(label=_("Award"), max_length=80)
    rank_from = forms.IntegerField(label=_("From rank"), min_value=1, max_value=1000)
    rank_to = forms.IntegerField(label=_("To rank"), min_value=1, max_value=1000)
    prize = forms.CharField(label=_("Prize"), max_length=200, required=False)


class SubmissionForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    description = forms.CharField(
        label=_("Description"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    video = forms.FileField(label=_("Video file (MP4, MOV or WebM)"), required=False)
    ai_tools = forms.CharField(
        label=_("AI tools used"),
        max_length=300,
        required=False,
        help_text=_("Recorded with the copyright registration of the file, e.g. 可灵, 即梦, Suno."),
    )
    original = forms.BooleanField(label=_("This video is our own original work"), required=False)
    link = forms.URLField(
        label=_("or a link to the video"), max_length=200, required=False, assume_scheme="https"
    )

    def clean_video(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("video")
        return check_video(upload) if upload else None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("video") and not data.get("link") and not self.errors:
            raise ValidationError(_("Upload the video or give a link to it."))
        return data


class ScoreForm(forms.Form):
    comment = forms.CharField(label=_("Comment"), max_length=300, required=False)

    def __init__(self, *args: Any, criteria: list[Criterion], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        for c in criteria:
            self.fields[f"c_{c.pk}"] = forms.IntegerField(
                label=f"{c.name} (0–{c.max_score}, ×{c.weight})", min_value=0, max_value=c.max_score
            )
        self.order_fields([f"c_{c.pk}" for c in criteria] + ["comment"])

    def values(self) -> dict[int, int]:
        return {c.pk: int(self.cleaned_data[f"c_{c.pk}"]) for c in self.criteria}


def competition_status_choices(competition: Competition) -> list[str]:
    from events.services import COMPETITION_TRANSITIONS

    return sorted(COMPETITION_TRANSITIONS.get(competition.status, set()))
