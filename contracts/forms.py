"""Forms of the contract pages. They check shapes; reading the file and the review itself happen in
``contracts.services`` and come back as form errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from contracts.review.extract import MAX_TEXT_CHARS


class ReviewForm(forms.Form):
    title = forms.CharField(label=_("Title (optional)"), max_length=200, required=False)
    file = forms.FileField(
        label=_("Contract file (.docx, .pdf or .txt)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".docx,.pdf,.txt"}),
    )
    text = forms.CharField(
        label=_("…or paste the contract text"),
        required=False,
        max_length=MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 8}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        has_file = bool(data.get("file"))
        has_text = bool((data.get("text") or "").strip())
        if has_file and has_text:
            raise forms.ValidationError(_("Upload a file or paste text, not both."), code="both")
        if not has_file and not has_text:
            raise forms.ValidationError(_("Choose a contract file or paste the contract text."), code="empty")
        return data
