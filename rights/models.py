"""Copyright registry (确权) and infringement monitoring for AI-generated works.

- ``Work``: a registered image or video with its creation statement, the exact hash of the file and, once
  processed, its perceptual fingerprints (``Frame`` rows) and an entry in the tamper-evident ``ChainEntry``
  chain. The holder's name and USCC are frozen at registration: the chain commits to them.
- ``ChainHead``: the single row every registration locks (``select_for_update``) to append to the chain, so
  concurrent registrations get consecutive sequence numbers, each committing to the previous entry's hash.
- ``Scan`` → ``Suspect`` → ``Match``: suspected copies submitted by a member or a copyright agency and the
  registered works found in them (segments with timestamps and Hamming distances).
- ``Case``: a match handed to a copyright agency, with notes, an outcome and ``Compensation`` received, split
  between agency and creator through the ledger.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


def new_certificate_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I
    return "".join(secrets.choice(alphabet) for _ in range(12))


class MediaKind(models.TextChoices):
    IMAGE = "image", _("Image")
    VIDEO = "video", _("Video")


class WorkCategory(models.TextChoices):
    SHORT_DRAMA = "short_drama", _("AI short drama")
    VIDEO = "video", _("AIGC video")
    ANIMATION = "animation", _("Animation")
    DIGITAL_HUMAN = "digital_human", _("Digital human")
    ILLUSTRATION = "illustration", _("Illustration and digital art")
    PHOTOGRAPHY = "photography", _("Photography")
    DESIGN = "design", _("Graphic and product design")
    OTHER = "other", _("Other")


class WorkStatus(models.TextChoices):
    PROCESSING = "processing", _("Processing")
    REGISTERED = "registered", _("Registered")
    FAILED = "failed", _("Failed")


class Work(models.Model):
    holder = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="registered_works",
        verbose_name=_("rights holder"),
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("registered by")
    )
    code = models.CharField(
        _("verification code"), max_length=16, unique=True, default=new_certificate_code, editable=False
    )
    title = models.CharField(_("title"), max_length=120)
    category = models.CharField(_("category"), max_length=20, choices=WorkCategory.choices)
    media_kind = models.CharField(_("media"), max_length=8, choices=MediaKind.choices)
    authors = models.CharField(_("authors"), max_length=300)
    holder_name = models.CharField(_("rights holder"), max_length=120)
    holder_uscc = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    created_on = models.DateField(_("creation completed on"))
    first_published_on = models.DateField(_("first published on"), null=True, blank=True)
    published_where = models.CharField(_("first published at"), max_length=200, blank=True)
    purpose = models.TextField(_("purpose of creation"))
    process = models.TextField(_("creation process"))
    ai_tools = models.CharField(_("AI tools used"), max_length=300)
    prompts = models.TextField(_("prompts used"), blank=True)
    originality = models.TextField(_("originality statement"))
    # the file
    file = models.FileField(_("file"), upload_to="rights/works/%Y/%m/", max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    file_size = models.PositiveBigIntegerField(_("size (bytes)"))
    file_format = models.CharField(_("format"), max_length=40)
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # processing
    status = models.CharField(
        _("status"), max_length=12, choices=WorkStatus.choices, default=WorkStatus.PROCESSING
    )
    failure_reason = models.CharField(_("reason"), max_length=300, blank=True)
    frames_sampled = models.PositiveIntegerField(default=0)
    frames_kept = models.PositiveIntegerField(default=0)
    fingerprint_digest = models.CharField(max_length=64, blank=True)
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now)
    registered_at = models.DateTimeField(_("registered"), null=True, blank=True)
    # the certificate (derived from the registered facts; not part of what the chain commits to)
    certificate_pdf = models.FileField(_("certificate"), upload_to="rights/certificates/%Y/%m/", blank=True)
    certificate_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("registered work")
        verbose_name_plural = _("registered works")
        ordering: ClassVar = ["-submitted_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["holder", "status"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_registered(self) -> bool:
        return self.status == WorkStatus.REGISTERED

    @property
    def registration_number(self) -> str:
        entry = getattr(self, "chain_entry", None)
        if entry is None or self.registered_at is None:
            return ""
        return f"OPC-R-{timezone.localtime(self.registered_at):%Y}-{entry.sequence:07d}"


class Frame(models.Model):
    """One perceptual hash of a work: a video frame (one a second) or a still image, as it is or transformed
    (``transform``: dihedral index + 8 × crop variant, see ``rights.fingerprints``). 32 bytes of PDQ."""

    work = models.ForeignKey(Work, on_delete=models.CASCADE, related_name="frames")
    position_ms = models.PositiveIntegerField()
    transform = models.PositiveSmallIntegerField(default=0)
    quality = models.PositiveSmallIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        verbose_name = _("fingerprint frame")
        verbose_name_plural = _("fingerprint frames")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["work", "position_ms", "transform"], name="rights_frame_unique")
        ]

    def __str__(self) -> str:
        return f"{self.work_id}@{self.position_ms}ms/{self.transform}"


class ChainHead(models.Model):
    """The end of the registration chain. One row (pk 1), locked by every append."""

    sequence = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("chain head")
        verbose_name_plural = _("chain head")

    def __str__(self) -> str:
        return f"#{self.sequence} {self.head_hash[:12]}"


class ChainEntry(models.Model):
    """One registration in the tamper-evident chain. ``entry_hash`` = SHA-256 of the canonical JSON of
    (sequence, previous_hash, content_sha256, metadata_digest, recorded_at); ``metadata_digest`` covers the
    work's registered facts and the digest of its fingerprints."""

    sequence = models.PositiveBigIntegerField(_("sequence"), unique=True)
    work = models.OneToOneField(Work, on_delete=models.PROTECT, related_name="chain_entry")
    previous_hash = models.CharField(max_length=64)
    content_sha256 = models.CharField(max_length=64)
    metadata_digest = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("chain entry")
        verbose_name_plural = _("chain entries")
        ordering: ClassVar = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.entry_hash[:12]}"


