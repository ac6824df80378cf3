from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from core.uploads import check_image
from organisations.models import OPCProfile, Organisation, Skill, TalentLevel
from organisations.validation import clean_resident_id, clean_uscc


class OrganisationForm(forms.ModelForm):
    uscc_input = forms.CharField(label=_("Unified social credit code"), max_length=30, required=False)
    legal_rep_id = forms.CharField(
        label=_("Legal representative's ID number"),
        max_length=30,
        required=False,
        help_text=_("Checked and stored masked; leave empty to keep the current one."),
    )

    class Meta:
        model = Organisation
        fields = [
            "name",
            "city",
            "district",
            "contact_phone",
            "contact_email",
            "legal_representative",
            "description",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.uscc:
            self.fields["uscc_input"].initial = self.instance.uscc
        if self.instance and self.instance.legal_rep_id_masked:
            self.fields["legal_rep_id"].widget.attrs["placeholder"] = self.instance.legal_rep_id_masked

    def clean_uscc_input(self) -> str:
        raw = self.cleaned_data.get("uscc_input", "")
        return clean_uscc(raw) if raw else ""

    def clean_legal_rep_id(self) -> str:
        raw = self.cleaned_data.get("legal_rep_id", "")
        return clean_resident_id(raw) if raw else ""


class OPCProfileForm(forms.ModelForm):
    skills = forms.ModelMultipleChoiceField(
        label=_("Skills"), queryset=Skill.objects.all(), widget=forms.CheckboxSelectMultiple, required=False
    )
    tags_text = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=400,
        help_text=_("Separate with commas, e.g. 科幻, 海外发行"),
    )
    talent_level = forms.ChoiceField(
        label=_("Talent certification"), choices=TalentLevel.choices, required=False
    )

    class Meta:
        model = OPCProfile
        fields = [
            "founder_name",
            "headcount",
            "capacity",
            "rate_min",
            "rate_max",
            "founded_on",
            "listed_publicly",
        ]
        widgets = {"founded_on": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["headcount"].widget.attrs.update({"min": 1, "max": 3})
        self.fields["capacity"].widget.attrs.update({"min": 1, "max": 50})
        if self.instance and self.instance.pk:
            self.fields["tags_text"].initial = ", ".join(self.instance.tags)
            self.fields["skills"].initial = list(self.instance.skills.all())
            self.fields["talent_level"].initial = self.instance.talent_level


class PortfolioItemForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    link = forms.URLField(label=_("Link"), required=False, assume_scheme="https")
    year = forms.IntegerField(label=_("Year"), min_value=1990, max_value=2100, required=False)
    image = forms.FileField(label=_("Image"), required=False)

    def clean_image(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("image")
        if upload:
            check_image(upload)
        return upload


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 2}))


__all__ = ["OPCProfileForm", "OrganisationForm", "PortfolioItemForm", "RejectForm", "clean_uscc"]
