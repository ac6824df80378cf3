"""Benchmark of the token-quota gateway's own overhead (auth, reserve, forward, settle) — in process.

    .venv/bin/python bench/gateway.py [--requests 500] [--concurrency 50] [--stream-share 0.5]
                                      [--upstream-ms 0]

Migrates a throw-away SQLite database (or uses DATABASE_URL when set: point it at a scratch database), sets up
an operator, a member with a quota and a key, and the DEMO upstream (``gateway.fake_upstream``, no network,
optional simulated latency), then sends the requests through Django's ASGI application with
``httpx.ASGITransport`` at the given concurrency. Checks afterwards that every request has exactly one
settled usage record and that the member's quota equals the grant minus what was charged. The final line is

    gateway: requests=N concurrency=C seconds=S rps=R p50_ms=… p99_ms=… records=N books_ok=True
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def setup_django() -> None:
    var_dir = os.environ.setdefault("OPCHUB_VAR_DIR", tempfile.mkdtemp(prefix="opchub-bench-gw-"))
    os.makedirs(os.path.join(var_dir, "staticfiles"), exist_ok=True)
    os.environ.setdefault("OPCHUB_TESTING", "1")  # generated secret key, tasks inline
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opchub.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("gateway:models")
    except NoReverseMatch:  # /v1/ not mounted in opchub/urls.py yet: use the gateway's own test URLconf
        settings.ROOT_URLCONF = "gateway.tests.urls"
    # Under ASGI every request runs its ORM calls on its own thread, so persistent connections (CONN_MAX_AGE)
    # pile up until PostgreSQL refuses more: close them per request (production: a pool, see the report).
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--stream-share", type=float, default=0.5)
    parser.add_argument("--upstream-ms", type=float, default=0.0)
    args = parser.parse_args()
    setup_django()

    import httpx
    from django.core.asgi import get_asgi_application
    from django.db.models import Sum

    from core.testing import make_community, make_org, make_user
    from gateway import services, upstream
    from gateway.fake_upstream import FakeUpstream
    from gateway.models import UsageRecord, UsageStatus
    from ledger import selectors
    from ledger.models import Purpose
    from ledger.services import account_for, transfer
    from organisations.capabilities import OrgKind

    suffix = str(int(time.time() * 1000))
    operator = make_org(OrgKind.OPERATOR, "bench operator", make_user(f"bench-op-{suffix}"), verified=True)
    community, _stations = make_community(operator, f"bench community {suffix}", workstations=1)
    member = make_org(OrgKind.OPC, "bench OPC", make_user(f"bench-opc-{suffix}"), community=community)
    transfer(
        idempotency_key=f"bench:fund:{suffix}",
        source=account_for(owner=None, purpose=Purpose.EXTERNAL),
        destination=account_for(owner=operator, purpose=Purpose.FUNDING_POOL),
        amount=Decimal("100000.00"),
        kind="bench.fund",
    )
    grant = Decimal("1000.00")
    services.grant_quota(operator=operator, member=member, amount=grant, idempotency_key=f"bench:{suffix}")
    fake = FakeUpstream()
    model = f"bench-model-{suffix}"
    services.create_channel(
        owner=operator,
        name="bench demo upstream",
        base_url="http://demo-upstream.bench/v1",
        api_key=fake.api_key,
        models={model: "demo"},
        provider="demo",
        max_output_tokens=512,
    )
    services.set_model_price(model=model, input_per_million=Decimal("2"), output_per_million=Decimal("8"))
    _key, secret = services.issue_virtual_key(organisation=member, name="bench")

    delay = args.upstream_ms / 1000

    async def slow_handler(request: httpx.Request) -> httpx.Response:
        if delay:
            await asyncio.sleep(delay)
        return await fake.handle(request)

    upstream.use_transport(httpx.MockTransport(slow_handler))
    app = get_asgi_application()

    async def run() -> list[float]:
        latencies: list[float] = []
        gate = asyncio.Semaphore(args.concurrency)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://127.0.0.1/v1",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=60,
        ) as client:

            async def one(i: int) -> None:
                stream = (i % 100) < args.stream_share * 100
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": f"第{i}个请求: write one line"}],
                    "stream": stream,
                }
                async with gate:
                    started = time.perf_counter()
                    response = await client.post("/chat/completions", json=body)
                    latencies.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise RuntimeError(f"request {i}: {response.status_code} {response.text[:200]}")

            await asyncio.gather(*(one(i) for i in range(args.requests)))
        return latencies

    started = time.perf_counter()
    latencies = asyncio.run(run())
    seconds = time.perf_counter() - started

    records = UsageRecord.objects.filter(organisation=member)
    settled = records.filter(status=UsageStatus.SETTLED).count()
    charged = records.aggregate(total=Sum("charged"))["total"] or Decimal(0)
    books_ok = (
        settled == args.requests
        and services.quota_balance(member) == grant - charged
        and services.reserved_account(member).balance == 0
        and selectors.ledger_is_balanced()
        and selectors.overdrawn_account_ids() == []
    )
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(
        f"gateway: requests={args.requests} concurrency={args.concurrency} seconds={seconds:.2f} "
        f"rps={args.requests / seconds:.0f} p50_ms={p50:.1f} p99_ms={p99:.1f} records={settled} "
        f"books_ok={books_ok}"
    )
    if not books_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
