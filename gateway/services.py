"""Writes of the gateway: channels, prices, virtual keys, quota grants, and the money side of every request.

The money side of a request is three ledger postings at most, all through ``ledger.services`` (guarded
conditional UPDATEs, idempotency keys derived from the request id):

1. ``reserve``: ``org-N-quota → org-N-quota-reserved``, the highest possible cost of the request rounded up
   to the fen plus one fen (for the sub-fen carry, below). It is the ledger's guarded posting, so concurrent
   requests can never reserve more than the quota holds: the one that would overdraw gets
   ``InsufficientFunds`` → ``QuotaExhausted`` (HTTP 429 ``insufficient_quota``). The ``UsageRecord`` (unique
   ``request_id``) is created in the same transaction, so a record exists exactly when a hold does.
2. ``settle`` *or* ``release`` (one posting, key ``gateway:settle:<request id>``): the hold is emptied — the
   charge to ``platform-gateway-consumed``, the rest back to the quota. A conditional UPDATE of the record's
   status (``reserved`` → ``settled``/``released``) in the same transaction makes a repeated or concurrent
   settlement a no-op that returns the stored record.

Costs are computed exactly (8 decimal places); the ledger moves whole fen. ``QuotaMeter`` keeps each member's
sub-fen remainder: a settlement charges the whole fen of (remainder + cost) and carries the rest, so many
small requests cost what they used in total instead of a fen each.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import audit_summary, record_audit
from core.errors import DomainError, NotPermitted
from gateway.crypto import encrypt_api_key
from gateway.errors import QuotaExhausted
from gateway.models import (
    COST_PLACES,
    Channel,
    ChannelModel,
    ModelPrice,
    Outcome,
    Provider,
    QuotaMeter,
    UsageRecord,
    UsageSource,
    UsageStatus,
    VirtualKey,
)
from ledger.errors import InsufficientFunds
from ledger.models import Account, Purpose, Transaction
from ledger.money import FEN, exact_fen
from ledger.services import account_for, default_account_code, open_account, post_transaction, transfer
from organisations.capabilities import OrgKind

if TYPE_CHECKING:
    from accounts.models import User
    from organisations.models import Organisation

MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)
CONSUMED_ACCOUNT_CODE = "platform-gateway-consumed"
CHANNEL_COOLDOWN = dt.timedelta(seconds=30)
MAX_COOLDOWN = dt.timedelta(minutes=10)


# --------------------------------------------------------------------------------------------- accounts


def quota_account(organisation: Organisation) -> Account:
    return account_for(owner=organisation, purpose=Purpose.QUOTA)


def reserved_account(organisation: Organisation) -> Account:
    """Holds the reservations of the member's requests in flight; zero when none is."""
    return open_account(
        owner=organisation,
        purpose=Purpose.QUOTA,
        code=_reserved_code(organisation),
        name=f"{organisation.name} · token quota reserved for requests in flight",
    )


def consumed_account() -> Account:
    return open_account(
        owner=None, purpose=Purpose.QUOTA, code=CONSUMED_ACCOUNT_CODE, name="Token quota consumed (gateway)"
    )


def _reserved_code(organisation: Organisation) -> str:
    return f"org-{organisation.pk}-quota-reserved"


def _request_accounts(organisation: Organisation) -> tuple[Account, Account, Account]:
    """(quota, reserved, consumed) in one query on the hot path (owners joined: the ledger's audit reads
    them); opened through ``ledger.services`` the first time."""
    codes = {
        default_account_code(owner=organisation, purpose=Purpose.QUOTA): quota_account,
        _reserved_code(organisation): reserved_account,
        CONSUMED_ACCOUNT_CODE: lambda _organisation: consumed_account(),
    }
    found = {a.code: a for a in Account.objects.select_related("owner").filter(code__in=codes)}
    quota, reserved, consumed = (found.get(code) or opener(organisation) for code, opener in codes.items())
    return quota, reserved, consumed


# --------------------------------------------------------------------------------------------- channels


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
    if owner.kind not in {OrgKind.OPERATOR, OrgKind.PROVIDER}:
        raise NotPermitted(_("Only an operator or a compute provider manages upstream channels."))
    if not api_key.strip():
        raise DomainError(_("The channel needs an API key."))
    if not base_url.startswith(("https://", "http://")):
        raise DomainError(_("The base URL must start with https:// or http://."))
    if weight < 1:
        raise DomainError(_("The weight must be at least 1."))
    mapping = models if isinstance(models, dict) else {name: name for name in models}
    with transaction.atomic():
        channel = Channel.objects.create(
            owner=owner,
            name=name,
            provider=provider,
            base_url=base_url.rstrip("/"),
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
    return channel


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
    actor: User | None = None,
) -> ModelPrice:
    """A new price row (prices are never edited: the old one stays for the requests it priced)."""
    values = [input_per_million, output_per_million]
    if cached_input_per_million is not None:
        values.append(cached_input_per_million)
    if any(not isinstance(v, Decimal) or v < 0 or not v.is_finite() for v in values):
        raise DomainError(_("Prices must be non-negative decimal amounts."))
    with transaction.atomic():
        price = ModelPrice.objects.create(
            model=model,
            input_per_million=input_per_million,
            cached_input_per_million=cached_input_per_million
            if cached_input_per_million is not None
            else input_per_million,
            output_per_million=output_per_million,
            effective_from=effective_from or timezone.now(),
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
            },
        )
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
    """What to hold for a request that may cost up to ``max_cost``: rounded up to the fen, plus the one fen
    the sub-fen carry may add at settlement."""
    return max_cost.quantize(FEN, rounding=ROUND_CEILING) + FEN


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
) -> tuple[VirtualKey, str]:
    """A new key for the member; returns it with the secret, which is not stored and cannot be shown
    again."""
    if not name.strip():
        raise DomainError(_("Give the key a name."))
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(_("The expiry must be in the future."))
    secret = VirtualKey.generate_secret()
    with transaction.atomic():
        key = VirtualKey.objects.create(
            organisation=organisation,
            created_by=actor if actor is not None and actor.is_authenticated else None,
            name=name.strip()[:80],
            tag=tag.strip()[:40],
            prefix=secret[: VirtualKey.VISIBLE_CHARS],
            digest=VirtualKey.digest_of(secret),
            allowed_models=sorted(set(allowed_models or [])),
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
    return key


def authenticate_key(secret: str) -> VirtualKey | None:
    """The usable key for ``secret`` (not revoked, not expired), or None."""
    if not secret.startswith(VirtualKey.PREFIX):
        return None
    key = (
        VirtualKey.objects.select_related("organisation").filter(digest=VirtualKey.digest_of(secret)).first()
    )
    return key


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
            memo=memo,
            reference=f"organisation:{member.pk}",
            actor=actor,
        )
    return txn


