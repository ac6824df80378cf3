"""The token-quota gateway: upstream channels, the models they serve, prices, members' virtual keys and one
usage record per request.

Money never lives here. A member's quota is the ledger account ``org-<id>-quota`` (purpose ``quota``); a request
in flight holds its highest possible cost in ``org-<id>-quota-reserved``; what was used goes to the platform
account ``platform-gateway-consumed``. ``UsageRecord`` says *why* those postings happened (tokens, price,
channel, outcome); ``gateway.services`` writes both in one database transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Prices are per 1M tokens, exact to 1/10000 fen; computed costs keep 8 decimal places (sub-fen), and only
# whole fen reach the ledger (see ``QuotaMeter``).
PRICE_DIGITS, PRICE_PLACES = 12, 4
COST_DIGITS, COST_PLACES = 18, 8
FEN_DIGITS, FEN_PLACES = 16, 2


class Provider(models.TextChoices):
    OPENAI_COMPATIBLE = "openai_compatible", _("OpenAI-compatible")
    OPENAI = "openai", _("OpenAI")
    DEEPSEEK = "deepseek", _("DeepSeek")
    QWEN = "qwen", _("Alibaba Cloud Qwen (DashScope)")
    ZHIPU = "zhipu", _("Zhipu GLM")
    MOONSHOT = "moonshot", _("Moonshot Kimi")
    DEMO = "demo", _("Demo upstream (local fake, for tests and demos only)")


class Channel(models.Model):
    """One upstream endpoint with its own credentials. The API key is stored encrypted (Fernet, key derived
    from SECRET_KEY, see ``gateway.crypto``) and never shown again; ``api_key_hint`` keeps its last 4
    characters so an operator can tell keys apart."""

    owner = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="gateway_channels",
        verbose_name=_("managed by"),
        help_text=_("The operator or compute provider that manages this channel."),
    )
    name = models.CharField(_("name"), max_length=80)
    provider = models.CharField(
        _("provider"), max_length=24, choices=Provider.choices, default=Provider.OPENAI_COMPATIBLE
    )
    base_url = models.URLField(_("base URL"), max_length=300, help_text=_("e.g. https://api.example.cn/v1"))
    api_key_encrypted = models.TextField(editable=False)
    api_key_hint = models.CharField(_("API key"), max_length=16, editable=False)
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher is tried first."))
    weight = models.PositiveIntegerField(
        _("weight"), default=1, help_text=_("Share of traffic among channels of equal priority.")
    )
    connect_timeout = models.FloatField(_("connect timeout (s)"), default=5.0)
    read_timeout = models.FloatField(_("read timeout (s)"), default=120.0)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    cooldown_until = models.DateTimeField(_("cooling down until"), null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("upstream channel")
        verbose_name_plural = _("upstream channels")
        ordering: ClassVar = ["-priority", "name"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(weight__gte=1), name="gateway_channel_weight_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class ChannelModel(models.Model):
    """A model a channel serves: ``public_name`` is what members ask for, ``upstream_name`` what the channel
    is sent."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="models")
    public_name = models.CharField(_("model"), max_length=100, db_index=True)
    upstream_name = models.CharField(_("upstream model"), max_length=100)
    max_output_tokens = models.PositiveIntegerField(
        _("default max output tokens"),
        default=4096,
        help_text=_("Reserved for a request that does not set max_tokens."),
    )
    is_enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("channel model")
        verbose_name_plural = _("channel models")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["channel", "public_name"], name="gateway_channel_model_unique")
        ]

    def __str__(self) -> str:
        return f"{self.public_name} → {self.channel}:{self.upstream_name}"


class PriceKind(models.TextChoices):
    LIST = "list", _("Public list price")
    CONTRACT = "contract", _("Negotiated price")
    OPERATOR = "operator", _("Set by the operator")


