"""Benchmark of the token-quota gateway's overhead: 200 concurrent streaming clients, PostgreSQL behind it.

    .venv/bin/python bench/gateway.py [--concurrency 200] [--seconds 20] [--warmup 4] [--workers 2]
                                      [--members 20] [--first-ms 100] [--chunk-ms 25] [--words 20]

What runs (separate processes, all on this machine):
- the DEMO upstream (``python -m gateway.fake_upstream``: uvicorn + uvloop/httptools), a fake OpenAI-compatible
  server with a fixed latency: ``--first-ms`` before the first chunk, then ``--words`` chunks ``--chunk-ms``
  apart (chunk i due i × chunk-ms after the first, so a late wake-up of the upstream process delays one
  chunk, not every one after it), then the usage chunk and ``[DONE]``;
- the gateway exactly as deployed: ``scripts/asgi-server``'s uvicorn command (``opchub.asgi:application``,
  ``--workers``, lifespan on, Redis for the rate-limit counters), against PostgreSQL (``DATABASE_URL``, by
  default ``postgres://postgres@127.0.0.1:5432/gwbench``, created and migrated if missing; vacuumed,
  analysed and checkpointed before the load, as pgbench does);
- the load: ``--concurrency`` closed-loop clients, each with one keep-alive connection, sending streaming chat
  completions for ``--seconds`` after ``--warmup`` seconds (a small asyncio HTTP/1.1 client on uvloop, so
  the measuring costs little CPU). The *same* client runs first directly against the upstream, then through
  the gateway; a request's latency is the time until its stream ended.

Overhead = gateway latency − direct latency, at the 50th and 99th percentile. Afterwards (the gateway stopped
with SIGTERM, which drains and posts usage) it checks the money: ``lost_records`` = streams the clients saw
complete without a settled usage record, plus records still in flight; ``overdraft_cny`` = how far any
member's quota went below zero (one member gets a quota too small for its share of the load, so it runs out
under concurrency and its refused requests are counted, not timed). The final line is

    gateway: concurrency=200 rps=… overhead_p50_ms=… overhead_p99_ms=… overdraft_cny=… lost_records=…
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gwbench"
UPSTREAM_KEY = "bench-upstream-key"


# --------------------------------------------------------------------------------------------- setup


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def settle_database(url: str) -> None:
    """As pgbench does before a run: vacuum and analyze, and write the dirty pages out (CHECKPOINT), so that
    a database created or migrated a moment ago does not do that work — autovacuum's analyses of tables
    growing from empty, the checkpoint — in the middle of the measurement."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):  # not a superuser: skip it
            conn.execute("CHECKPOINT")


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("OPCHUB_VAR_DIR", tempfile.mkdtemp(prefix="opchub-bench-gw-"))
    os.environ.setdefault("OPCHUB_TESTING", "1")  # generated secret key, tasks inline
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opchub.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


@dataclass
class Member:
    org_id: int
    secret: str
    grant: Decimal


def create_world(members: int, model: str, upstream_url: str) -> list[Member]:
    from core.testing import make_community, make_org, make_user
    from gateway import services
    from ledger.models import Purpose
    from ledger.services import account_for, transfer
    from organisations.capabilities import OrgKind

    suffix = str(int(time.time() * 1000))
    operator = make_org(OrgKind.OPERATOR, "bench operator", make_user(f"bench-op-{suffix}"), verified=True)
    community, _stations = make_community(operator, f"bench community {suffix}", workstations=1)
    transfer(
        idempotency_key=f"bench:fund:{suffix}",
        source=account_for(owner=None, purpose=Purpose.EXTERNAL),
        destination=account_for(owner=operator, purpose=Purpose.FUNDING_POOL),
        amount=Decimal("1000000.00"),
        kind="bench.fund",
    )
    services.create_channel(
        owner=operator,
        name=f"bench demo upstream {suffix}",
        base_url=upstream_url,
        api_key=UPSTREAM_KEY,
        models={model: "demo"},
        max_output_tokens=512,
        read_timeout=60,
    )
    services.set_model_price(model=model, input_per_million=Decimal("2"), output_per_million=Decimal("8"))
    out = []
    for i in range(members):
        org = make_org(
            OrgKind.OPC, f"bench OPC {i}", make_user(f"bench-opc-{suffix}-{i}"), community=community
        )
        # The last member's quota pays for only ~150 of its requests: it runs dry under concurrency.
        grant = Decimal("0.05") if i == members - 1 and members > 1 else Decimal("1000.00")
        services.grant_quota(
            operator=operator, member=org, amount=grant, idempotency_key=f"bench:{suffix}:{i}"
        )
        _key, secret = services.issue_virtual_key(organisation=org, name="bench")
        out.append(Member(org.pk, secret, grant))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, path: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"a bench server exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("a bench server did not start")


# --------------------------------------------------------------------------------------------- load


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # request ids of streams seen complete
    refused: int = 0
    errors: int = 0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += (await reader.readexactly(size + 2))[:-2]
        return status, headers, bytes(body)
    length = int(headers.get("content-length", "0"))
    return status, headers, await reader.readexactly(length)


async def client_loop(
    port: int, path: str, secret: str, payload: bytes, stop_at: float, measure_from: float, results: Results
) -> None:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {secret}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at:
            started = time.monotonic()
            writer.write(request)
            try:
                status, headers, body = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                results.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            elapsed = time.monotonic() - started
            if status == 429:
                results.refused += 1
                await asyncio.sleep(0.05)
                continue
            if status != 200 or not body.endswith(b"data: [DONE]\n\n"):
                results.errors += 1
                continue
            if started >= measure_from:
                results.latencies.append(elapsed)
            if "x-opc-request-id" in headers:
                results.completed.append(headers["x-opc-request-id"])
    finally:
        writer.close()


