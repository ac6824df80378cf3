"""Forms of the quota console. They parse and check input; the rules themselves are in ``gateway.services``
(a refused rule comes back as a form error, nothing changed)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gateway.models import PriceKind, Provider
from gateway.selectors import MAX_RANGE_DAYS, UsageFilter
from gateway.services import MAX_MODELS_PER_CHANNEL
from organisations.models import Organisation


def _price_field(label: Any, **kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(label=label, max_digits=12, decimal_places=4, min_value=Decimal("0"), **kwargs)


def _choices(form: forms.Form, name: str, choices: list[tuple[str, Any]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def _queryset(form: forms.Form, name: str, queryset: Any) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField)
    field.queryset = queryset


def parse_model_mapping(text: str) -> dict[str, str]:
    """One model per line: ``public-name`` or ``public-name = upstream-name``."""
    mapping: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        public, _sep, upstream = (part.strip() for part in line.partition("="))
        upstream = upstream or public
        if (
            not public
            or any(ch.isspace() for ch in public + upstream)
            or len(public) > 100
            or len(upstream) > 100
        ):
            raise ValidationError(
                _("Line %(n)d: write “public-name” or “public-name = upstream-name” (no spaces in names)."),
                params={"n": number},
            )
        if public in mapping:
            raise ValidationError(
                _("Line %(n)d: %(name)s is listed twice."), params={"n": number, "name": public}
            )
        mapping[public] = upstream
    if not mapping:
        raise ValidationError(_("List at least one model."))
    if len(mapping) > MAX_MODELS_PER_CHANNEL:
        raise ValidationError(
            _("A channel may serve at most %(n)d models."), params={"n": MAX_MODELS_PER_CHANNEL}
        )
    return mapping


def format_model_mapping(mapping: dict[str, str]) -> str:
    return "\n".join(
        public if public == upstream else f"{public} = {upstream}" for public, upstream in mapping.items()
    )


class ChannelForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    provider = forms.ChoiceField(
        label=_("Provider"), choices=Provider.choices, initial=Provider.OPENAI_COMPATIBLE
    )
    base_url = forms.CharField(
        label=_("Base URL"),
        max_length=300,
        help_text=_("The OpenAI-compatible endpoint, e.g. https://api.deepseek.com/v1"),
        widget=forms.URLInput(attrs={"placeholder": "https://…/v1"}),
    )
    api_key = forms.CharField(
        label=_("API key"),
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Stored encrypted and never shown again."),
    )
    models = forms.CharField(
        label=_("Models served"),
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "deepseek-chat\nqwen-plus = qwen-plus-2025-01-25"}
        ),
        help_text=_("One per line: the name members use, optionally “= the name the upstream expects”."),
    )
    max_output_tokens = forms.IntegerField(
        label=_("Default max output tokens"),
        min_value=1,
        max_value=1_000_000,
        initial=4096,
        help_text=_("Reserved for a request that does not set max_tokens, and sent upstream as its limit."),
    )
    priority = forms.IntegerField(
        label=_("Priority"), min_value=-1000, max_value=1000, initial=0, help_text=_("Higher is tried first.")
    )
    weight = forms.IntegerField(
        label=_("Weight"),
        min_value=1,
        max_value=1000,
        initial=1,
        help_text=_("Share of traffic among channels of equal priority."),
    )
    connect_timeout = forms.FloatField(
        label=_("Connect timeout (s)"), min_value=0.1, max_value=60, initial=5.0
    )
    read_timeout = forms.FloatField(label=_("Read timeout (s)"), min_value=1, max_value=600, initial=120.0)
    is_enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def __init__(self, *args: Any, creating: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.creating = creating
        if creating:
            self.fields["api_key"].required = True
            del self.fields["is_enabled"]
        else:
            self.fields["api_key"].help_text = _("Leave empty to keep the stored key; a new key replaces it.")

    def clean_base_url(self) -> str:
        value: str = self.cleaned_data["base_url"].strip()
        if not value.startswith(("https://", "http://")):
            raise ValidationError(_("The base URL must start with https:// or http://."))
        return value

    def clean_models(self) -> dict[str, str]:
        return parse_model_mapping(self.cleaned_data["models"])


class PriceForm(forms.Form):
    model = forms.CharField(label=_("Model"), max_length=100)
    input_per_million = _price_field(_("Input (CNY / 1M tokens)"))
    cached_input_per_million = _price_field(
        _("Cached input (CNY / 1M tokens)"), required=False, help_text=_("Empty: same as input.")
    )
    output_per_million = _price_field(_("Output (CNY / 1M tokens)"))
    effective_from = forms.DateTimeField(
        label=_("Effective from"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text=_("Empty: now. Requests are priced at the row in force when they start."),
    )
    kind = forms.ChoiceField(label=_("Kind of price"), choices=PriceKind.choices, initial=PriceKind.LIST)
    source = forms.CharField(
        label=_("Source"),
        max_length=300,
        required=False,
        help_text=_("e.g. the vendor's public price page (URL)."),
    )
    source_date = forms.DateField(
        label=_("As of"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The date the source was read."),
    )

    def clean_model(self) -> str:
        value: str = self.cleaned_data["model"].strip()
        if any(ch.isspace() for ch in value):
            raise ValidationError(_("Model names contain no spaces."))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == PriceKind.LIST and not (data.get("source") and data.get("source_date")):
            raise ValidationError(_("A public list price needs its source and the date it was read."))
        return data


class GrantForm(forms.Form):
    member = forms.ModelChoiceField(label=_("Member"), queryset=Organisation.objects.none())
    amount = forms.DecimalField(
        label=_("Amount (CNY)"), max_digits=14, decimal_places=2, min_value=Decimal("0.01")
    )
    memo = forms.CharField(label=_("Memo"), max_length=200, required=False)
    request_token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, members: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _queryset(self, "member", members.order_by("name"))
        if not self.is_bound:
            self.initial.setdefault("request_token", uuid.uuid4().hex)

    def clean_request_token(self) -> str:
        value: str = self.cleaned_data["request_token"]
        if not value.isalnum():
            raise ValidationError(_("Reload the page and try again."))
        return value


class KeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=80, help_text=_("e.g. the laptop or the project it is for")
    )
    tag = forms.CharField(
        label=_("Tag"), max_length=40, required=False, help_text=_("Project or order, for cost allocation.")
    )
    allowed_models = forms.MultipleChoiceField(
        label=_("Allowed models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every model the gateway serves."),
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: never (revoke it when you no longer need it)."),
    )
    rpm_limit = forms.IntegerField(
        label=_("Requests per minute"), required=False, min_value=1, max_value=100_000
    )
    tpm_limit = forms.IntegerField(
        label=_("Tokens per minute"), required=False, min_value=1, max_value=100_000_000
    )

    def __init__(self, *args: Any, models: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "allowed_models", [(m, m) for m in models])

    def clean_expires_on(self) -> dt.date | None:
        value: dt.date | None = self.cleaned_data.get("expires_on")
        if value is not None and value <= timezone.localdate():
            raise ValidationError(_("The expiry must be in the future."))
        return value

    def expires_at(self) -> dt.datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(dt.datetime.combine(day, dt.time(23, 59, 59)))


class UsageFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    model = forms.ChoiceField(label=_("Model"), required=False)
    key = forms.ChoiceField(label=_("Key"), required=False)
    tag = forms.ChoiceField(label=_("Tag"), required=False)
    member = forms.ChoiceField(label=_("Member"), required=False)

    def __init__(
        self,
        *args: Any,
        models: list[str],
        tags: list[str],
        keys: list[tuple[int, str]] | None = None,
        members: list[tuple[int, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            default = UsageFilter.default()
            self.initial.setdefault("start", default.start)
            self.initial.setdefault("end", default.end)
        everything = ("", _("All"))
        _choices(self, "model", [everything, *((m, m) for m in models)])
        _choices(self, "tag", [everything, *((t, t) for t in tags)])
        if keys is None:
            del self.fields["key"]
        else:
            _choices(self, "key", [everything, *((str(pk), label) for pk, label in keys)])
        if members is None:
            del self.fields["member"]
        else:
            _choices(self, "member", [everything, *((str(pk), label) for pk, label in members)])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        default = UsageFilter.default()
        start, end = data.get("start") or default.start, data.get("end") or default.end
        if start > end:
            raise ValidationError(_("The start date is after the end date."))
        if (end - start).days >= MAX_RANGE_DAYS:
            raise ValidationError(_("Choose at most a year."))
        data["start"], data["end"] = start, end
        return data

    def usage_filter(self) -> UsageFilter:
        if not self.is_valid():
            return UsageFilter.default()
        data = self.cleaned_data
        return UsageFilter(
            start=data["start"],
            end=data["end"],
            model=data.get("model") or "",
            key_id=int(data["key"]) if data.get("key") else None,
            tag=data.get("tag") or "",
            member_id=int(data["member"]) if data.get("member") else None,
        )


class StatementIssueForm(forms.Form):
    member = forms.ModelChoiceField(label=_("Member"), queryset=Organisation.objects.none())
    month = forms.ChoiceField(label=_("Month"))

    def __init__(self, *args: Any, members: Any, months: list[dt.date], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _queryset(self, "member", members.order_by("name"))
        _choices(self, "month", [(m.isoformat(), f"{m:%Y-%m}") for m in months])

    def clean_month(self) -> dt.date:
        return dt.date.fromisoformat(self.cleaned_data["month"])


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class InvoiceForm(forms.Form):
    provider = forms.ModelChoiceField(label=_("Compute provider"), queryset=Organisation.objects.none())
    month = forms.ChoiceField(label=_("Month invoiced"))
    number = forms.CharField(label=_("Invoice number"), max_length=40)
    issued_on = forms.DateField(label=_("Invoice date"), widget=forms.DateInput(attrs={"type": "date"}))
    amount = forms.DecimalField(
        label=_("Amount incl. tax (CNY)"), max_digits=14, decimal_places=2, min_value=Decimal("0")
    )
    tax_amount = forms.DecimalField(
        label=_("Of which tax (CNY)"),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0"),
        initial=Decimal("0"),
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args: Any, providers: Any, months: list[dt.date], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _queryset(self, "provider", providers)
        _choices(self, "month", [(m.isoformat(), f"{m:%Y-%m}") for m in months])

    def clean_month(self) -> dt.date:
        return dt.date.fromisoformat(self.cleaned_data["month"])


class StatementLookupForm(forms.Form):
    code = forms.CharField(label=_("Verification code"), max_length=32)
