from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.phone import normalise_phone
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.validation import clean_uscc

REGISTRABLE_KINDS = [
    (OrgKind.OPC, OrgKind.OPC.label),
    (OrgKind.CLIENT, OrgKind.CLIENT.label),
    (OrgKind.PROVIDER, OrgKind.PROVIDER.label),
]


class LoginForm(forms.Form):
    login = forms.CharField(label=_("Mobile number or e-mail"), max_length=120)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=128)


class RegisterForm(forms.Form):
    display_name = forms.CharField(label=_("Your name"), max_length=80)
    phone = forms.CharField(label=_("Mobile number"), max_length=20, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=128)
    password_again = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, max_length=128)
    kind = forms.ChoiceField(label=_("I am registering"), choices=REGISTRABLE_KINDS, initial=OrgKind.OPC)
    subkind = forms.ChoiceField(label=_("Type"), choices=OrgSubkind.choices, required=False)
    organisation_name = forms.CharField(label=_("Company or organisation name"), max_length=120)
    uscc = forms.CharField(label=_("Unified social credit code (optional)"), max_length=30, required=False)
    home_community: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Community"), queryset=None, required=False, empty_label=_("— not in a community —")
    )
    accept_terms = forms.BooleanField(label=_("I agree to the platform rules and the privacy notice"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from communities.models import Community

        field = self.fields["home_community"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Community.objects.filter(is_public=True).order_by("city", "name")

    def clean_phone(self) -> str:
        raw = self.cleaned_data.get("phone", "")
        return normalise_phone(raw) if raw else ""

    def clean_uscc(self) -> str:
        raw = self.cleaned_data.get("uscc", "")
        return clean_uscc(raw) if raw else ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("phone") and not data.get("email") and not self.errors.get("phone"):
            raise ValidationError(_("Enter a mobile number or an e-mail address."))
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        kind, subkind = data.get("kind"), data.get("subkind") or ""
        from organisations.capabilities import SUBKINDS_BY_KIND

        if kind and subkind not in SUBKINDS_BY_KIND.get(kind, set()):
            if kind == OrgKind.OPC:
                data["subkind"] = ""
            else:
                self.add_error("subkind", _("Choose the type that fits."))
        return data


class ProfileForm(forms.Form):
    display_name = forms.CharField(label=_("Your name"), max_length=80)
    preferred_language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=80)
    expires_in_days = forms.TypedChoiceField(
        label=_("Expires"),
        coerce=int,
        choices=[(30, _("in 30 days")), (90, _("in 90 days")), (365, _("in a year")), (0, _("never"))],
        initial=90,
    )
