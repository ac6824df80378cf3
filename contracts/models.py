"""Contract risk reviews: what was reviewed (the extracted text, never the uploaded file) and what was found.

A finding keeps the explanation, fairer wording and legal basis of its category in both languages as they were
when the review ran, so a report reads the same after the rule library changes.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class Rating(models.TextChoices):
    HIGH = "high", _("High risk")
    MEDIUM = "medium", _("Medium risk")
    LOW = "low", _("Low risk")
    NONE = "none", _("No risk found")


class Severity(models.TextChoices):
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class ReviewSource(models.TextChoices):
    UPLOAD = "upload", _("Uploaded file")
    PASTE = "paste", _("Pasted text")
    ORDER_ATTACHMENT = "order_attachment", _("Order attachment")
    TERM_SHEET = "term_sheet", _("Investment term sheet")


class FindingSource(models.TextChoices):
    RULE = "rule", _("Rule")
    MODEL = "model", _("Classifier")
    DOCUMENT = "document", _("Whole document")


def text_in_language(texts: dict[str, str] | None) -> str:
    """The zh or en text of a bilingual dict, following the active language (Chinese first)."""
    texts = texts or {}
    lang = "en" if (get_language() or "").startswith("en") else "zh"
    return texts.get(lang) or texts.get("zh") or texts.get("en") or ""


class Review(models.Model):
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.CASCADE,
        related_name="contract_reviews",
        verbose_name=_("organisation"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    source = models.CharField(_("source"), max_length=20, choices=ReviewSource.choices)
    source_id = models.PositiveBigIntegerField(null=True, blank=True)
    file_name = models.CharField(_("file name"), max_length=200, blank=True)
    file_kind = models.CharField(_("file type"), max_length=8)
    sha256 = models.CharField(max_length=64)
    language = models.CharField(_("language"), max_length=2)
    pages = models.PositiveIntegerField(_("pages"))
    clause_count = models.PositiveIntegerField(_("clauses"))
    text = models.TextField(_("text"))
    rating = models.CharField(_("overall rating"), max_length=8, choices=Rating.choices)
    high_count = models.PositiveIntegerField(default=0)
    medium_count = models.PositiveIntegerField(default=0)
    low_count = models.PositiveIntegerField(default=0)
    contract_value = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    rules_version = models.CharField(max_length=40)
    model_version = models.CharField(max_length=60, blank=True)
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(_("reviewed at"), default=timezone.now)

    class Meta:
        verbose_name = _("contract review")
        verbose_name_plural = _("contract reviews")
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["organisation", "-created_at"])]

    def __str__(self) -> str:
        return self.title


class Finding(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="findings")
    position = models.PositiveIntegerField()  # 1 = the highest risk
    category = models.CharField(_("category"), max_length=40)
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices)
    source = models.CharField(_("found by"), max_length=10, choices=FindingSource.choices)
    rule_id = models.CharField(max_length=80, blank=True)
    confidence = models.FloatField(default=1.0)
    clause_index = models.IntegerField()  # -1: the whole document
    clause_number = models.CharField(max_length=40, blank=True)
    clause_heading = models.CharField(max_length=300, blank=True)
    clause_text = models.TextField()
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    cuad = models.CharField(max_length=60, blank=True)
    title = models.JSONField(default=dict)
    explanation = models.JSONField(default=dict)
    fairer = models.JSONField(default=dict)
    basis = models.JSONField(default=dict, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering: ClassVar = ["position"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["review", "position"], name="contracts_finding_position"),
            models.CheckConstraint(
                condition=models.Q(end__gte=models.F("start")), name="contracts_span_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.review_id}#{self.position} {self.category}"

    # -- for templates and the API ------------------------------------------------------------------------------
    @property
    def before(self) -> str:
        return self.clause_text[: self.start]

    @property
    def span(self) -> str:
        return self.clause_text[self.start : self.end]

    @property
    def after(self) -> str:
        return self.clause_text[self.end :]

    @property
    def title_text(self) -> str:
        return text_in_language(self.title)

    @property
    def explanation_text(self) -> str:
        return text_in_language(self.explanation)

    @property
    def fairer_text(self) -> str:
        return text_in_language(self.fairer)

    @property
    def basis_text(self) -> str:
        return text_in_language(self.basis)

    @property
    def detail_text(self) -> str:
        return text_in_language(self.detail)