class ModelPrice(models.Model):
    """CNY per 1M tokens for a public model name, in force from ``effective_from`` until the next row.
    ``source`` and ``source_date`` say where the figure comes from (e.g. the vendor's public price page as
    read on that date), so a statement built on it can be checked."""

    model = models.CharField(_("model"), max_length=100)
    input_per_million = models.DecimalField(
        _("input (CNY / 1M tokens)"), max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES
    )
    cached_input_per_million = models.DecimalField(
        _("cached input (CNY / 1M tokens)"), max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES
    )
    output_per_million = models.DecimalField(
        _("output (CNY / 1M tokens)"), max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES
    )
    effective_from = models.DateTimeField(_("effective from"), default=timezone.now)
    kind = models.CharField(
        _("kind of price"), max_length=12, choices=PriceKind.choices, default=PriceKind.OPERATOR
    )
    source = models.CharField(
        _("source"),
        max_length=300,
        blank=True,
        help_text=_("Where the price comes from, e.g. the vendor's price page."),
    )
    source_date = models.DateField(
        _("as of"), null=True, blank=True, help_text=_("The date the source was read (list prices change).")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("model price")
        verbose_name_plural = _("model prices")
        ordering: ClassVar = ["model", "-effective_from"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["model", "effective_from"], name="gateway_price_unique"),
            models.CheckConstraint(
                condition=Q(input_per_million__gte=0)
                & Q(cached_input_per_million__gte=0)
                & Q(output_per_million__gte=0),
                name="gateway_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} @ {self.effective_from:%Y-%m-%d}"


class VirtualKey(models.Model):
    """A member's key for the gateway. Only a SHA-256 digest is stored; the secret is shown once."""

    PREFIX = "sk-opc-"
    VISIBLE_CHARS = 12

    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.CASCADE,
        related_name="virtual_keys",
        verbose_name=_("member"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    name = models.CharField(_("name"), max_length=80)
    tag = models.CharField(_("tag"), max_length=40, blank=True, help_text=_("e.g. a project, for statements"))
    prefix = models.CharField(_("prefix"), max_length=16, db_index=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    allowed_models = models.JSONField(
        _("allowed models"), default=list, blank=True, help_text=_("Empty: every model the gateway serves.")
    )
    rpm_limit = models.PositiveIntegerField(_("requests per minute"), null=True, blank=True)
    tpm_limit = models.PositiveIntegerField(_("tokens per minute"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("virtual key")
        verbose_name_plural = _("virtual keys")
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def generate_secret(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @staticmethod
    def digest_of(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def allows(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models


class UsageStatus(models.TextChoices):
    RESERVED = "reserved", _("In flight")
    SETTLED = "settled", _("Settled")
    RELEASED = "released", _("Failed, nothing charged")


class UsageSource(models.TextChoices):
    UPSTREAM = "upstream", _("Reported by the upstream")
    ESTIMATED = "estimated", _("Estimated locally")


class Outcome(models.TextChoices):
    OK = "ok", _("Completed")
    UPSTREAM_INTERRUPTED = "upstream_interrupted", _("Upstream stopped mid-stream")
    CLIENT_DISCONNECTED = "client_disconnected", _("Client disconnected")
    UPSTREAM_ERROR = "upstream_error", _("Upstream error")
    NO_CHANNEL = "no_channel", _("No upstream channel available")
    ABANDONED = "abandoned", _("Gateway stopped before the request finished; nothing charged")


class UsageRecord(models.Model):
    """Exactly one per gateway request (``request_id`` is unique). Created with the reservation, completed by
    settlement or release; bodies are never stored, only counts and money."""

    request_id = models.CharField(_("request"), max_length=64, unique=True)
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="gateway_usage"
    )
    virtual_key = models.ForeignKey(VirtualKey, on_delete=models.PROTECT, related_name="usage")
    tag = models.CharField(_("tag"), max_length=40, blank=True)
    endpoint = models.CharField(_("endpoint"), max_length=32)
    model = models.CharField(_("model"), max_length=100)
    stream = models.BooleanField(_("streamed"), default=False)
    price = models.ForeignKey(ModelPrice, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(
        _("status"), max_length=12, choices=UsageStatus.choices, default=UsageStatus.RESERVED
    )
    outcome = models.CharField(_("outcome"), max_length=24, choices=Outcome.choices, blank=True)
    usage_source = models.CharField(_("token counts"), max_length=12, choices=UsageSource.choices, blank=True)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), default=0)
    cached_tokens = models.PositiveIntegerField(_("cached prompt tokens"), default=0)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), default=0)
    reserved = models.DecimalField(_("reserved"), max_digits=COST_DIGITS, decimal_places=COST_PLACES)
    cost = models.DecimalField(
        _("cost"), max_digits=COST_DIGITS, decimal_places=COST_PLACES, default=Decimal("0")
    )
    charged = models.DecimalField(
        _("charged to the quota"), max_digits=COST_DIGITS, decimal_places=COST_PLACES, default=Decimal("0")
    )
    uncollected = models.DecimalField(
        _("cost the quota could not cover"),
        max_digits=COST_DIGITS,
        decimal_places=COST_PLACES,
        default=Decimal("0"),
    )
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")
        ordering: ClassVar = ["-started_at"]
        indexes: ClassVar = [models.Index(fields=["organisation", "started_at"], name="gateway_usage_org")]

    def __str__(self) -> str:
        return self.request_id

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class QuotaMeter(models.Model):
    """The gateway's working balance of one member, so that a request costs one guarded UPDATE of one row to
    reserve and one to settle, instead of two ledger postings.

    Money still moves only through the ledger: a *top-up* posts the member's quota (``org-N-quota``) into the
    gateway's custody account ``org-N-quota-gateway`` and adds it to ``funded``; a *posting* moves the whole
    fen of ``unposted`` from that account to ``platform-gateway-consumed`` and takes it off ``funded`` and
    ``unposted``. Both happen in the same database transaction as the ledger posting, with this row locked,
    so ``funded`` always equals the custody account's balance.

    Between those, requests only move amounts inside the row (exact to 1/10 000 000 fen):
    ``funded = available + held + unposted`` — ``held`` is the reservations of requests in flight,
    ``unposted`` the cost of settled requests not yet posted to the ledger (its sub-fen rest stays here for
    good: the member pays what was used, in total). Reserving is
    ``UPDATE … SET available = available − x, held = held + x WHERE available >= x`` — one column compared,
    like the ledger's own guard — so concurrent requests can never overdraw; the check constraint refuses a
    negative ``available`` again at database level."""

    organisation = models.OneToOneField(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="gateway_meter"
    )
    funded = models.DecimalField(
        _("in the gateway"), max_digits=FEN_DIGITS, decimal_places=FEN_PLACES, default=Decimal("0")
    )
    available = models.DecimalField(
        _("available"), max_digits=COST_DIGITS, decimal_places=COST_PLACES, default=Decimal("0")
    )
    held = models.DecimalField(
        _("held for requests in flight"),
        max_digits=COST_DIGITS,
        decimal_places=COST_PLACES,
        default=Decimal("0"),
    )
    unposted = models.DecimalField(
        _("used, not yet posted to the ledger"),
        max_digits=COST_DIGITS,
        decimal_places=COST_PLACES,
        default=Decimal("0"),
    )
    postings = models.PositiveIntegerField(default=0, editable=False)
    posted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("quota meter")
        verbose_name_plural = _("quota meters")
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(available__gte=0) & Q(held__gte=0) & Q(unposted__gte=0) & Q(funded__gte=0),
                name="gateway_meter_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.available}"


class QuotaLease(models.Model):
    """A slice of a member's meter set aside by one gateway worker process, so that its requests reserve
    and settle in memory (``gateway.leases``) instead of with a database statement each.

    Leasing moves ``x`` from the meter's ``available`` to its ``held`` (one guarded UPDATE, like a
    reservation) and adds it to ``amount`` here; the worker's finished requests are written in batches, each
    batch taking their charges off ``amount`` and off the meter's ``held`` and adding them to ``unposted`` in
    the same statement; what the worker gives back returns to ``available``. So ``held`` = the holds of
    requests reserved in the database + the amounts of all leases, and ``funded = available + held +
    unposted`` stays exact. A worker that stops gives its leases back; one that died is found by
    ``services.release_abandoned`` (its journal replayed first, then the rest returned)."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="gateway_leases"
    )
    holder = models.CharField(_("worker"), max_length=96)
    amount = models.DecimalField(
        _("held by the worker"), max_digits=COST_DIGITS, decimal_places=COST_PLACES, default=Decimal("0")
    )
    recalled = models.BooleanField(_("recalled"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    renewed_at = models.DateTimeField(_("renewed"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("quota lease")
        verbose_name_plural = _("quota leases")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["holder", "organisation"], name="gateway_lease_one_per_worker"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="gateway_lease_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.holder}: {self.organisation_id} {self.amount}"


class UsageDaily(models.Model):
    """Usage rolled up per day, member, model and channel (``gateway.tasks.roll_up_usage``). Re-running the
    roll-up of a day replaces its rows, so it is idempotent and picks up late settlements."""

    day = models.DateField(_("day"))
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("member")
    )
    model = models.CharField(_("model"), max_length=100)
    channel = models.ForeignKey(Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    requests = models.PositiveIntegerField(_("requests"), default=0)
    failed_requests = models.PositiveIntegerField(_("failed requests"), default=0)
    estimated_requests = models.PositiveIntegerField(_("estimated requests"), default=0)
    prompt_tokens = models.BigIntegerField(_("prompt tokens"), default=0)
    cached_tokens = models.BigIntegerField(_("cached prompt tokens"), default=0)
    completion_tokens = models.BigIntegerField(_("completion tokens"), default=0)
    cost = models.DecimalField(
        _("cost"), max_digits=COST_DIGITS, decimal_places=COST_PLACES, default=Decimal("0")
    )
    charged = models.DecimalField(
        _("charged to the quota"), max_digits=COST_DIGITS, decimal_places=COST_PLACES, default=Decimal("0")
    )
    rolled_up_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        ordering: ClassVar = ["-day", "organisation_id", "model"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["day", "organisation", "model", "channel"],
                condition=Q(channel__isnull=False),
                name="gateway_usage_daily_unique",
            ),
            models.UniqueConstraint(
                fields=["day", "organisation", "model"],
                condition=Q(channel__isnull=True),
                name="gateway_usage_daily_unique_no_channel",
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["organisation", "day"], name="gateway_daily_org_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.organisation_id} {self.model}"


def new_statement_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I
    return "".join(secrets.choice(alphabet) for _ in range(12))


class ConsumptionStatement(models.Model):
    """词元额度使用证明: a member's model consumption in one calendar month, issued by its community operator
    as subsidy evidence. The figures printed on the PDF are frozen in ``facts``; the code on it can be
    checked on the public verification page."""

    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="consumption_statements",
        verbose_name=_("member"),
    )
    operator = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("issued by")
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    code = models.CharField(_("verification code"), max_length=16, unique=True, default=new_statement_code)
    facts = models.JSONField(_("facts"), default=dict)
    pdf = models.FileField(_("PDF"), upload_to="gateway-statements/%Y/%m/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("reason for revocation"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("consumption statement")
        verbose_name_plural = _("consumption statements")
        ordering: ClassVar = ["-month", "-issued_at"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["organisation", "month"],
                condition=Q(revoked_at__isnull=True),
                name="gateway_one_current_statement_per_month",
            )
        ]

    def __str__(self) -> str:
        return self.code


class ProviderInvoice(models.Model):
    """A compliant compute provider's monthly invoice to the operator for the model access its channels
    served (the seeds' "one invoice" for compute bought abroad). Reconciled against the usage recorded on
    the provider's channels in that month (``gateway.selectors.invoice_reconciliation``)."""

    provider = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="gateway_invoices_issued",
        verbose_name=_("compute provider"),
    )
    operator = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="gateway_invoices_received",
        verbose_name=_("operator"),
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month invoiced."))
    number = models.CharField(_("invoice number"), max_length=40)
    issued_on = models.DateField(_("invoice date"))
    amount = models.DecimalField(
        _("amount incl. tax (CNY)"), max_digits=FEN_DIGITS, decimal_places=FEN_PLACES
    )
    tax_amount = models.DecimalField(
        _("of which tax (CNY)"), max_digits=FEN_DIGITS, decimal_places=FEN_PLACES, default=Decimal("0.00")
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("provider invoice")
        verbose_name_plural = _("provider invoices")
        ordering: ClassVar = ["-month", "provider_id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["provider", "number"], name="gateway_invoice_number_unique"),
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(tax_amount__gte=0) & Q(tax_amount__lte=models.F("amount")),
                name="gateway_invoice_amounts_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.month:%Y-%m})"
