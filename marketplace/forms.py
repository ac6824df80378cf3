"""Forms of the marketplace pages. They check shapes (types, ranges, lengths); the rules of the domain live in
``marketplace.services`` and come back as form errors (nothing changes when one is refused)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community
from marketplace.models import BudgetBand, OrderMode, ProcurementMethod, Visibility
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill

MONEY_MAX = Decimal("999999999999.99")
DATE_MAX = dt.date(2100, 12, 31)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def money_field(label: Any, *, required: bool = True, help_text: Any = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=Decimal("0"),
        max_value=MONEY_MAX,
        max_digits=14,
        decimal_places=2,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0"}),
    )


def _future_date(value: dt.date | None) -> dt.date | None:
    if value is None:
        return None
    if value < timezone.localdate():
        raise forms.ValidationError(_("The date is in the past."), code="past")
    if value > DATE_MAX:
        raise forms.ValidationError(_("Enter a date before 2100."), code="date_range")
    return value


class OPCChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Organisation) -> str:
        return obj.name


class OPCMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Organisation) -> str:
        return obj.name


def opc_queryset() -> QuerySet[Organisation]:
    return Organisation.objects.filter(kind=OrgKind.OPC).order_by("name", "pk")


class OrderForm(forms.Form):
    """Posting an order (a draft). Deliverables and criteria come prefilled from the category's template."""

    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("Description"), max_length=20000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    category = forms.ModelChoiceField(
        label=_("Category"),
        queryset=Skill.objects.all(),
        to_field_name="code",
        empty_label=_("Choose a category"),
    )
    required_skills = forms.ModelMultipleChoiceField(
        label=_("Further required skills"),
        queryset=Skill.objects.all(),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    budget_min = money_field(_("Budget from (CNY)"))
    budget_max = money_field(_("Budget to (CNY)"))
    deadline = forms.DateField(label=_("Deadline"), widget=DateInput())
    deliverables = forms.CharField(
        label=_("Deliverables"), max_length=10000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    acceptance_criteria = forms.CharField(
        label=_("Acceptance criteria"),
        max_length=10000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    mode = forms.ChoiceField(label=_("Mode"), choices=OrderMode.choices, initial=OrderMode.TENDER)
    price = money_field(
        _("Price / reward (CNY)"),
        required=False,
        help_text=_("Direct mode: the price offered to the named OPC. Contest mode: the reward."),
    )
    direct_opc = OPCChoiceField(
        label=_("Named OPC (direct mode)"), queryset=Organisation.objects.none(), required=False
    )
    visibility = forms.ChoiceField(
        label=_("Visibility"), choices=Visibility.choices, initial=Visibility.PUBLIC
    )
    community = forms.ModelChoiceField(
        label=_("Community (community-only orders)"), queryset=Community.objects.none(), required=False
    )
    invited_opcs = OPCMultipleChoiceField(
        label=_("Invited OPCs"), queryset=Organisation.objects.none(), required=False
    )
    procurement_method = forms.ChoiceField(
        label=_("Procurement method"), choices=ProcurementMethod.choices, required=False
    )
    attachment = forms.FileField(label=_("Attachment"), required=False)

    def __init__(self, *args: Any, client: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = client
        opcs = opc_queryset().exclude(pk=client.pk)
        for name in ("direct_opc", "invited_opcs"):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField | forms.ModelMultipleChoiceField)
            field.queryset = opcs
        community = self.fields["community"]
        assert isinstance(community, forms.ModelChoiceField)
        community.queryset = Community.objects.filter(is_public=True).order_by("name", "pk")
        self.fields["deadline"].initial = timezone.localdate() + dt.timedelta(days=30)
        self.is_procurement = client.kind == OrgKind.CLIENT and client.subkind in ("government", "soe")
        if not self.is_procurement:
            del self.fields["procurement_method"]

    def clean_deadline(self) -> dt.date | None:
        return _future_date(self.cleaned_data.get("deadline"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        low, high = data.get("budget_min"), data.get("budget_max")
        if low is not None and high is not None and low > high:
            self.add_error("budget_max", _("The lower budget must not exceed the upper budget."))
        mode = data.get("mode")
        if mode in (OrderMode.DIRECT, OrderMode.CONTEST) and data.get("price") is None:
            self.add_error("price", _("Direct and contest orders need a price or reward."))
        if mode == OrderMode.DIRECT and data.get("direct_opc") is None:
            self.add_error("direct_opc", _("A direct order needs the OPC it is offered to."))
        if data.get("visibility") == Visibility.COMMUNITY and data.get("community") is None:
            self.add_error("community", _("Choose the community whose members may see this order."))
        if self.is_procurement and not data.get("procurement_method"):
            self.add_error("procurement_method", _("Choose the procurement method."))
        return data

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        mode = data["mode"]
        return {
            "title": data["title"],
            "description": data["description"],
            "category": data["category"],
            "required_skills": list(data["required_skills"]),
            "budget_min": data["budget_min"],
            "budget_max": data["budget_max"],
            "deadline": data["deadline"],
            "deliverables": data["deliverables"],
            "acceptance_criteria": data["acceptance_criteria"],
            "mode": mode,
            "price": data["price"] if mode != OrderMode.TENDER else None,
            "direct_opc": data["direct_opc"] if mode == OrderMode.DIRECT else None,
            "visibility": data["visibility"],
            "community": data["community"],
            "invited_opcs": list(data["invited_opcs"]),
            "procurement_method": data.get("procurement_method", ""),
        }


class OrderEditForm(forms.Form):
    """What can change on a draft (``services.EDITABLE_FIELDS``)."""

    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("Description"), max_length=20000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    deliverables = forms.CharField(
        label=_("Deliverables"), max_length=10000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    acceptance_criteria = forms.CharField(
        label=_("Acceptance criteria"),
        max_length=10000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    deadline = forms.DateField(label=_("Deadline"), widget=DateInput())

    def clean_deadline(self) -> dt.date | None:
        return _future_date(self.cleaned_data.get("deadline"))


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File"))


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, required=False)
    idempotency_key = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)


class PublishForm(forms.Form):
    idempotency_key = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)


class InviteForm(forms.Form):
    opc = OPCChoiceField(label=_("OPC"), queryset=Organisation.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["opc"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = opc_queryset()


class BidForm(forms.Form):
    price = money_field(_("Your price (CNY)"))
    timeline_days = forms.IntegerField(label=_("Timeline (days)"), min_value=1, max_value=3650)
    plan = forms.CharField(
        label=_("Plan"), max_length=20000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean_price(self) -> Decimal | None:
        price = self.cleaned_data.get("price")
        if price is not None and price <= 0:
            raise forms.ValidationError(_("The price must be positive."), code="min_value")
        return price


class EntryForm(forms.Form):
    description = forms.CharField(
        label=_("Your entry"), max_length=20000, widget=forms.Textarea(attrs={"rows": 3})
    )
    link = forms.URLField(label=_("Link to the work"), max_length=200, required=False, assume_scheme="https")


class MilestoneForm(forms.Form):
    title = forms.CharField(label=_("Milestone"), max_length=200)
    amount = money_field(_("Amount (CNY)"))
    due_date = forms.DateField(label=_("Due date"), widget=DateInput())
    acceptance_criteria = forms.CharField(
        label=_("Acceptance criteria"),
        max_length=10000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_due_date(self) -> dt.date | None:
        return _future_date(self.cleaned_data.get("due_date"))


class BaseMilestoneFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        filled = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not filled:
            raise forms.ValidationError(_("A contract needs at least one milestone."), code="min")


MilestoneFormSet = forms.formset_factory(
    MilestoneForm, formset=BaseMilestoneFormSet, extra=0, min_num=1, max_num=20, validate_max=True
)


class KeyedForm(forms.Form):
    """A money operation: the form carries an idempotency key generated when it was rendered, so a double
    submit has one effect."""

    idempotency_key = forms.CharField(max_length=100, widget=forms.HiddenInput)


class DeliverForm(forms.Form):
    note = forms.CharField(
        label=_("Delivery note"), max_length=20000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class RevisionForm(forms.Form):
    note = forms.CharField(
        label=_("What needs revising"), max_length=20000, widget=forms.Textarea(attrs={"rows": 2})
    )


class DisputeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=20000, widget=forms.Textarea(attrs={"rows": 2}))


class DecideForm(KeyedForm):
    amount_to_opc = money_field(_("Amount to the OPC (CNY)"))
    note = forms.CharField(
        label=_("Decision"), max_length=20000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class DeclineForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, required=False)


class ReassignForm(InviteForm):
    pass


class BrowseFilterForm(forms.Form):
    category = forms.ModelChoiceField(
        label=_("Category"),
        queryset=Skill.objects.all(),
        to_field_name="code",
        required=False,
        empty_label=_("All categories"),
    )
    mode = forms.ChoiceField(
        label=_("Mode"), choices=[("", _("All modes")), *OrderMode.choices], required=False
    )
    budget_min = money_field(_("Budget from"), required=False)
    budget_max = money_field(_("Budget to"), required=False)
    q = forms.CharField(label=_("Search"), max_length=60, required=False)

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "category": data["category"].code if data.get("category") else "",
            "mode": data.get("mode") or "",
            "budget_min": data.get("budget_min"),
            "budget_max": data.get("budget_max"),
            "text": data.get("q") or "",
        }


class ProcurementFilterForm(forms.Form):
    method = forms.ChoiceField(
        label=_("Procurement method"),
        choices=[("", _("All methods")), *[c for c in ProcurementMethod.choices if c[0]]],
        required=False,
    )
    band = forms.ChoiceField(
        label=_("Budget band"),
        choices=[("", _("All budget bands")), *[c for c in BudgetBand.choices if c[0]]],
        required=False,
    )

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {"method": "", "band": ""}
        return {"method": self.cleaned_data["method"], "band": self.cleaned_data["band"]}
