"""Forms of the copyright registry. They check shapes and the uploaded media (``rights.media.inspect``: real
content type, decodability, size and duration limits); the domain rules live in ``rights.services`` and come
back as form errors. Pages and the API use the same forms for uploads."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.uploads import check_size
from rights import media
from rights.models import CaseStatus, WorkCategory
from rights.selectors import copyright_agencies, normalise_code
from rights.services import MAX_BATCH


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def _not_future(value: dt.date | None) -> dt.date | None:
    if value is not None and not dt.date(1900, 1, 1) <= value <= timezone.localdate():
        raise ValidationError(_("Enter a date that is not in the future."), code="future")
    return value


ACCEPT = "image/jpeg,image/png,image/webp,image/gif,video/mp4,video/quicktime,video/webm,video/x-matroska,video/x-msvideo"


class WorkForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("An image (JPEG, PNG, WebP, GIF) or a video (MP4, MOV, WebM, MKV, AVI)."),
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )
    title = forms.CharField(label=_("Title"), max_length=120)
    category = forms.ChoiceField(label=_("Category"), choices=WorkCategory.choices)
    authors = forms.CharField(
        label=_("Authors"),
        max_length=300,
        help_text=_("The people who created the work, separated by commas."),
    )
    created_on = forms.DateField(label=_("Creation completed on"), widget=DateInput())
    first_published_on = forms.DateField(label=_("First published on"), widget=DateInput(), required=False)
    published_where = forms.CharField(
        label=_("First published at"),
        max_length=200,
        required=False,
        help_text=_("Platform or place of first publication, e.g. Douyin @account."),
    )
    purpose = forms.CharField(
        label=_("Purpose of creation"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    process = forms.CharField(
        label=_("Creation process"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "What you did yourself and what the AI tools did: selection, arrangement, editing, iterations."
        ),
    )
    ai_tools = forms.CharField(
        label=_("AI tools used"),
        max_length=300,
        help_text=_("Names and versions, e.g. Kling 2.1, Midjourney v7."),
    )
    prompts = forms.CharField(
        label=_("Prompts used"),
        max_length=10000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept with the registration; not shown on the public verification page."),
    )
    originality = forms.CharField(
        label=_("Originality statement"),
        max_length=3000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why the work is your own intellectual creation and infringes no one else's rights."),
    )

    inspected: media.Inspected | None = None

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        self.inspected = media.inspect(upload)
        return upload

    def clean_created_on(self) -> dt.date | None:
        return _not_future(self.cleaned_data.get("created_on"))

    def clean_first_published_on(self) -> dt.date | None:
        return _not_future(self.cleaned_data.get("first_published_on"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        created, published = data.get("created_on"), data.get("first_published_on")
        if created and published and published < created:
            self.add_error("first_published_on", _("A work cannot be published before it was created."))
        return data

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {k: data[k] for k in self.fields if k != "file"}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One or more files (Django's documented pattern for ``<input type=file multiple>``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class ScanForm(forms.Form):
    copies = MultipleFileField(
        label=_("Suspected copies"),
        help_text=_("One or more images or videos (up to %(max)d at a time).") % {"max": MAX_BATCH},
    )
    note = forms.CharField(
        label=_("Where the copies were found"),
        max_length=300,
        required=False,
        help_text=_("e.g. a platform account or a web address."),
    )

    inspected: list[media.Inspected]

    def clean_copies(self) -> list[Any]:
        uploads = self.cleaned_data["copies"]
        if len(uploads) > MAX_BATCH:
            raise ValidationError(_("At most %(max)d files at a time.") % {"max": MAX_BATCH}, code="too_many")
        errors: list[str] = []
        self.inspected = []
        for upload in uploads:
            try:
                self.inspected.append(media.inspect(upload))
            except ValidationError as exc:
                errors.extend(f"{upload.name}: {message}" for message in exc.messages)
        if errors:
            raise ValidationError(errors)
        return list(uploads)


class OpenCaseForm(forms.Form):
    agency = forms.ModelChoiceField(label=_("Copyright agency"), queryset=copyright_agencies())
    agency_share = forms.DecimalField(
        label=_("Agency share (%)"),
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        max_digits=5,
        decimal_places=2,
        initial=Decimal("30"),
        help_text=_("The share of any compensation the agency keeps, as agreed with it."),
    )
    infringer = forms.CharField(label=_("Suspected infringer"), max_length=200, required=False)
    infringing_url = forms.URLField(
        label=_("Where the copy is published"), max_length=500, required=False, assume_scheme="https"
    )
    note = forms.CharField(
        label=_("Note"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agency = self.fields["agency"]
        assert isinstance(agency, forms.ModelChoiceField)
        agency.queryset = copyright_agencies()


class CaseStatusForm(forms.Form):
    status = forms.ChoiceField(choices=CaseStatus.choices)
    outcome = forms.CharField(
        label=_("Outcome"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class CaseNoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class CompensationForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount received (CNY)"), min_value=Decimal("0.01"), max_digits=14, decimal_places=2
    )
    payer = forms.CharField(label=_("Paid by"), max_length=200)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # One key per rendered form: submitting it twice records the payment once.
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)


class FileCheckForm(forms.Form):
    """A file someone holds (the certificate PDF or the work itself) to compare with a registration."""

    file = forms.FileField(
        label=_("File to compare"),
        help_text=_(
            "The certificate PDF or the registered file. It is only hashed (SHA-256) for the comparison, "
            "never stored."
        ),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        check_size(upload, max(media.max_video_bytes(), media.max_image_bytes()))
        return upload


class LookupForm(forms.Form):
    code = forms.CharField(label=_("Verification code"), max_length=32)

    def clean_code(self) -> str:
        code = normalise_code(self.cleaned_data.get("code", ""))
        if not code:
            raise ValidationError(
                _("A verification code has 12 letters and digits, as printed on the certificate."),
                code="code",
            )
        return code
