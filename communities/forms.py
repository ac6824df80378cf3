"""Forms for the community pages. They check shapes (types, ranges, lengths); the domain rules live in
``communities.services`` and come back as form errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community, CommunityNetwork, Workstation, WorkstationStatus
from communities.services import MAX_WORKSTATIONS_PER_CALL
from organisations.models import Organisation, Skill

DATE_MIN = dt.date(2000, 1, 1)
DATE_MAX = dt.date(2100, 12, 31)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def _check_range(value: dt.date | None) -> dt.date | None:
    if value is not None and not DATE_MIN <= value <= DATE_MAX:
        raise forms.ValidationError(_("Enter a date between 2000 and 2100."), code="date_range")
    return value


class CommunityForm(forms.ModelForm):
    sectors = forms.ModelMultipleChoiceField(
        label=_("Positioning sectors"),
        queryset=Skill.objects.all(),
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    network = forms.ModelChoiceField(
        label=_("Community network"), queryset=CommunityNetwork.objects.none(), required=False
    )

    class Meta:
        model = Community
        fields = [
            "name",
            "network",
            "city",
            "district",
            "address",
            "land_use",
            "positioning",
            "description",
            "opened_on",
            "is_public",
        ]
        widgets = {"opened_on": DateInput(), "description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, operator: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        network = self.fields["network"]
        assert isinstance(network, forms.ModelChoiceField)
        network.queryset = CommunityNetwork.objects.filter(operator=operator).order_by("name")
        if self.instance and self.instance.pk:
            self.fields["sectors"].initial = list(self.instance.sectors.all())

    def clean_opened_on(self) -> dt.date | None:
        return _check_range(self.cleaned_data.get("opened_on"))

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {k: data[k] for k in self.Meta.fields if k != "network"}


class NetworkForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    city = forms.CharField(label=_("City"), max_length=40, required=False)
    planned_communities = forms.IntegerField(
        label=_("Planned communities"), min_value=0, max_value=1000, initial=0
    )


class WorkstationBatchForm(forms.Form):
    zone = forms.CharField(label=_("Zone"), max_length=40, required=False, help_text=_("e.g. A, 2F East"))
    # The form class pops declared fields, so this does not shadow ``BaseForm.prefix`` at run time.
    prefix = forms.CharField(  # type: ignore[assignment]
        label=_("Code prefix"),
        max_length=12,
        required=False,
        strip=True,
        help_text=_("e.g. A- gives A-01, A-02, …"),
    )
    first = forms.IntegerField(label=_("From number"), min_value=0, max_value=999999, initial=1)
    last = forms.IntegerField(label=_("To number"), min_value=0, max_value=999999)
    width = forms.IntegerField(
        label=_("Digits"),
        min_value=1,
        max_value=6,
        initial=2,
        help_text=_("2 gives 01, 02, …; 3 gives 001, …"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if first is not None and last is not None:
            if last < first:
                self.add_error("last", _("The last number must not be smaller than the first."))
            elif last - first + 1 > MAX_WORKSTATIONS_PER_CALL:
                self.add_error(
                    "last", _("At most %(max)d workstations at a time.") % {"max": MAX_WORKSTATIONS_PER_CALL}
                )
        return data


class WorkstationStatusForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[
            (WorkstationStatus.AVAILABLE.value, WorkstationStatus.AVAILABLE.label),
            (WorkstationStatus.RESERVED.value, WorkstationStatus.RESERVED.label),
            (WorkstationStatus.OUT_OF_SERVICE.value, WorkstationStatus.OUT_OF_SERVICE.label),
        ],
    )


class WorkstationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Workstation) -> str:
        zone = f" · {obj.zone}" if obj.zone else ""
        return f"{obj.community.name} · {obj.code}{zone}"


class AssignForm(forms.Form):
    workstation = WorkstationChoiceField(
        label=_("Workstation"),
        queryset=Workstation.objects.none(),
        error_messages={"invalid_choice": _("Choose an available workstation in your communities.")},
    )
    start_date = forms.DateField(label=_("Start date"), widget=DateInput())
    monthly_rent = forms.DecimalField(
        label=_("Monthly rent (CNY)"),
        min_value=Decimal("0"),
        max_digits=10,
        decimal_places=2,
        initial=Decimal("0"),
        help_text=_("Zero for a zero-rent workstation."),
    )

    def __init__(self, *args: Any, workstations: QuerySet[Workstation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["workstation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = workstations
        self.fields["start_date"].initial = timezone.localdate()

    def clean_start_date(self) -> dt.date | None:
        return _check_range(self.cleaned_data.get("start_date"))


class EndResidencyForm(forms.Form):
    end_date = forms.DateField(label=_("Last day"), widget=DateInput())

    def clean_end_date(self) -> dt.date | None:
        return _check_range(self.cleaned_data.get("end_date"))


class IssueStatementForm(forms.Form):
    purpose = forms.CharField(
        label=_("Purpose"),
        max_length=200,
        help_text=_("e.g. application for a radio and television programme production licence"),
    )


class RevokeStatementForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class StatementLookupForm(forms.Form):
    code = forms.CharField(label=_("Verification code"), max_length=32)

    def clean_code(self) -> str:
        from communities.selectors import normalise_code

        code = normalise_code(self.cleaned_data.get("code", ""))
        if not code:
            raise forms.ValidationError(
                _("A verification code has 12 letters and digits, as printed on the statement."), code="code"
            )
        return code


class DirectoryFilterForm(forms.Form):
    city = forms.CharField(required=False, max_length=40)
    sector = forms.CharField(required=False, max_length=40)
    q = forms.CharField(required=False, max_length=60)


__all__ = [
    "AssignForm",
    "CommunityForm",
    "DirectoryFilterForm",
    "EndResidencyForm",
    "IssueStatementForm",
    "NetworkForm",
    "RevokeStatementForm",
    "StatementLookupForm",
    "WorkstationBatchForm",
    "WorkstationStatusForm",
]