# --------------------------------------------------------------------------------------------- requests


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
    ``QuotaExhausted``. Calling it again for the same request id returns the existing record."""
    amount = reservation_for(max_cost)
    organisation = key.organisation
    try:
        with transaction.atomic():
            record = UsageRecord.objects.create(
                request_id=request_id,
                organisation=organisation,
                virtual_key=key,
                tag=key.tag,
                endpoint=endpoint,
                model=model,
                stream=stream,
                price=price,
                reserved=amount,
            )
            quota, reserved, _consumed = _request_accounts(organisation)
            transfer(
                idempotency_key=f"gateway:reserve:{request_id}",
                source=quota,
                destination=reserved,
                amount=amount,
                kind="gateway.reserve",
                reference=f"gateway:{request_id}",
            )
    except InsufficientFunds:
        raise QuotaExhausted() from None
    except IntegrityError:
        existing = UsageRecord.objects.filter(request_id=request_id).first()
        if existing is None:
            raise
        return existing
    return record


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
) -> UsageRecord:
    """Charge the request's actual cost and give the rest of its hold back. Idempotent per request id."""
    return _finish(
        request_id=request_id,
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
) -> UsageRecord:
    """Give a request's whole hold back (nothing reached the member). Idempotent per request id."""
    return _finish(
        request_id=request_id,
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
    with transaction.atomic():
        # The guard: only the first settlement of a request moves money; any other returns the record.
        won = UsageRecord.objects.filter(request_id=request_id, status=UsageStatus.RESERVED).update(
            status=status, finished_at=timezone.now()
        )
        record = UsageRecord.objects.select_related("price", "organisation").get(request_id=request_id)
        if not won:
            return record
        organisation = record.organisation
        cost = Decimal(0)
        charge = Decimal("0.00")
        uncollected = Decimal(0)
        if status == UsageStatus.SETTLED:
            cost = cost_of(
                record.price,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cached_tokens=cached_tokens,
            )
            meter = QuotaMeter.objects.select_for_update().filter(organisation=organisation).first()
            if meter is None:
                QuotaMeter.objects.get_or_create(organisation=organisation)
                meter = QuotaMeter.objects.select_for_update().get(organisation=organisation)
            due = meter.unbilled + cost
            charge = due.quantize(FEN, rounding=ROUND_DOWN)
            carry = due - charge
            if charge > record.reserved:
                # Our estimate was low: take the difference from the quota if it is there, else the
                # operator absorbs it and the record says how much.
                try:
                    with transaction.atomic():
                        _post_settlement(record=record, charge=charge)
                except InsufficientFunds:
                    uncollected = due - record.reserved
                    charge, carry = record.reserved, Decimal(0)
                    _post_settlement(record=record, charge=charge)
            else:
                _post_settlement(record=record, charge=charge)
            QuotaMeter.objects.filter(pk=meter.pk).update(unbilled=carry)
        else:
            _post_settlement(record=record, charge=charge)
        UsageRecord.objects.filter(pk=record.pk).update(
            outcome=outcome,
            usage_source=source,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=min(cached_tokens, prompt_tokens),
            cost=cost,
            charged=charge,
            uncollected=uncollected,
            channel_id=channel_id,
            upstream_status=upstream_status,
            attempts=attempts,
        )
        record.refresh_from_db()
    return record


def _post_settlement(*, record: UsageRecord, charge: Decimal) -> None:
    quota, reserved, consumed = _request_accounts(record.organisation)
    entries: list[tuple[Account, Decimal]] = [(reserved, -record.reserved)]
    if charge:
        entries.append((consumed, charge))
    if record.reserved - charge:
        entries.append((quota, record.reserved - charge))
    post_transaction(
        idempotency_key=f"gateway:settle:{record.request_id}",
        entries=entries,
        kind="gateway.settle" if charge else "gateway.release",
        reference=f"gateway:{record.request_id}",
    )


def quota_balance(organisation: Organisation) -> Decimal:
    return quota_account(organisation).balance


def usage_summary(organisation: Organisation) -> dict[str, Any]:
    """Totals for tests and statements (a selector will replace this when the UI lands)."""
    return UsageRecord.objects.filter(organisation=organisation).aggregate(
        requests=Count("id"), charged=Sum("charged"), cost=Sum("cost")
    )
