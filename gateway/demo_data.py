"""Demo data of the token-quota gateway (run by ``load_demo`` after the base demo, see ``core.extensions``).

- Two channels to the local DEMO upstream (``python -m gateway.fake_upstream``, started by ``make demo``;
  it echoes canned text, no real model is called): one run by the Haishu operator for Chinese models, one
  run by the compliant compute provider for overseas models (the "one invoice" story).
- Public list prices of several Chinese and overseas models, each marked as a list price *as of* the date
  its source was read, with the source (the vendor's price page; USD prices converted at a stated rate).
  They are reference figures for the demo: check the vendor's page before relying on one.
- A quota grant and two keys for opc@demo.cn (one with a known secret, printed by ``scripts/demo``), keys for
  a few other members, about six weeks of usage (a few calls interrupted or failed), the daily roll-up,
  last month's consumption statement for opc@demo.cn and the compute provider's invoice for last month.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from core.demo import MARKER
from gateway import services
from gateway.models import ModelPrice, Outcome, PriceKind, Provider, UsageRecord, UsageSource, VirtualKey
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import Organisation, VerificationStatus

DEMO_KEY = "sk-opc-demo-haishu-labo-2026-0001"
DEMO_UPSTREAM_KEY = "demo-upstream-key"
LIST_DATE = dt.date(2025, 10, 15)
USD_CNY = Decimal("7.10")

# public name, input, cached input, output (CNY per 1M tokens), source
CHINESE_PRICES = [
    (
        "deepseek-chat",
        "2",
        "0.2",
        "3",
        "https://api-docs.deepseek.com/zh-cn/quick_start/pricing （DeepSeek-V3.2）",
    ),
    (
        "deepseek-reasoner",
        "2",
        "0.2",
        "3",
        "https://api-docs.deepseek.com/zh-cn/quick_start/pricing （DeepSeek-V3.2）",
    ),
    (
        "qwen-plus",
        "0.8",
        "0.16",
        "2",
        "https://help.aliyun.com/zh/model-studio/models （阿里云百炼，≤128K 输入档）",
    ),
    ("qwen-max", "2.4", "0.48", "9.6", "https://help.aliyun.com/zh/model-studio/models （阿里云百炼）"),
    ("glm-4-flash", "0", "0", "0", "https://open.bigmodel.cn/pricing （智谱，免费模型）"),
    ("moonshot-v1-8k", "12", "12", "12", "https://platform.moonshot.cn/docs/pricing/chat （月之暗面）"),
    (
        "text-embedding-v3",
        "0.5",
        "0.5",
        "0",
        "https://help.aliyun.com/zh/model-studio/models （阿里云百炼，向量）",
    ),
]
# public name, input, cached input, output in USD per 1M tokens, source
OVERSEAS_PRICES = [
    ("gpt-4o-mini", "0.15", "0.075", "0.60", "https://openai.com/api/pricing/"),
    ("gpt-4o", "2.50", "1.25", "10.00", "https://openai.com/api/pricing/"),
    ("claude-3-5-haiku", "0.80", "0.08", "4.00", "https://www.anthropic.com/pricing#api"),
    ("text-embedding-3-small", "0.02", "0.02", "0", "https://openai.com/api/pricing/"),
]


def upstream_url() -> str:
    port = os.environ.get("OPCHUB_DEMO_UPSTREAM_PORT", "8011")
    return os.environ.get("OPCHUB_DEMO_UPSTREAM_URL", f"http://127.0.0.1:{port}/v1")


def _cny(usd: str) -> Decimal:
    return (Decimal(usd) * USD_CNY).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _org_of(email: str) -> Organisation | None:
    user = User.objects.filter(email=email).first()
    membership = user.memberships.select_related("organisation").first() if user else None
    return membership.organisation if membership else None


def load(rng: random.Random) -> None:
    operator = Organisation.objects.filter(name=MARKER, kind=OrgKind.OPERATOR).first()
    compute = (
        Organisation.objects.filter(kind=OrgKind.PROVIDER, subkind=OrgSubkind.COMPUTE).order_by("pk").first()
    )
    opc = _org_of("opc@demo.cn")
    if (
        operator is None
        or compute is None
        or opc is None
        or VirtualKey.objects.filter(prefix=DEMO_KEY[:12]).exists()
    ):
        return
    operator_user = User.objects.get(email="operator@haishu.demo")
    compute_user = User.objects.get(email="compute@demo.cn")
    price_from = timezone.make_aware(dt.datetime.combine(LIST_DATE, dt.time.min))

    # Prices: public list prices as of LIST_DATE, with their source.
    for model, inp, cached, out, source in CHINESE_PRICES:
        services.set_model_price(
            model=model,
            input_per_million=Decimal(inp),
            cached_input_per_million=Decimal(cached),
            output_per_million=Decimal(out),
            effective_from=price_from,
            kind=PriceKind.LIST,
            source=source,
            source_date=LIST_DATE,
            actor=operator_user,
        )
    for model, inp, cached, out, source in OVERSEAS_PRICES:
        services.set_model_price(
            model=model,
            input_per_million=_cny(inp),
            cached_input_per_million=_cny(cached),
            output_per_million=_cny(out),
            effective_from=price_from,
            kind=PriceKind.LIST,
            source=f"{source} （USD {inp} / {cached} / {out}，按 1 USD = {USD_CNY} CNY 折算）",
            source_date=LIST_DATE,
            actor=operator_user,
        )

    # Channels to the local demo upstream (clearly labelled: no real model behind them).
    chinese = services.create_channel(
        owner=operator,
        name="演示上游 · 国产模型（本地模拟）",
        provider=Provider.DEMO,
        base_url=upstream_url(),
        api_key=DEMO_UPSTREAM_KEY,
        models={m[0]: m[0] for m in CHINESE_PRICES},
        priority=10,
        max_output_tokens=4096,
        actor=operator_user,
    )
    services.create_channel(
        owner=operator,
        name="演示上游 · 备用（本地模拟）",
        provider=Provider.DEMO,
        base_url=upstream_url(),
        api_key=DEMO_UPSTREAM_KEY,
        models={"deepseek-chat": "deepseek-chat", "qwen-plus": "qwen-plus"},
        priority=0,
        max_output_tokens=4096,
        actor=operator_user,
    )
    overseas = services.create_channel(
        owner=compute,
        name="合规算力 · 海外模型（本地模拟）",
        provider=Provider.DEMO,
        base_url=upstream_url(),
        api_key=DEMO_UPSTREAM_KEY,
        models={m[0]: m[0] for m in OVERSEAS_PRICES},
        priority=5,
        max_output_tokens=4096,
        actor=compute_user,
    )

    # A grant for opc@demo.cn on top of the base demo's ¥500, and keys.
    services.grant_quota(
        operator=operator,
        member=opc,
        amount=Decimal("300.00"),
        idempotency_key="demo:opc-extra",
        actor=operator_user,
        memo="短剧项目追加词元额度（演示）",
    )
    opc_user = User.objects.get(email="opc@demo.cn")
    main_key, _secret = services.issue_virtual_key(
        organisation=opc, name="剪辑工作站", tag="星门短剧", actor=opc_user, secret=DEMO_KEY, rpm_limit=120
    )
    second_key, _ = services.issue_virtual_key(
        organisation=opc,
        name="出海电商脚本",
        tag="跨境电商",
        actor=opc_user,
        allowed_models=["gpt-4o-mini", "claude-3-5-haiku", "qwen-plus"],
        tpm_limit=200_000,
    )
    others = list(
        Organisation.objects.filter(
            kind=OrgKind.OPC,
            home_community__operator=operator,
            verification_status=VerificationStatus.VERIFIED,
            ledger_accounts__purpose="quota",
            ledger_accounts__balance__gt=0,
        )
        .exclude(pk=opc.pk)
        .distinct()
        .order_by("pk")[:4]
    )
    members = [(opc, [main_key, second_key])]
    for org in others:
        key, _ = services.issue_virtual_key(organisation=org, name="工作室主力机", tag="日常创作")
        members.append((org, [key]))

    # About six weeks of usage.
    prices = {p.model: p for p in ModelPrice.objects.all()}
    channel_of = {m[0]: chinese for m in CHINESE_PRICES} | {m[0]: overseas for m in OVERSEAS_PRICES}
    chat_models = [
        "deepseek-chat",
        "deepseek-chat",
        "qwen-plus",
        "qwen-max",
        "deepseek-reasoner",
        "gpt-4o-mini",
        "claude-3-5-haiku",
        "glm-4-flash",
        "moonshot-v1-8k",
        "gpt-4o",
    ]
    today = timezone.localdate()
    n = 0
    for days_ago in range(45, 0, -1):
        day = today - dt.timedelta(days=days_ago)
        for _org, keys in members:
            for _ in range(rng.choice([0, 1, 2, 3, 4, 6])):
                key = rng.choice(keys)
                model = rng.choice(key.allowed_models or chat_models)
                embedding = rng.random() < 0.1
                if embedding:
                    model = "text-embedding-v3"
                n += 1
                _demo_request(rng, n, key, model, prices[model], channel_of[model].pk, day, embedding)
    services.post_all_usage()
    for days_ago in range(46):
        services.roll_up_usage(day=today - dt.timedelta(days=days_ago))

    # Last month's statement for opc@demo.cn and the compute provider's invoice for last month.
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    services.issue_consumption_statement(operator=operator, member=opc, month=last_month, actor=operator_user)
    start, end = services.month_bounds(last_month)
    used = UsageRecord.objects.filter(channel=overseas, started_at__gte=start, started_at__lt=end).aggregate(
        total=Sum("cost")
    )["total"] or Decimal(0)
    services.record_provider_invoice(
        operator=operator,
        provider=compute,
        month=last_month,
        number=f"2633{last_month:%Y%m}00001234",
        issued_on=today.replace(day=1),
        amount=(used * Decimal("1.02")).quantize(Decimal("0.01")) + Decimal("1.00"),
        tax_amount=(used * Decimal("0.06")).quantize(Decimal("0.01")),
        note="含海外模型调用服务费（演示数据）",
        actor=operator_user,
    )


def _demo_request(
    rng: random.Random,
    n: int,
    key: VirtualKey,
    model: str,
    price: ModelPrice,
    channel_id: int,
    day: dt.date,
    embedding: bool,
) -> None:
    request_id = f"demo-{n:05d}"
    prompt = rng.randint(20, 400) if embedding else rng.randint(300, 6000)
    completion = 0 if embedding else rng.randint(150, 2500)
    record = services.reserve(
        request_id=request_id,
        key=key,
        endpoint="embeddings" if embedding else "chat.completions",
        model=model,
        stream=not embedding and rng.random() < 0.6,
        price=price,
        max_cost=services.cost_of(price, prompt_tokens=prompt * 2, completion_tokens=4096),
    )
    roll = rng.random()
    if roll < 0.03:
        services.release(
            request_id=request_id,
            outcome=Outcome.UPSTREAM_ERROR,
            upstream_status=502,
            attempts=2,
            record=record,
        )
    elif roll < 0.07:
        services.settle(
            request_id=request_id,
            prompt_tokens=prompt,
            completion_tokens=completion // 3,
            source=UsageSource.ESTIMATED,
            outcome=Outcome.UPSTREAM_INTERRUPTED,
            channel_id=channel_id,
            upstream_status=200,
            attempts=1,
            record=record,
        )
    else:
        services.settle(
            request_id=request_id,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=rng.choice([0, 0, prompt // 2]),
            channel_id=channel_id,
            upstream_status=200,
            attempts=1,
            record=record,
        )
    started = timezone.make_aware(
        dt.datetime.combine(day, dt.time(rng.randint(9, 22), rng.randint(0, 59), rng.randint(0, 59)))
    )
    UsageRecord.objects.filter(pk=record.pk).update(
        started_at=started, finished_at=started + dt.timedelta(milliseconds=rng.randint(400, 9000))
    )
