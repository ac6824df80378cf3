"""Forms of the subsidy pages. They parse input; the rules (invoice format, seller code, duplicates, caps,
transitions) are checked by ``subsidies.services``, whose field errors the views put back on these forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from subsidies import catalog
from subsidies.engine.schema import Policy
from subsidies.models import BatchKind, DocumentKind, ExpenseCategory, ExpenseStatus, Payout

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ExpenseForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"))
    amount = forms.DecimalField(label=_("Amount (CNY)"), min_value=0, max_digits=14, decimal_places=2)
    spent_on = forms.DateField(label=_("Invoice date"), widget=DATE)
    seller_name = forms.CharField(label=_("Seller (as on the invoice)"), max_length=120)
    seller_uscc = forms.CharField(
        label=_("Seller's unified social credit code"),
        max_length=18,
        help_text=_("18 characters, printed on the invoice as 纳税人识别号."),
    )
    invoice_code = forms.CharField(
        label=_("Invoice code (发票代码)"),
        max_length=12,
        required=False,
        help_text=_("10 or 12 digits; empty for a fully digital invoice (数电票)."),
    )
    invoice_number = forms.CharField(
        label=_("Invoice number (发票号码)"), max_length=20, help_text=_("8 digits, or 20 for a 数电票.")
    )
    description = forms.CharField(label=_("What was bought"), max_length=200, required=False)
    evidence = forms.FileField(label=_("Invoice file (PDF, OFD, JPEG or PNG)"))

    def __init__(self, *args: Any, categories: list[ExpenseCategory], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [(c.value, c.label) for c in categories]  # type: ignore[attr-defined]


class CommuteForm(forms.Form):
    spent_on = forms.DateField(label=_("Travel date"), widget=DATE)
    trip_from = forms.CharField(label=_("From (station)"), max_length=40)
    trip_to = forms.CharField(label=_("To (station)"), max_length=40)
    train_number = forms.CharField(label=_("Train"), max_length=12, required=False)
    amount = forms.DecimalField(label=_("Fare (CNY)"), min_value=0, max_digits=10, decimal_places=2)
    invoice_number = forms.CharField(
        label=_("E-ticket invoice number"),
        max_length=20,
        help_text=_("The 20-digit number of the 电子客票 invoice."),
    )
    seller_name = forms.CharField(label=_("Seller (as on the invoice)"), max_length=120)
    seller_uscc = forms.CharField(label=_("Seller's unified social credit code"), max_length=18)
    evidence = forms.FileField(label=_("Ticket invoice (PDF, OFD, JPEG or PNG)"))


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"))
    title = forms.CharField(
        label=_("Title"), max_length=200, help_text=_("e.g. the contract's name and date")
    )
    file = forms.FileField(label=_("File (PDF, OFD, JPEG or PNG)"))

    def __init__(self, *args: Any, kinds: list[DocumentKind], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k.value, k.label) for k in kinds]  # type: ignore[attr-defined]


class EvidenceForm(forms.Form):
    evidence = forms.FileField(label=_("Invoice file (PDF, OFD, JPEG or PNG)"))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.TextInput)


class ConsentForm(forms.Form):
    payout = forms.ChoiceField(label=_("Take my share as"), widget=forms.RadioSelect)

    def __init__(self, *args: Any, policy: Policy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(Payout.choices)
        options = [b.value for b in policy.application.payouts if b.value in labels]
        self.fields["payout"].choices = [(o, labels[o]) for o in options]  # type: ignore[attr-defined]
        if options and not self.is_bound:
            self.initial.setdefault("payout", options[0])


class PeriodForm(forms.Form):
    period = forms.CharField(label=_("Period"), max_length=20, required=False)


class OpenBatchForm(forms.Form):
    policy = forms.ChoiceField(label=_("Policy"))
    period = forms.CharField(
        label=_("Period"),
        max_length=20,
        help_text=_("A year (2026), a quarter (2026-Q2) or a month (2026-04)."),
    )
    kind = forms.ChoiceField(label=_("Claim"), choices=BatchKind.choices, initial=BatchKind.MEMBERS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].choices = [  # type: ignore[attr-defined]
            (p.id, f"{p.title} · {catalog.instrument_label(p)}")
            for p in catalog.policies()
            if catalog.operator_applies(p) and catalog.paid_in_ledger(p)
        ]
        if not self.is_bound:
            self.initial.setdefault("period", f"{timezone.localdate().year}")


class ReferenceForm(forms.Form):
    reference = forms.CharField(
        label=_("Authority's reference (文号 / 受理号)"), max_length=120, required=False
    )


class ApproveForm(forms.Form):
    amount = forms.DecimalField(label=_("Approved amount (CNY)"), max_digits=14, decimal_places=2)
    reference = forms.CharField(
        label=_("Authority's reference (文号 / 受理号)"), max_length=120, required=False
    )


class FundsForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount received (CNY)"), max_digits=14, decimal_places=2)
    received_on = forms.DateField(label=_("Arrived on"), widget=DATE)


class ExpenseFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *ExpenseStatus.choices]
    )
