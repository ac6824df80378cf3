"""Forms of the service desk pages: shapes only; the rules live in ``servicedesk.services``."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from servicedesk.models import Category
from servicedesk.services import SUBJECT_MAX, TEXT_MAX


class TicketForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    subject = forms.CharField(label=_("Subject"), max_length=SUBJECT_MAX)
    description = forms.CharField(
        label=_("What do you need?"), max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 6})
    )
    use_free_quota = forms.BooleanField(label=_("Use one of my free legal consultations"), required=False)
    attachment = forms.FileField(label=_("Attachment (optional)"), required=False)


class MessageForm(forms.Form):
    body = forms.CharField(label=_("Message"), max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 3}))
    attachment = forms.FileField(label=_("Attachment (optional)"), required=False)


class ActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[(a, a) for a in ("accept", "decline", "ask_member", "resolve", "reopen", "close", "cancel")]
    )
    note = forms.CharField(
        label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("Satisfaction"), choices=[(i, str(i)) for i in range(5, 0, -1)], coerce=int
    )
    comment = forms.CharField(label=_("Comment (optional)"), max_length=500, required=False)


class QuotaForm(forms.Form):
    consultations = forms.IntegerField(label=_("Free consultations"), min_value=0, max_value=1000)
    starts_on = forms.DateField(
        label=_("Valid from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class CaseForm(forms.Form):
    licence = forms.CharField(max_length=40)
    note = forms.CharField(label=_("Note"), max_length=TEXT_MAX, required=False)


class CaseItemForm(forms.Form):
    done = forms.BooleanField(required=False)
    document = forms.FileField(label=_("Document"), required=False)


class CaseTransitionForm(forms.Form):
    target = forms.CharField(max_length=12)
    reference = forms.CharField(label=_("Reference"), max_length=80, required=False)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