class Scan(models.Model):
    """One submission of suspected copies (one file or a batch)."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="rights_scans"
    )
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(_("where the copies were found"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("submitted"), default=timezone.now)

    class Meta:
        verbose_name = _("scan")
        verbose_name_plural = _("scans")
        ordering: ClassVar = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk}"


class SuspectStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    DONE = "done", _("Checked")
    FAILED = "failed", _("Could not be read")


class Suspect(models.Model):
    """One suspected copy, kept as evidence with its SHA-256."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="suspects")
    file = models.FileField(upload_to="rights/suspects/%Y/%m/", max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    file_size = models.PositiveBigIntegerField(_("size (bytes)"))
    file_format = models.CharField(_("format"), max_length=40)
    media_kind = models.CharField(_("media"), max_length=8, choices=MediaKind.choices)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    status = models.CharField(
        _("status"), max_length=8, choices=SuspectStatus.choices, default=SuspectStatus.PENDING
    )
    failure_reason = models.CharField(_("reason"), max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    frames_kept = models.PositiveIntegerField(default=0)
    query_ms = models.PositiveIntegerField(null=True, blank=True)
    checked_at = models.DateTimeField(_("checked"), null=True, blank=True)

    class Meta:
        verbose_name = _("suspected copy")
        verbose_name_plural = _("suspected copies")
        ordering: ClassVar = ["id"]

    def __str__(self) -> str:
        return self.original_name


class Match(models.Model):
    """A registered work found in a suspected copy. ``segments``: list of {query_start_ms, query_end_ms,
    work_start_ms, work_end_ms, frames, min_distance, mean_distance} (distances in bits of 256)."""

    suspect = models.ForeignKey(Suspect, on_delete=models.CASCADE, related_name="matches")
    work = models.ForeignKey(Work, on_delete=models.PROTECT, related_name="matches")
    votes = models.PositiveIntegerField(_("matched seconds"))
    min_distance = models.PositiveSmallIntegerField(_("smallest distance"))
    mean_distance = models.DecimalField(_("mean distance"), max_digits=5, decimal_places=1)
    mirrored = models.BooleanField(_("mirrored"), default=False)
    segments = models.JSONField(_("segments"), default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("match")
        verbose_name_plural = _("matches")
        ordering: ClassVar = ["-votes", "mean_distance", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["suspect", "work"], name="rights_match_unique")
        ]

    def __str__(self) -> str:
        return f"{self.suspect} ≈ {self.work}"


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Awaiting the agency")
    ACCEPTED = "accepted", _("Accepted by the agency")
    ENFORCING = "enforcing", _("Enforcement under way")
    SETTLED = "settled", _("Compensation received")
    CLOSED = "closed", _("Closed")
    DECLINED = "declined", _("Declined by the agency")
    WITHDRAWN = "withdrawn", _("Withdrawn by the rights holder")


class Case(models.Model):
    match = models.OneToOneField(Match, on_delete=models.PROTECT, related_name="case")
    work = models.ForeignKey(Work, on_delete=models.PROTECT, related_name="cases")
    holder = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="rights_cases_held"
    )
    agency = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="rights_cases_handled",
        verbose_name=_("copyright agency"),
    )
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    agency_share = models.DecimalField(
        _("agency share (%)"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    infringer = models.CharField(_("suspected infringer"), max_length=200, blank=True)
    infringing_url = models.URLField(_("where the copy is published"), max_length=500, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    compensation_total = models.DecimalField(
        _("compensation received"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    escrow_account = models.ForeignKey(
        "ledger.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("opened"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("infringement case")
        verbose_name_plural = _("infringement cases")
        ordering: ClassVar = ["-updated_at", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(agency_share__gte=0, agency_share__lte=100), name="rights_case_share_0_100"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.work}"


class CaseNote(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("note"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:40]


class Compensation(models.Model):
    """Money an infringer paid, received by the agency and split: external → case escrow → agency / creator."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="compensations")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    agency_amount = models.DecimalField(_("agency's share"), max_digits=14, decimal_places=2)
    creator_amount = models.DecimalField(_("creator's share"), max_digits=14, decimal_places=2)
    payer = models.CharField(_("paid by"), max_length=200)
    idempotency_key = models.CharField(max_length=100)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["case", "idempotency_key"], name="rights_compensation_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="rights_compensation_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.amount}"