def run_load(
    *,
    port: int,
    path: str,
    secrets: list[str],
    payload: bytes,
    concurrency: int,
    warmup: float,
    seconds: float,
) -> tuple[Results, float]:
    async def main() -> tuple[Results, float]:
        results = Results()
        now = time.monotonic()
        measure_from, stop_at = now + warmup, now + warmup + seconds
        await asyncio.gather(
            *(
                client_loop(port, path, secrets[i % len(secrets)], payload, stop_at, measure_from, results)
                for i in range(concurrency)
            )
        )
        return results, seconds

    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:  # pragma: no cover
        return asyncio.run(main())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# --------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db-threads", type=int, default=6)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--first-ms", type=float, default=100.0)
    parser.add_argument("--chunk-ms", type=float, default=25.0)
    parser.add_argument("--words", type=int, default=20)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "bench/gateway.py measures the gateway with PostgreSQL behind it; set DATABASE_URL=postgres://…"
        )
    ensure_database(database_url)
    setup_django(database_url)
    from django.conf import settings
    from django.db.models import Sum

    from gateway import services
    from gateway.models import QuotaMeter, UsageRecord, UsageStatus
    from ledger import selectors

    model = f"bench-model-{int(time.time())}"  # this run's channel only (earlier runs leave theirs)
    upstream_port, gateway_port = free_port(), free_port()
    members = create_world(args.members, model, f"http://127.0.0.1:{upstream_port}/v1")
    settle_database(database_url)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "写一段三十字的科幻短剧开场白。"}],
        "stream": True,
        "max_tokens": 256,
    }
    direct_body = {**body, "model": "demo", "stream_options": {"include_usage": True}}
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": settings.SECRET_KEY}
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    env["GATEWAY_DB_THREADS"] = str(args.db_threads)
    log = tempfile.NamedTemporaryFile(prefix="bench-gw-", suffix=".log", delete=False)  # noqa: SIM115
    upstream = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.fake_upstream",
            "--port",
            str(upstream_port),
            "--api-key",
            UPSTREAM_KEY,
            "--latency-ms",
            str(args.first_ms),
            "--chunk-ms",
            str(args.chunk_ms),
            "--reply-words",
            str(args.words),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    gateway = None
    try:
        wait_http(upstream_port, "/v1/models", upstream)
        gateway = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/uvicorn"),
                "opchub.asgi:application",
                "--port",
                str(gateway_port),
                "--workers",
                str(args.workers),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--lifespan",
                "on",
                "--no-access-log",
                "--backlog",
                "4096",
                "--timeout-graceful-shutdown",
                "30",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        wait_http(gateway_port, "/v1/models", gateway)
        load = {"concurrency": args.concurrency, "warmup": args.warmup, "seconds": args.seconds}
        direct, _ = run_load(
            port=upstream_port,
            path="/v1/chat/completions",
            secrets=[UPSTREAM_KEY],
            payload=json.dumps(direct_body).encode(),
            **load,
        )
        through, seconds = run_load(
            port=gateway_port,
            path="/v1/chat/completions",
            secrets=[m.secret for m in members],
            payload=json.dumps(body).encode(),
            **load,
        )
        gateway.send_signal(signal.SIGTERM)  # drain, settle, post usage to the ledger
        gateway.wait(timeout=120)
    finally:
        for process in (gateway, upstream):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()

    org_ids = [m.org_id for m in members]
    records = UsageRecord.objects.filter(organisation_id__in=org_ids)
    settled = set(records.filter(status=UsageStatus.SETTLED).values_list("request_id", flat=True))
    in_flight = records.filter(status=UsageStatus.RESERVED).count()
    lost = sum(1 for request_id in through.completed if request_id not in settled) + in_flight
    overdraft = Decimal(0)
    books_ok = selectors.ledger_is_balanced() and not selectors.overdrawn_account_ids()
    for m in members:
        org_records = records.filter(organisation_id=m.org_id)
        charged = org_records.aggregate(total=Sum("charged"))["total"] or Decimal(0)
        from organisations.models import Organisation

        balance = services.quota_balance(Organisation.objects.get(pk=m.org_id))
        overdraft += max(Decimal(0), -balance)
        books_ok = books_ok and balance == m.grant - charged
        meter = QuotaMeter.objects.filter(organisation_id=m.org_id).first()
        if meter is not None:
            books_ok = books_ok and meter.funded == meter.available + meter.held + meter.unposted
    d50, d99 = percentile(direct.latencies, 0.5), percentile(direct.latencies, 0.99)
    g50, g99 = percentile(through.latencies, 0.5), percentile(through.latencies, 0.99)
    rps = len(through.latencies) / seconds
    print(
        f"gateway-detail: upstream first_ms={args.first_ms:g} chunk_ms={args.chunk_ms:g} words={args.words} "
        f"workers={args.workers} members={args.members} "
        f"direct_p50_ms={d50 * 1000:.1f} direct_p99_ms={d99 * 1000:.1f} direct_rps={len(direct.latencies) / seconds:.0f} "
        f"gateway_p50_ms={g50 * 1000:.1f} gateway_p99_ms={g99 * 1000:.1f} "
        f"streams={len(through.latencies)} refused_insufficient_quota={through.refused} errors={through.errors} "
        f"records={records.count()} books_ok={books_ok} log={log.name}"
    )
    print(
        f"gateway: concurrency={args.concurrency} rps={rps:.0f} "
        f"overhead_p50_ms={(g50 - d50) * 1000:.1f} overhead_p99_ms={(g99 - d99) * 1000:.1f} "
        f"overdraft_cny={overdraft:.2f} lost_records={lost}"
    )


if __name__ == "__main__":
    main()
