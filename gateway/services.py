"""Writes of the gateway: channels, prices, virtual keys, quota grants, the money side of every request, the
daily roll-up, consumption statements and provider invoices.

Money side of a request (see ``gateway.models.QuotaMeter`` for the why):

1. ``reserve``: insert the ``UsageRecord`` (unique ``request_id``) and move the highest possible cost of the
   request from the member's meter ``available`` to ``held`` with one guarded UPDATE
   (``WHERE available >= hold``), in one transaction. When the meter cannot cover it, the member's ledger
   quota is *topped up* into the gateway (one ledger posting) and the UPDATE is tried once more; then
   ``QuotaExhausted`` (HTTP 429 ``insufficient_quota``). Concurrent requests can never overdraw: the guard
   is re-evaluated against the committed row by PostgreSQL (READ COMMITTED) and SQLite serialises writers.
2. ``settle`` *or* ``release``: a conditional UPDATE of the record's status (``reserved`` → ``settled`` /
   ``released``) is the idempotency guard, then one UPDATE of the meter: the hold is freed, the exact cost
   joins ``unposted`` and the rest returns to ``available``. A repeated or concurrent settlement is a no-op
   that returns the stored record.
3. ``post_usage`` (batched, not per request): the whole fen of ``unposted`` is posted from the member's
   gateway account to ``platform-gateway-consumed`` through ``ledger.services``; the sub-fen rest stays in
   the meter, so many small requests cost exactly what they used in total.

Costs are exact to 8 decimal places; the ledger moves whole fen.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, Q, Sum
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import audit_summary, record_audit
from core.errors import Conflict, DomainError, InvalidTransition, NotPermitted
from gateway.crypto import encrypt_api_key
from gateway.errors import InvalidApiKey, QuotaExhausted
from gateway.models import (
    COST_PLACES,
    Channel,
    ChannelModel,
    ConsumptionStatement,
    ModelPrice,
    Outcome,
    PriceKind,
    Provider,
    ProviderInvoice,
    QuotaLease,
    QuotaMeter,
    UsageDaily,
    UsageRecord,
    UsageSource,
    UsageStatus,
    VirtualKey,
)
from ledger.models import Account, Purpose, Transaction
from ledger.money import FEN, exact_fen
from ledger.services import account_for, open_account, post_transaction, transfer
from organisations.capabilities import OrgKind, OrgSubkind

if TYPE_CHECKING:
    from accounts.models import User
    from organisations.models import Organisation

MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)
ZERO = Decimal(0)
CONSUMED_ACCOUNT_CODE = "platform-gateway-consumed"
CHANNEL_COOLDOWN = dt.timedelta(seconds=30)
MAX_COOLDOWN = dt.timedelta(minutes=10)
ABANDONED_AFTER = dt.timedelta(hours=1)
MAX_MODELS_PER_CHANNEL = 50


# --------------------------------------------------------------------------------------------- accounts


def quota_account(organisation: Organisation) -> Account:
    """Quota granted to the member and not yet moved into the gateway."""
    return account_for(owner=organisation, purpose=Purpose.QUOTA)


def gateway_account_code(organisation_id: int) -> str:
    return f"org-{organisation_id}-quota-gateway"


def gateway_account(organisation: Organisation) -> Account:
    """The member's quota in the gateway's custody (its balance is ``QuotaMeter.funded``)."""
    return open_account(
        owner=organisation,
        purpose=Purpose.QUOTA,
        code=gateway_account_code(organisation.pk),
        name=f"{organisation.name} · token quota in the gateway",
    )


def consumed_account() -> Account:
    return open_account(
        owner=None, purpose=Purpose.QUOTA, code=CONSUMED_ACCOUNT_CODE, name="Token quota consumed (gateway)"
    )


def _round(field: str, delta: Decimal) -> Round:
    """``field + delta`` rounded to 8 places in SQL (exact on PostgreSQL; keeps SQLite's binary floating
    point at the nearest double of an exact value, like the ledger's balances)."""
    return Round(F(field) + delta, COST_PLACES)


def hotcache_changed(key_digest: str | None = None) -> None:
    """Drop this process's cached routes and prices (or one key) after a change, so the console's own
    process applies it at once; other processes follow within the caches' TTLs (``gateway.hotcache``)."""
    from gateway import hotcache

    if key_digest is not None:
        hotcache.keys.forget(key_digest)
        return
    hotcache.routes.clear()
    hotcache.prices.clear()


# --------------------------------------------------------------------------------------------- channels


def _require_channel_manager(owner: Organisation) -> None:
    is_compute = owner.kind == OrgKind.PROVIDER and owner.subkind == OrgSubkind.COMPUTE
    if owner.kind != OrgKind.OPERATOR and not is_compute:
        raise NotPermitted(_("Only an operator or a compliant compute provider manages upstream channels."))


def _clean_channel_values(
    *, name: str, base_url: str, weight: int, priority: int, connect_timeout: float, read_timeout: float
) -> tuple[str, str]:
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Give the channel a name."))
    base_url = (base_url or "").strip()
    if not base_url.startswith(("https://", "http://")):
        raise DomainError(_("The base URL must start with https:// or http://."))
    if weight < 1 or weight > 1000:
        raise DomainError(_("The weight must be between 1 and 1000."))
    if not -1000 <= priority <= 1000:
        raise DomainError(_("The priority must be between -1000 and 1000."))
    if not (0 < connect_timeout <= 60) or not (0 < read_timeout <= 600):
        raise DomainError(
            _("Timeouts must be positive: at most 60 s to connect and 600 s between two reads.")
        )
    return name[:80], base_url.rstrip("/")[:300]


def clean_model_mapping(models: dict[str, str] | list[str]) -> dict[str, str]:
    """``{public name: upstream name}`` with names checked (no spaces, at most 100 characters)."""
    mapping = models if isinstance(models, dict) else {name: name for name in models}
    cleaned: dict[str, str] = {}
    for public, upstream in mapping.items():
        public, upstream = str(public).strip(), str(upstream or public).strip()
        for value in (public, upstream):
            if not value or len(value) > 100 or any(ch.isspace() for ch in value):
                raise DomainError(
                    _("“%(name)s” is not a valid model name (no spaces, at most 100 characters).")
                    % {"name": value[:100]}
                )
        cleaned[public] = upstream
    if not cleaned:
        raise DomainError(_("A channel must serve at least one model."))
    if len(cleaned) > MAX_MODELS_PER_CHANNEL:
        raise DomainError(_("A channel may serve at most %(n)d models.") % {"n": MAX_MODELS_PER_CHANNEL})
    return cleaned


def create_channel(
    *,
    owner: Organisation,
    name: str,
    base_url: str,
    api_key: str,
    models: dict[str, str] | list[str],
    provider: str = Provider.OPENAI_COMPATIBLE,
    priority: int = 0,
    weight: int = 1,
    connect_timeout: float = 5.0,
    read_timeout: float = 120.0,
    max_output_tokens: int = 4096,
    actor: User | None = None,
) -> Channel:
    """An upstream channel and the models it serves (``{public name: upstream name}``, or a list when the
    names are the same). The API key is encrypted at once and never returned."""
    _require_channel_manager(owner)
    if not (api_key or "").strip():
        raise DomainError(_("The channel needs an API key."))
    if provider not in Provider.values:
        raise DomainError(_("Unknown provider."))
    name, base_url = _clean_channel_values(
        name=name,
        base_url=base_url,
        weight=weight,
        priority=priority,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    mapping = clean_model_mapping(models)
    if not 1 <= max_output_tokens <= 1_000_000:
        raise DomainError(_("The default max output tokens must be between 1 and 1,000,000."))
    with transaction.atomic():
        channel = Channel.objects.create(
            owner=owner,
            name=name,
            provider=provider,
            base_url=base_url,
            api_key_encrypted=encrypt_api_key(api_key.strip()),
            api_key_hint=f"…{api_key.strip()[-4:]}",
            priority=priority,
            weight=weight,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        ChannelModel.objects.bulk_create(
            [
                ChannelModel(
                    channel=channel,
                    public_name=public,
                    upstream_name=upstream,
                    max_output_tokens=max_output_tokens,
                )
                for public, upstream in mapping.items()
            ]
        )
        record_audit(
            action="gateway.channel_created",
            actor=actor,
            organisation=owner,
            target=channel,
            summary=audit_summary(gettext_noop("Added upstream channel %(name)s"), {"name": name}),
            changes={"base_url": channel.base_url, "models": mapping, "priority": priority, "weight": weight},
        )
    transaction.on_commit(hotcache_changed)
    return channel


def update_channel(
    *,
    channel: Channel,
    actor: User | None,
    name: str,
    base_url: str,
    provider: str,
    priority: int,
    weight: int,
    connect_timeout: float,
    read_timeout: float,
    is_enabled: bool,
    models: dict[str, str],
    max_output_tokens: int,
    api_key: str = "",
) -> Channel:
    """Change a channel. ``api_key`` replaces the stored key when given (blank keeps it); ``models`` is the
    complete new mapping (models left out stop being served by this channel)."""
    _require_channel_manager(channel.owner)
    if provider not in Provider.values:
        raise DomainError(_("Unknown provider."))
    name, base_url = _clean_channel_values(
        name=name,
        base_url=base_url,
        weight=weight,
        priority=priority,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    mapping = clean_model_mapping(models)
    if not 1 <= max_output_tokens <= 1_000_000:
        raise DomainError(_("The default max output tokens must be between 1 and 1,000,000."))
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        before = {
            "name": locked.name,
            "base_url": locked.base_url,
            "priority": locked.priority,
            "weight": locked.weight,
            "is_enabled": locked.is_enabled,
        }
        locked.name, locked.base_url, locked.provider = name, base_url, provider
        locked.priority, locked.weight = priority, weight
        locked.connect_timeout, locked.read_timeout = connect_timeout, read_timeout
        locked.is_enabled = is_enabled
        key_changed = bool((api_key or "").strip())
        if key_changed:
            locked.api_key_encrypted = encrypt_api_key(api_key.strip())
            locked.api_key_hint = f"…{api_key.strip()[-4:]}"
        if is_enabled and not before["is_enabled"]:
            locked.cooldown_until, locked.consecutive_failures = None, 0
        locked.save()
        existing = {cm.public_name: cm for cm in ChannelModel.objects.filter(channel=locked)}
        ChannelModel.objects.filter(channel=locked).exclude(public_name__in=list(mapping)).delete()
        for public, upstream in mapping.items():
            current = existing.get(public)
            if current is None:
                ChannelModel.objects.create(
                    channel=locked,
                    public_name=public,
                    upstream_name=upstream,
                    max_output_tokens=max_output_tokens,
                )
            elif current.upstream_name != upstream or current.max_output_tokens != max_output_tokens:
                current.upstream_name, current.max_output_tokens = upstream, max_output_tokens
                current.save(update_fields=["upstream_name", "max_output_tokens"])
        record_audit(
            action="gateway.channel_updated",
            actor=actor,
            organisation=locked.owner,
            target=locked,
            summary=audit_summary(gettext_noop("Changed upstream channel %(name)s"), {"name": name}),
            changes={
                "before": before,
                "after": {
                    "name": name,
                    "base_url": base_url,
                    "priority": priority,
                    "weight": weight,
                    "is_enabled": is_enabled,
                },
                "models": mapping,
                "api_key_replaced": key_changed,
            },
        )
    transaction.on_commit(hotcache_changed)
    return locked


def delete_channel(*, channel: Channel, actor: User | None) -> None:
    """Remove a channel that never served a request; one that did is kept for the usage and invoices that
    refer to it (disable it instead)."""
    _require_channel_manager(channel.owner)
    with transaction.atomic():
        used = (
            UsageRecord.objects.filter(channel=channel).exists()
            or UsageDaily.objects.filter(channel=channel).exists()
        )
        if used:
            raise Conflict(
                _("This channel has served requests; its usage refers to it. Disable it instead of deleting.")
            )
        record_audit(
            action="gateway.channel_deleted",
            actor=actor,
            organisation=channel.owner,
            target=channel,
            summary=audit_summary(gettext_noop("Removed upstream channel %(name)s"), {"name": channel.name}),
        )
        channel.delete()
    transaction.on_commit(hotcache_changed)


def record_channel_failure(*, channel_id: int, retry_after: float | None = None) -> None:
    """Cool the channel down: 30 s, doubling with consecutive failures up to 10 minutes, or the upstream's
    Retry-After when it gave one."""
    channel = Channel.objects.filter(pk=channel_id).only("consecutive_failures").first()
    if channel is None:
        return
    failures = channel.consecutive_failures + 1
    pause = CHANNEL_COOLDOWN * (2 ** min(failures - 1, 5))
    if retry_after is not None:
        pause = dt.timedelta(seconds=retry_after)
    pause = min(pause, MAX_COOLDOWN)
    Channel.objects.filter(pk=channel_id).update(
        consecutive_failures=failures, cooldown_until=timezone.now() + pause
    )


def record_channel_success(*, channel_id: int) -> None:
    Channel.objects.filter(pk=channel_id).filter(
        Q(consecutive_failures__gt=0) | Q(cooldown_until__isnull=False)
    ).update(consecutive_failures=0, cooldown_until=None)


# --------------------------------------------------------------------------------------------- prices


def set_model_price(
    *,
    model: str,
    input_per_million: Decimal,
    output_per_million: Decimal,
    cached_input_per_million: Decimal | None = None,
    effective_from: dt.datetime | None = None,
    kind: str = PriceKind.OPERATOR,
    source: str = "",
    source_date: dt.date | None = None,
    actor: User | None = None,
) -> ModelPrice:
    """A new price row (prices are never edited: the old one stays for the requests it priced)."""
    model = (model or "").strip()
    if not model or len(model) > 100 or any(ch.isspace() for ch in model):
        raise DomainError(_("Give the model's public name (no spaces, at most 100 characters)."))
    values = [input_per_million, output_per_million]
    if cached_input_per_million is not None:
        values.append(cached_input_per_million)
    if any(not isinstance(v, Decimal) or not v.is_finite() or v < 0 for v in values):
        raise DomainError(_("Prices must be non-negative decimal amounts."))
    if any(v >= Decimal("100000000") or v != v.quantize(Decimal("0.0001")) for v in values):
        raise DomainError(_("Prices per 1M tokens must be below ¥100,000,000 with at most 4 decimal places."))
    if kind not in PriceKind.values:
        raise DomainError(_("Unknown kind of price."))
    if kind == PriceKind.LIST and not (source.strip() and source_date):
        raise DomainError(_("A public list price needs its source and the date it was read."))
    effective = effective_from or timezone.now()
    with transaction.atomic():
        if ModelPrice.objects.filter(model=model, effective_from=effective).exists():
            raise Conflict(_("%(model)s already has a price from that moment.") % {"model": model})
        price = ModelPrice.objects.create(
            model=model,
            input_per_million=input_per_million,
            cached_input_per_million=cached_input_per_million
            if cached_input_per_million is not None
            else input_per_million,
            output_per_million=output_per_million,
            effective_from=effective,
            kind=kind,
            source=source.strip()[:300],
            source_date=source_date,
            created_by=actor if actor is not None and actor.is_authenticated else None,
        )
        record_audit(
            action="gateway.price_set",
            actor=actor,
            organisation=None,
            target=price,
            summary=audit_summary(gettext_noop("Set the price of %(model)s"), {"model": model}),
            changes={
                "input": input_per_million,
                "cached_input": price.cached_input_per_million,
                "output": output_per_million,
                "effective_from": price.effective_from,
                "kind": kind,
                "source": price.source,
                "source_date": source_date,
            },
        )
    transaction.on_commit(hotcache_changed)
    return price


def price_in_force(model: str, at: dt.datetime | None = None) -> ModelPrice | None:
    return (
        ModelPrice.objects.filter(model=model, effective_from__lte=at or timezone.now())
        .order_by("-effective_from")
        .first()
    )


def cost_of(
    price: ModelPrice, *, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
) -> Decimal:
    """Exact cost in CNY (8 decimal places) of the tokens at ``price``."""
    cached = min(max(cached_tokens, 0), prompt_tokens)
    total = (
        Decimal(prompt_tokens - cached) * price.input_per_million
        + Decimal(cached) * price.cached_input_per_million
        + Decimal(completion_tokens) * price.output_per_million
    ) / MILLION
    return total.quantize(COST_QUANTUM, rounding=ROUND_CEILING)


def reservation_for(max_cost: Decimal) -> Decimal:
    """What to hold for a request that may cost up to ``max_cost`` (exact: the meter counts to 8 places)."""
    return max(max_cost, ZERO).quantize(COST_QUANTUM, rounding=ROUND_CEILING)


# --------------------------------------------------------------------------------------------- virtual keys


def issue_virtual_key(
    *,
    organisation: Organisation,
    name: str,
    actor: User | None = None,
    allowed_models: list[str] | None = None,
    expires_at: dt.datetime | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    tag: str = "",
    secret: str | None = None,
) -> tuple[VirtualKey, str]:
    """A new key for the member; returns it with the secret, which is not stored and cannot be shown
    again. ``secret`` is for the demo data only (a key the demo can print); normally it is generated."""
    if secret is not None and (not secret.startswith(VirtualKey.PREFIX) or len(secret) < 24):
        raise DomainError(_("A key must start with %(prefix)s.") % {"prefix": VirtualKey.PREFIX})
    if not name.strip():
        raise DomainError(_("Give the key a name."))
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(_("The expiry must be in the future."))
    for limit in (rpm_limit, tpm_limit):
        if limit is not None and not 1 <= limit <= 100_000_000:
            raise DomainError(_("Limits must be positive whole numbers."))
    models = sorted({m.strip() for m in allowed_models or [] if m.strip()})
    if any(len(m) > 100 or any(ch.isspace() for ch in m) for m in models):
        raise DomainError(_("Model names contain no spaces and have at most 100 characters."))
    secret = secret or VirtualKey.generate_secret()
    with transaction.atomic():
        key = VirtualKey.objects.create(
            organisation=organisation,
            created_by=actor if actor is not None and actor.is_authenticated else None,
            name=name.strip()[:80],
            tag=tag.strip()[:40],
            prefix=secret[: VirtualKey.VISIBLE_CHARS],
            digest=VirtualKey.digest_of(secret),
            allowed_models=models,
            rpm_limit=rpm_limit,
            tpm_limit=tpm_limit,
            expires_at=expires_at,
        )
        record_audit(
            action="gateway.key_issued",
            actor=actor,
            organisation=organisation,
            target=key,
            summary=audit_summary(gettext_noop("Issued gateway key %(name)s"), {"name": key.name}),
            changes={
                "prefix": key.prefix,
                "allowed_models": key.allowed_models,
                "expires_at": expires_at,
                "rpm_limit": rpm_limit,
                "tpm_limit": tpm_limit,
                "tag": key.tag,
            },
        )
    return key, secret


def revoke_virtual_key(*, key: VirtualKey, actor: User | None = None) -> VirtualKey:
    with transaction.atomic():
        updated = VirtualKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        key.refresh_from_db()
        if updated:
            record_audit(
                action="gateway.key_revoked",
                actor=actor,
                organisation=key.organisation,
                target=key,
                summary=audit_summary(gettext_noop("Revoked gateway key %(name)s"), {"name": key.name}),
            )
    hotcache_changed(key_digest=key.digest)  # now (safe: dropping a cache entry) and once committed
    from gateway import leases

    leases.forget_key(key.pk)  # no more requests from this process's leases (others: within a poll)
    transaction.on_commit(lambda: hotcache_changed(key_digest=key.digest))
    return key


def authenticate_key(secret: str) -> VirtualKey | None:
    """The key for ``secret`` whatever its state (the caller checks revocation and expiry), or None."""
    if not secret.startswith(VirtualKey.PREFIX):
        return None
    return (
        VirtualKey.objects.select_related("organisation").filter(digest=VirtualKey.digest_of(secret)).first()
    )


def touch_key(key_id: int) -> None:
    """``last_used_at`` at most once a minute per key (not a write per request)."""
    now = timezone.now()
    VirtualKey.objects.filter(pk=key_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - dt.timedelta(minutes=1))
    ).update(last_used_at=now)


# --------------------------------------------------------------------------------------------- quota


def grant_quota(
    *,
    operator: Organisation,
    member: Organisation,
    amount: Decimal,
    idempotency_key: str,
    actor: User | None = None,
    memo: str = "",
) -> Transaction:
    """Move ``amount`` from the operator's funding pool into the member's quota (a guarded ledger transfer: a
    pool cannot grant more than it holds). ``idempotency_key`` makes a repeated grant take effect once."""
    if operator.kind != OrgKind.OPERATOR:
        raise NotPermitted(_("Only a community operator grants token quotas."))
    community = member.home_community
    if community is None or community.operator_id != operator.pk:
        raise NotPermitted(_("This organisation is not a member of your communities."))
    value = exact_fen(amount)
    if value <= 0:
        raise DomainError(_("A quota grant must be positive."))
    with transaction.atomic():
        txn = transfer(
            idempotency_key=f"gateway:grant:{idempotency_key}",
            source=account_for(owner=operator, purpose=Purpose.FUNDING_POOL),
            destination=quota_account(member),
            amount=value,
            kind="gateway.quota_grant",
            memo=memo[:500],
            reference=f"organisation:{member.pk}",
            actor=actor,
        )
    return txn


def _meter(organisation_id: int) -> QuotaMeter:
    meter, _created = QuotaMeter.objects.get_or_create(organisation_id=organisation_id)
    return meter


def top_up(*, organisation: Organisation) -> Decimal:
    """Move the member's whole ledger quota into the gateway (one posting) and make it available to
    requests. Returns the amount moved (0 when there was nothing)."""
    quota = quota_account(organisation)
    if quota.balance <= 0:  # a cheap look first; the posting below is guarded anyway
        return Decimal("0.00")
    _meter(organisation.pk)
    custody = gateway_account(organisation)
    with transaction.atomic():
        meter = QuotaMeter.objects.select_for_update().get(organisation_id=organisation.pk)
        amount = Account.objects.values_list("balance", flat=True).get(pk=quota.pk)
        if amount <= 0:
            return Decimal("0.00")
        sequence = meter.postings + 1
        post_transaction(
            idempotency_key=f"gateway:top-up:{organisation.pk}:{sequence}",
            entries=[(quota, -amount), (custody, amount)],
            kind="gateway.top_up",
            reference=f"organisation:{organisation.pk}",
        )
        QuotaMeter.objects.filter(pk=meter.pk).update(
            funded=F("funded") + amount, available=_round("available", amount), postings=sequence
        )
    return amount


def post_usage(*, organisation_id: int) -> Decimal:
    """Post the whole fen of the member's settled, not yet posted usage to the ledger (gateway account →
    platform consumed). Returns the amount posted."""
    with transaction.atomic():
        meter = (
            QuotaMeter.objects.select_for_update()
            .select_related("organisation")
            .filter(organisation_id=organisation_id)
            .first()
        )
        if meter is None:
            return Decimal("0.00")
        amount = meter.unposted.quantize(FEN, rounding=ROUND_DOWN)
        if amount <= 0:
            return Decimal("0.00")
        sequence = meter.postings + 1
        post_transaction(
            idempotency_key=f"gateway:usage:{organisation_id}:{sequence}",
            entries=[(gateway_account(meter.organisation), -amount), (consumed_account(), amount)],
            kind="gateway.usage_posted",
            reference=f"organisation:{organisation_id}",
        )
        QuotaMeter.objects.filter(pk=meter.pk).update(
            funded=F("funded") - amount,
            unposted=_round("unposted", -amount),
            postings=sequence,
            posted_at=timezone.now(),
        )
    return amount


def post_all_usage() -> Decimal:
    """``post_usage`` for every member with at least a fen unposted (run by the gateway server every few
    seconds and by ``gateway.tasks.post_usage``)."""
    total = Decimal("0.00")
    for organisation_id in QuotaMeter.objects.filter(unposted__gte=FEN).values_list(
        "organisation_id", flat=True
    ):
        total += post_usage(organisation_id=organisation_id)
    return total


def quota_balance(organisation: Organisation) -> Decimal:
    """What the member can still spend: the ledger quota not yet moved plus what is available in the
    gateway, including what its workers hold in leases for the member's next requests (``gateway.leases``;
    requests reserved in the database and used amounts excluded). Exact to 8 places whenever no request
    is in flight."""
    meter = QuotaMeter.objects.filter(organisation=organisation).values_list("available", flat=True).first()
    leased = QuotaLease.objects.filter(organisation=organisation).aggregate(total=Sum("amount"))["total"]
    return quota_account(organisation).balance + (meter or ZERO) + (leased or ZERO)


# --------------------------------------------------------------------------------------------- requests


class _MeterShort(Exception):
    pass


def _hold(organisation_id: int, amount: Decimal, key_id: int) -> bool:
    """The guarded UPDATE: hold ``amount`` if it is available *and* the key is still usable (so a revoked
    key is refused at once even where the key itself was read from a cache)."""
    usable_key = VirtualKey.objects.filter(pk=key_id, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    return bool(
        QuotaMeter.objects.filter(organisation_id=organisation_id, available__gte=amount)
        .filter(Exists(usable_key))
        .update(available=_round("available", -amount), held=_round("held", amount))
    )


def _check_key_usable(key_id: int) -> None:
    state = VirtualKey.objects.filter(pk=key_id).values("revoked_at", "expires_at").first()
    if state is None or state["revoked_at"] is not None:
        raise InvalidApiKey(_("This API key has been revoked."))
    if state["expires_at"] is not None and state["expires_at"] <= timezone.now():
        raise InvalidApiKey(_("This API key has expired."))


def reserve(
    *,
    request_id: str,
    key: VirtualKey,
    endpoint: str,
    model: str,
    stream: bool,
    price: ModelPrice,
    max_cost: Decimal,
) -> UsageRecord:
    """Hold the highest possible cost of a request and create its usage record, or raise
    ``QuotaExhausted`` (``InvalidApiKey`` when the key was revoked or expired meanwhile). Calling it again
    for the same request id returns the existing record."""
    amount = reservation_for(max_cost)
    for attempt in range(2):
        try:
            with transaction.atomic():
                record = UsageRecord.objects.create(
                    request_id=request_id,
                    organisation_id=key.organisation_id,
                    virtual_key=key,
                    tag=key.tag,
                    endpoint=endpoint,
                    model=model,
                    stream=stream,
                    price=price,
                    reserved=amount,
                )
                if not _hold(key.organisation_id, amount, key.pk):
                    raise _MeterShort
            return record
        except IntegrityError:
            existing = UsageRecord.objects.filter(request_id=request_id).first()
            if existing is None:
                raise
            return existing
        except _MeterShort:
            _check_key_usable(key.pk)
            if attempt:
                break
            # Move any new quota into the gateway, then try once more — also when this top-up moved
            # nothing: a concurrent request may just have topped up for everyone.
            top_up(organisation=key.organisation)
    raise QuotaExhausted()


def settle(
    *,
    request_id: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    source: str = UsageSource.UPSTREAM,
    outcome: str = Outcome.OK,
    channel_id: int | None = None,
    upstream_status: int | None = None,
    attempts: int = 0,
    record: UsageRecord | None = None,
) -> UsageRecord:
    """Charge the request's actual cost and free the rest of its hold. Idempotent per request id. ``record``
    (the one ``reserve`` returned) saves reading it again."""
    return _finish(
        request_id=request_id,
        record=record,
        status=UsageStatus.SETTLED,
        prompt_tokens=max(prompt_tokens, 0),
        completion_tokens=max(completion_tokens, 0),
        cached_tokens=max(cached_tokens, 0),
        source=source,
        outcome=outcome,
        channel_id=channel_id,
        upstream_status=upstream_status,
        attempts=attempts,
    )


def release(
    *,
    request_id: str,
    outcome: str,
    channel_id: int | None = None,
    upstream_status: int | None = None,
    attempts: int = 0,
    record: UsageRecord | None = None,
) -> UsageRecord:
    """Free a request's whole hold (nothing reached the member). Idempotent per request id."""
    return _finish(
        request_id=request_id,
        record=record,
        status=UsageStatus.RELEASED,
        prompt_tokens=0,
        completion_tokens=0,
        cached_tokens=0,
        source="",
        outcome=outcome,
        channel_id=channel_id,
        upstream_status=upstream_status,
        attempts=attempts,
    )


def _finish(
    *,
    request_id: str,
    record: UsageRecord | None,
    status: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    source: str,
    outcome: str,
    channel_id: int | None,
    upstream_status: int | None,
    attempts: int,
) -> UsageRecord:
    if record is None or record.request_id != request_id:
        record = UsageRecord.objects.select_related("price").get(request_id=request_id)
    cost = ZERO
    if status == UsageStatus.SETTLED:
        cost = cost_of(
            record.price,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=cached_tokens,
        )
    values: dict[str, Any] = {
        "status": status,
        "finished_at": timezone.now(),
        "outcome": outcome,
        "usage_source": source,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cached_tokens": min(cached_tokens, prompt_tokens),
        "cost": cost,
        "charged": cost,
        "uncollected": ZERO,
        "channel_id": channel_id,
        "upstream_status": upstream_status,
        "attempts": attempts,
    }
    held = record.reserved
    organisation_id = record.organisation_id
    with transaction.atomic():
        # The guard: only the first settlement of a request moves money; any other returns the record.
        won = UsageRecord.objects.filter(pk=record.pk, status=UsageStatus.RESERVED).update(**values)
        if won:
            charged = _charge(organisation_id=organisation_id, held=held, cost=cost)
            if charged != cost:
                values["charged"], values["uncollected"] = charged, cost - charged
                UsageRecord.objects.filter(pk=record.pk).update(
                    charged=charged, uncollected=values["uncollected"]
                )
    if not won:
        return UsageRecord.objects.select_related("price").get(pk=record.pk)
    for name, value in values.items():
        setattr(record, name, value)
    return record


def _charge(*, organisation_id: int, held: Decimal, cost: Decimal) -> Decimal:
    """Free ``held`` and charge ``cost`` on the meter; returns what could be charged. A cost above the hold
    (our estimate was low) takes the difference from what is available, topping up from the ledger quota
    if needed; what even that cannot cover is left uncollected (the operator absorbs it, the record says
    how much)."""
    meter = QuotaMeter.objects.filter(organisation_id=organisation_id)
    if cost <= held:
        meter.update(
            held=_round("held", -held),
            unposted=_round("unposted", cost),
            available=_round("available", held - cost),
        )
        return cost
    extra = cost - held
    for attempt in range(2):
        if meter.filter(available__gte=extra).update(
            held=_round("held", -held),
            unposted=_round("unposted", cost),
            available=_round("available", -extra),
        ):
            return cost
        if attempt == 0:
            from organisations.models import Organisation

            organisation = Organisation.objects.get(pk=organisation_id)
            with transaction.atomic():
                top_up(organisation=organisation)
    locked = QuotaMeter.objects.select_for_update().get(organisation_id=organisation_id)
    take = min(locked.available, extra)
    QuotaMeter.objects.filter(pk=locked.pk).update(
        held=_round("held", -held),
        unposted=_round("unposted", held + take),
        available=_round("available", -take),
    )
    return held + take


def release_abandoned(*, older_than: dt.timedelta = ABANDONED_AFTER) -> int:
    """Release the holds of requests still "in flight" long after any upstream would have answered: the
    gateway process serving them stopped (crash, kill -9). The member is not charged; the record says
    ``abandoned``. Returns how many were released (with those found in dead workers' journals)."""
    from gateway import leases

    # Dead workers' journals first: their finished requests recorded, the ones cut off recorded as
    # abandoned (nothing charged), their leases returned.
    released = leases.recover_dead_workers()
    cutoff = timezone.now() - older_than
    stale = UsageRecord.objects.select_related("price").filter(
        status=UsageStatus.RESERVED, started_at__lt=cutoff
    )
    for record in stale.iterator():
        result = release(request_id=record.request_id, outcome=Outcome.ABANDONED, record=record)
        released += result.outcome == Outcome.ABANDONED
    return released


# --------------------------------------------------------------------------------------------- daily roll-up


def local_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of ``day`` in the platform's time zone."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))
    return start, end


def roll_up_usage(*, day: dt.date) -> int:
    """Replace the ``UsageDaily`` rows of ``day`` with fresh totals of its finished requests (idempotent:
    running it again gives the same rows, including late settlements). Returns the number of rows."""
    start, end = local_day_bounds(day)
    groups = (
        UsageRecord.objects.filter(started_at__gte=start, started_at__lt=end)
        .exclude(status=UsageStatus.RESERVED)
        .values("organisation_id", "model", "channel_id")
        .annotate(
            requests=Count("id", filter=Q(status=UsageStatus.SETTLED)),
            failed=Count("id", filter=Q(status=UsageStatus.RELEASED)),
            estimated=Count("id", filter=Q(usage_source=UsageSource.ESTIMATED)),
            prompt=Sum("prompt_tokens"),
            cached=Sum("cached_tokens"),
            completion=Sum("completion_tokens"),
            cost_sum=Sum("cost"),
            charged_sum=Sum("charged"),
        )
        .order_by()
    )
    now = timezone.now()
    rows = [
        UsageDaily(
            day=day,
            organisation_id=g["organisation_id"],
            model=g["model"],
            channel_id=g["channel_id"],
            requests=g["requests"],
            failed_requests=g["failed"],
            estimated_requests=g["estimated"],
            prompt_tokens=g["prompt"] or 0,
            cached_tokens=g["cached"] or 0,
            completion_tokens=g["completion"] or 0,
            cost=(g["cost_sum"] or ZERO).quantize(COST_QUANTUM),
            charged=(g["charged_sum"] or ZERO).quantize(COST_QUANTUM),
            rolled_up_at=now,
        )
        for g in groups
    ]
    with transaction.atomic():
        UsageDaily.objects.filter(day=day).delete()
        UsageDaily.objects.bulk_create(rows)
    return len(rows)


def roll_up_recent(*, days: int = 2, today: dt.date | None = None) -> int:
    """Roll up today and the ``days - 1`` days before (late settlements land within a day)."""
    today = today or timezone.localdate()
    return sum(roll_up_usage(day=today - dt.timedelta(days=n)) for n in range(days))


# --------------------------------------------------------------------------------------------- statements


def month_start(value: dt.date) -> dt.date:
    return value.replace(day=1)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    first = month_start(month)
    last_day = calendar.monthrange(first.year, first.month)[1]
    start, _end = local_day_bounds(first)
    _start, end = local_day_bounds(first.replace(day=last_day))
    return start, end


def _require_member_of(operator: Organisation, member: Organisation) -> None:
    if operator.kind != OrgKind.OPERATOR:
        raise NotPermitted(_("Only a community operator issues consumption statements."))
    community = member.home_community
    if community is None or community.operator_id != operator.pk:
        raise NotPermitted(_("This organisation is not a member of your communities."))


def issue_consumption_statement(
    *, operator: Organisation, member: Organisation, month: dt.date, actor: User
) -> ConsumptionStatement:
    """词元额度使用证明 for one member and one finished month: freeze the figures (per model, per channel
    provider, quota granted), render the PDF, store it with its SHA-256. The verification code on it can be
    checked on the public page. One current statement per member and month (revoke to re-issue)."""
    from gateway import selectors
    from gateway.pdf import render_statement_pdf

    _require_member_of(operator, member)
    first = month_start(month)
    if first >= month_start(timezone.localdate()):
        raise DomainError(_("Statements are issued for finished months only."))
    with transaction.atomic():
        if ConsumptionStatement.objects.filter(
            organisation=member, month=first, revoked_at__isnull=True
        ).exists():
            raise Conflict(_("A statement for this month already exists; revoke it to issue a new one."))
        statement = ConsumptionStatement(
            organisation=member, operator=operator, month=first, issued_at=timezone.now(), issued_by=actor
        )
        while ConsumptionStatement.objects.filter(code=statement.code).exists():  # pragma: no cover
            statement.code = ConsumptionStatement._meta.get_field("code").get_default()
        statement.facts = selectors.statement_facts(member=member, operator=operator, month=first)
        pdf_bytes = render_statement_pdf(statement)
        statement.pdf_sha256 = hashlib.sha256(pdf_bytes).hexdigest()
        statement.pdf.save(f"consumption-{statement.code}.pdf", ContentFile(pdf_bytes), save=False)
        statement.save()
        record_audit(
            action="gateway.statement_issued",
            actor=actor,
            organisation=operator,
            target=statement,
            summary=audit_summary(
                gettext_noop("Consumption statement %(code)s issued for %(org)s, %(month)s"),
                {"code": statement.code, "org": member.name, "month": f"{first:%Y-%m}"},
            ),
            changes={"member": member.pk, "month": first, "pdf_sha256": statement.pdf_sha256},
        )
    return statement


def revoke_consumption_statement(
    *, statement: ConsumptionStatement, reason: str, actor: User
) -> ConsumptionStatement:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give a reason for revoking the statement."))
    with transaction.atomic():
        locked = ConsumptionStatement.objects.select_for_update().get(pk=statement.pk)
        if locked.revoked_at is not None:
            raise InvalidTransition(_("This statement has already been revoked."))
        locked.revoked_at = timezone.now()
        locked.revoked_reason = reason[:300]
        locked.save(update_fields=["revoked_at", "revoked_reason"])
        record_audit(
            action="gateway.statement_revoked",
            actor=actor,
            organisation=locked.operator,
            target=locked,
            summary=reason[:300],
            changes={"revoked_at": [None, locked.revoked_at]},
        )
    return locked


# --------------------------------------------------------------------------------------------- invoices


def record_provider_invoice(
    *,
    operator: Organisation,
    provider: Organisation,
    month: dt.date,
    number: str,
    issued_on: dt.date,
    amount: Decimal,
    tax_amount: Decimal = Decimal("0.00"),
    note: str = "",
    actor: User,
) -> ProviderInvoice:
    """Record a compute provider's monthly invoice to the operator (the one invoice for model access,
    reconciled against the usage of the provider's channels: ``selectors.invoice_reconciliation``)."""
    if operator.kind != OrgKind.OPERATOR:
        raise NotPermitted(_("Only a community operator records provider invoices."))
    if provider.kind != OrgKind.PROVIDER or provider.subkind != OrgSubkind.COMPUTE:
        raise DomainError(_("Invoices are recorded for compliant compute providers only."))
    number = (number or "").strip()
    if not number or len(number) > 40:
        raise DomainError(_("Give the invoice number (at most 40 characters)."))
    value, tax = exact_fen(amount), exact_fen(tax_amount)
    if value < 0 or tax < 0 or tax > value:
        raise DomainError(_("The amount must be positive and the tax part cannot exceed it."))
    if issued_on > timezone.localdate():
        raise DomainError(_("The invoice date cannot be in the future."))
    first = month_start(month)
    with transaction.atomic():
        if ProviderInvoice.objects.filter(provider=provider, number=number).exists():
            raise Conflict(_("This provider's invoice %(number)s is already recorded.") % {"number": number})
        invoice = ProviderInvoice.objects.create(
            provider=provider,
            operator=operator,
            month=first,
            number=number,
            issued_on=issued_on,
            amount=value,
            tax_amount=tax,
            note=(note or "").strip()[:300],
            recorded_by=actor,
        )
        record_audit(
            action="gateway.invoice_recorded",
            actor=actor,
            organisation=operator,
            target=invoice,
            summary=audit_summary(
                gettext_noop("Recorded invoice %(number)s of %(provider)s for %(month)s"),
                {"number": number, "provider": provider.name, "month": f"{first:%Y-%m}"},
            ),
            changes={"amount": value, "tax_amount": tax, "issued_on": issued_on},
        )
    return invoice
