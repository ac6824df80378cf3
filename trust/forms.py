"""Forms of the trust pages. They check shapes (types, ranges, lengths); the rules live in ``trust.services``
and come back as form errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trust.models import (
    MAX_MESSAGE_TEXT,
    MAX_REPORT_TEXT,
    MAX_REVIEW_TEXT,
    ReportReason,
    ReportStatus,
    ReportTarget,
)
from trust.services import MAX_ATTACHMENTS

RATINGS = [(5, "★★★★★ 5"), (4, "★★★★ 4"), (3, "★★★ 3"), (2, "★★ 2"), (1, "★ 1")]


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("Rating"), choices=RATINGS, coerce=int, widget=forms.RadioSelect, empty_value=None
    )
    text = forms.CharField(
        label=_("Your review"),
        max_length=MAX_REVIEW_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message"),
        max_length=MAX_MESSAGE_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    attachments = MultipleFileField(
        label=_("Attachments"),
        required=False,
        help_text=_("Up to %(max)d files.") % {"max": MAX_ATTACHMENTS},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if len(data.get("attachments") or []) > MAX_ATTACHMENTS:
            self.add_error("attachments", _("Attach at most %(max)d files.") % {"max": MAX_ATTACHMENTS})
        if not (data.get("body") or "").strip() and not data.get("attachments"):
            raise forms.ValidationError(_("Write a message or attach a file."), code="empty")
        return data


class ThreadStartForm(forms.Form):
    order = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    contract = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    opc = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("order") and not data.get("contract"):
            raise forms.ValidationError(_("Choose the order or contract to write about."), code="target")
        return data


class ReportForm(forms.Form):
    kind = forms.ChoiceField(choices=ReportTarget.choices, widget=forms.HiddenInput)
    target = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    reason = forms.ChoiceField(label=_("Reason"), choices=ReportReason.choices)
    details = forms.CharField(
        label=_("What happened?"),
        max_length=MAX_REPORT_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class DecideReportForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Decision"),
        choices=[(ReportStatus.ACTIONED, _("Action taken")), (ReportStatus.DISMISSED, _("Dismiss"))],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note"),
        max_length=MAX_REPORT_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What you checked and what you did; the reporter is told the outcome."),
    )


class CreditExportForm(forms.Form):
    recipient = forms.CharField(
        label=_("Shared with"),
        max_length=200,
        help_text=_("The bank or lender that receives the profile, e.g. 宁波银行海曙支行."),
    )
    purpose = forms.CharField(
        label=_("Purpose"),
        max_length=300,
        help_text=_("e.g. an order-backed working-capital loan application."),
    )
    consent = forms.BooleanField(
        label=_(
            "I consent, for my company, to share these figures (orders in hand, completed value, on-time "
            "rate, reputation) with the recipient named above. I can revoke this consent at any time."
        ),
        required=True,
    )


class CodeLookupForm(forms.Form):
    code = forms.CharField(label=_("Verification code"), max_length=32)

    def clean_code(self) -> str:
        from trust.selectors import normalise_code

        code = normalise_code(self.cleaned_data["code"])
        if not code:
            raise forms.ValidationError(_("Enter the code printed on the credit profile."), code="code")
        return code
