"""Benchmark of the marketplace pages on PostgreSQL with 100,000 orders — in process.

    .venv/bin/python bench/pages.py [--orders 100000] [--seed 7] [--repeat 8] [--explain] [--keep]
                                    [--target pages|api]

Creates a scratch database ``opchub_bench_pages_<pid>`` on the PostgreSQL server of ``DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/postgres``; the database named there is only used to connect,
never changed), migrates it, loads a seeded synthetic marketplace with ``COPY`` — 100k orders spread over
2,000 clients (Zipf-like, 10% government departments and SOEs → procurement zone) and 16 categories, all
states (35% open, 10% draft, …), visibility public / community / invited, modes tender / direct / contest,
≈ 200k bids, contracts with milestones for awarded orders, contest entries; ``VACUUM ANALYZE`` as autovacuum
would after such a load — and then times Django's test
``Client`` (in process, ``DEBUG`` off, cached templates) on

* ``marketplace:browse`` — anonymous, an OPC and a client, page 1 / 2 / 50 and filters (category, mode,
  budget, text, category + page);
* ``marketplace:order_detail`` — orders in every state viewed by their client and by an OPC (open public or
  community orders, orders it bid on, invited to or holds a contract for);
* ``marketplace:order_recommendations`` — the htmx fragment of recommended OPCs on a client's open order,
  reported on its own line (not part of the final line).

Every scenario is requested ``--repeat`` times after one warm-up; the query count of each page is taken
once with ``CaptureQueriesContext``. ``--target api`` measures the JSON API (``/api/marketplace/orders`` and
``/api/marketplace/orders/{id}``) instead. ``--explain`` prints ``EXPLAIN ANALYZE`` of the slowest query of
the slowest list and detail scenario. The database is dropped at the end unless ``--keep``. Final line:

    pages: orders=100000 list_p95_ms=… detail_p95_ms=… queries_list=… queries_detail=…
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
N_CLIENTS = 2000
N_OPCS = 3000
N_COMMUNITIES = 20


# -- database ------------------------------------------------------------------------------------------------------


def scratch_database(server_url: str) -> tuple[str, str, str]:
    """(maintenance url, scratch db name, scratch url) on the server of ``server_url``."""
    parts = urlsplit(server_url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit(f"bench/pages.py needs PostgreSQL; DATABASE_URL={server_url!r}")
    name = f"opchub_bench_pages_{os.getpid()}"
    return server_url, name, urlunsplit(parts._replace(path=f"/{name}"))


def _admin(url: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname=(parts.path or "/postgres").lstrip("/") or "postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql)


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    var_dir = os.environ.setdefault("OPCHUB_VAR_DIR", tempfile.mkdtemp(prefix="opchub-bench-pages-"))
    os.makedirs(os.path.join(var_dir, "staticfiles"), exist_ok=True)
    os.environ.setdefault("OPCHUB_TESTING", "1")  # generated secret key, tasks inline (DEBUG stays off)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opchub.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def copy_rows(model: Any, rows: Iterable[dict[str, Any]], fields: Sequence[str] | None = None) -> int:
    """COPY dicts (keys: field attnames; missing ones take the field default) into ``model``'s table."""
    from django.db import connection

    concrete = [f for f in model._meta.concrete_fields if fields is None or f.attname in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in concrete)
    defaults = {f.attname: (f.get_default() if f.has_default() else None) for f in concrete}
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row.get(f.attname, defaults[f.attname]) for f in concrete])
                count += 1
    return count


def reset_sequences(models: Iterable[Any]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}"
            )


# -- the synthetic market ------------------------------------------------------------------------------------------


class Market:
    """Ids of what the loader created, for choosing what to view."""

    def __init__(self) -> None:
        self.viewer_clients: list[tuple[Any, Any]] = []  # (user, organisation)
        self.viewer_opc: tuple[Any, Any] | None = None
        self.owner_orders: dict[int, list[tuple[int, str]]] = {}  # client id → [(order id, status)]
        self.opc_visible: list[tuple[int, str]] = []  # (order id, why)


def load_market(n_orders: int, seed: int) -> Market:
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from core.testing import make_community, make_org, make_user
    from marketplace.models import (
        Bid,
        BidStatus,
        ContestEntry,
        Contract,
        EntryStatus,
        Milestone,
        MilestoneStatus,
        Order,
        OrderMode,
        OrderStatus,
        Visibility,
    )
    from organisations.capabilities import OrgKind, OrgSubkind
    from organisations.models import OPCProfile, Organisation, Skill, VerificationStatus

    rng = np.random.default_rng(seed)
    market = Market()
    now = timezone.now()
    today = timezone.localdate()
    skills = list(Skill.objects.order_by("position", "code").values_list("pk", flat=True))
    popularity = 1.0 / np.arange(1, len(skills) + 1) ** 0.9
    popularity /= popularity.sum()

    with transaction.atomic():
        # people who look at pages (created through the services, with users and memberships)
        operator = make_org(OrgKind.OPERATOR, "基准运营方", make_user("bench-operator"), verified=True)
        communities = [
            make_community(operator, f"基准社区{i:02d}", workstations=0)[0] for i in range(N_COMMUNITIES)
        ]
        for i, subkind in enumerate(
            [OrgSubkind.ENTERPRISE] * 5 + [OrgSubkind.GOVERNMENT, OrgSubkind.SOE] * 2
        ):
            user = make_user(f"bench-client-{i}")
            market.viewer_clients.append(
                (user, make_org(OrgKind.CLIENT, f"基准客户{i}", user, subkind=subkind))
            )
        opc_user = make_user("bench-opc")
        viewer_opc = make_org(OrgKind.OPC, "基准OPC", opc_user, community=communities[0], verified=True)
        market.viewer_opc = (opc_user, viewer_opc)

        # the crowd (rows only)
        subkinds = rng.choice(
            [OrgSubkind.ENTERPRISE, OrgSubkind.GOVERNMENT, OrgSubkind.SOE],
            size=N_CLIENTS,
            p=[0.9, 0.06, 0.04],
        )
        crowd_clients = Organisation.objects.bulk_create(
            [
                Organisation(
                    kind=OrgKind.CLIENT,
                    subkind=str(subkinds[i]),
                    name=f"客户{i:05d}",
                    city="宁波市",
                    verification_status=VerificationStatus.VERIFIED
                    if i % 3
                    else VerificationStatus.UNVERIFIED,
                )
                for i in range(N_CLIENTS - len(market.viewer_clients))
            ],
            batch_size=2000,
        )
        crowd_opcs = Organisation.objects.bulk_create(
            [
                Organisation(
                    kind=OrgKind.OPC,
                    name=f"工作室{i:05d}",
                    home_community=communities[i % N_COMMUNITIES],
                    verification_status=VerificationStatus.VERIFIED if i % 5 else VerificationStatus.PENDING,
                )
                for i in range(N_OPCS - 1)
            ],
            batch_size=2000,
        )
        rate_min = np.exp(rng.normal(np.log(6000), 0.9, len(crowd_opcs)))
        profiles = OPCProfile.objects.bulk_create(
            [
                OPCProfile(
                    organisation=org,
                    founder_name=f"创始人{i}",
                    capacity=int(rng.integers(1, 5)),
                    rate_min=Decimal(f"{rate_min[i]:.2f}"),
                    rate_max=Decimal(f"{rate_min[i] * 2.5:.2f}"),
                )
                for i, org in enumerate(crowd_opcs)
            ],
            batch_size=2000,
        )
        through = OPCProfile.skills.through
        through.objects.bulk_create(
            [
                through(opcprofile_id=p.pk, skill_id=int(s))
                for p in profiles
                for s in rng.choice(skills, size=int(rng.integers(1, 4)), replace=False, p=popularity)
            ],
            batch_size=5000,
        )
        viewer_profile = OPCProfile.objects.get(organisation=viewer_opc)
        viewer_profile.skills.set(skills[:4])
        make_password("unused")  # warm the hasher import (users above already have passwords)

    clients = [org for _user, org in market.viewer_clients] + crowd_clients
    opcs = [viewer_opc, *crowd_opcs]
    client_ids = np.array([c.pk for c in clients])
    procurement = np.array([c.subkind in (OrgSubkind.GOVERNMENT, OrgSubkind.SOE) for c in clients])
    opc_ids = np.array([o.pk for o in opcs])
    viewer_opc_id = viewer_opc.pk

    # orders: the viewer clients post 6% of them; the rest is Zipf-like over the crowd
    weights = 1.0 / np.arange(1, len(clients) + 1) ** 0.6
    weights[: len(market.viewer_clients)] = weights[len(market.viewer_clients) :].sum() * 0.06 / 9
    weights /= weights.sum()
    client_of = rng.choice(len(clients), size=n_orders, p=weights)
    status_values = [
        OrderStatus.OPEN,
        OrderStatus.DRAFT,
        OrderStatus.AWARDED,
        OrderStatus.IN_PROGRESS,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
        OrderStatus.CANCELLED,
    ]
    statuses = rng.choice(status_values, size=n_orders, p=[0.35, 0.10, 0.05, 0.10, 0.03, 0.30, 0.07])
    modes = rng.choice(
        [OrderMode.TENDER, OrderMode.DIRECT, OrderMode.CONTEST], size=n_orders, p=[0.8, 0.1, 0.1]
    )
    visibility = rng.choice(
        [Visibility.PUBLIC, Visibility.COMMUNITY, Visibility.INVITED], size=n_orders, p=[0.82, 0.12, 0.06]
    )
    categories = rng.choice(skills, size=n_orders, p=popularity)
    budget_max = np.round(np.exp(rng.normal(np.log(15000), 1.0, n_orders)), -2) + 500
    budget_min = np.round(budget_max * rng.uniform(0.3, 0.9, n_orders), -2)
    age_days = rng.uniform(0, 365, n_orders)
    words = [
        "AI短剧",
        "宣传片",
        "数字人直播",
        "海报设计",
        "跨境电商详情页",
        "短视频剪辑",
        "智能客服",
        "配音",
        "文旅",
        "品牌",
    ]
    methods = ["open_tender", "inquiry", "competitive_consultation", "single_source", "small_direct"]

    def band(amount: float) -> str:
        return "under_100k" if amount <= 100000 else "100k_1m" if amount <= 1000000 else "1m_4m"

    orders: list[dict[str, Any]] = []
    invited: list[tuple[int, int]] = []
    required: list[tuple[int, int]] = []
    for i in range(n_orders):
        oid = i + 1
        status, mode, vis = str(statuses[i]), str(modes[i]), str(visibility[i])
        created = now - dt.timedelta(days=float(age_days[i]) + 1)
        direct_opc = None
        price: Decimal | None = None
        low, high = Decimal(f"{budget_min[i]:.2f}"), Decimal(f"{budget_max[i]:.2f}")
        if mode == OrderMode.DIRECT:
            vis = Visibility.INVITED
            direct_opc = viewer_opc_id if i % 40 == 0 else int(rng.choice(opc_ids))
            invited.append((oid, direct_opc))
            price = ((low + high) / 2).quantize(Decimal("0.01"))
        elif mode == OrderMode.CONTEST:
            price = high
        if vis == Visibility.INVITED and mode != OrderMode.DIRECT:
            chosen = set(rng.choice(opc_ids, size=int(rng.integers(1, 4)), replace=False).tolist())
            if i % 10 == 0:
                chosen.add(viewer_opc_id)
            invited.extend((oid, int(o)) for o in chosen)
        is_proc = bool(procurement[client_of[i]])
        published = (
            None if status == OrderStatus.DRAFT else created + dt.timedelta(hours=float(rng.uniform(1, 48)))
        )
        orders.append(
            {
                "id": oid,
                "client_id": int(client_ids[client_of[i]]),
                "title": f"{words[i % len(words)]} · {words[(i * 7) % len(words)]} 项目 {oid}",
                "description": "需求说明：" + "按验收标准交付。" * 8,
                "category_id": int(categories[i]),
                "budget_min": low,
                "budget_max": high,
                "price": price,
                "deadline": today + dt.timedelta(days=int(rng.integers(-60, 120))),
                "deliverables": "成片 1 部",
                "acceptance_criteria": "时长与画质符合要求",
                "visibility": vis,
                "community_id": communities[i % N_COMMUNITIES].pk if vis == Visibility.COMMUNITY else None,
                "mode": mode,
                "direct_opc_id": direct_opc,
                "status": status,
                "is_procurement": is_proc,
                "procurement_method": methods[i % len(methods)] if is_proc else "",
                "budget_band": band(float(high)) if is_proc else "",
                "escrow_account_id": None,
                "funding_key": "",
                "created_at": created,
                "published_at": published,
                "closed_at": published + dt.timedelta(days=20)
                if published is not None and status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED)
                else None,
            }
        )
        for s in rng.choice(skills, size=int(rng.integers(0, 3)), replace=False):
            if int(s) != int(categories[i]):
                required.append((oid, int(s)))

    # bids, contracts, milestones, entries
    bids: list[dict[str, Any]] = []
    contracts: list[dict[str, Any]] = []
    milestones: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    awarded_states = {
        OrderStatus.AWARDED,
        OrderStatus.IN_PROGRESS,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
    }
    ms_state = {
        OrderStatus.AWARDED: MilestoneStatus.PENDING,
        OrderStatus.IN_PROGRESS: MilestoneStatus.FUNDED,
        OrderStatus.DELIVERED: MilestoneStatus.DELIVERED,
        OrderStatus.COMPLETED: MilestoneStatus.RELEASED,
    }
    for order in orders:
        oid, status, mode = order["id"], order["status"], order["mode"]
        if status == OrderStatus.DRAFT:
            continue
        contractor: int | None = None
        bid_id: int | None = None
        price = order["price"]
        if mode == OrderMode.TENDER:
            n = min(10, int(rng.poisson(2.2)) + (1 if status in awarded_states else 0))
            bidders = rng.choice(opc_ids, size=n, replace=False).tolist() if n else []
            if oid % 25 == 0 and viewer_opc_id not in bidders:
                bidders.append(viewer_opc_id)
            for k, opc in enumerate(bidders):
                amount = (
                    order["budget_min"]
                    + (order["budget_max"] - order["budget_min"]) * Decimal(str(round(rng.uniform(0, 1), 2)))
                ).quantize(Decimal("0.01"))
                amount = max(amount, Decimal("100.00"))
                if status == OrderStatus.OPEN:
                    b_status = str(
                        rng.choice(
                            [BidStatus.SUBMITTED, BidStatus.SHORTLISTED, BidStatus.WITHDRAWN],
                            p=[0.75, 0.15, 0.1],
                        )
                    )
                elif status in awarded_states:
                    b_status = BidStatus.AWARDED if k == 0 else BidStatus.REJECTED
                else:
                    b_status = BidStatus.REJECTED
                bid = {
                    "id": len(bids) + 1,
                    "order_id": oid,
                    "opc_id": int(opc),
                    "price": amount,
                    "timeline_days": int(rng.integers(3, 60)),
                    "plan": "分阶段交付",
                    "status": b_status,
                    "created_by_id": None,
                    "created_at": order["published_at"] + dt.timedelta(hours=k + 1),
                }
                bids.append(bid)
                if b_status == BidStatus.AWARDED:
                    contractor, bid_id, price = int(opc), bid["id"], amount
        elif mode == OrderMode.DIRECT and status in awarded_states:
            contractor = order["direct_opc_id"]
        elif mode == OrderMode.CONTEST:
            n = int(rng.integers(0, 6))
            for k, opc in enumerate(rng.choice(opc_ids, size=n, replace=False).tolist()):
                won = status == OrderStatus.COMPLETED and k == 0
                entries.append(
                    {
                        "id": len(entries) + 1,
                        "order_id": oid,
                        "opc_id": int(opc),
                        "description": "参赛作品说明",
                        "link": "",
                        "status": EntryStatus.WON
                        if won
                        else EntryStatus.NOT_SELECTED
                        if status == OrderStatus.COMPLETED
                        else EntryStatus.SUBMITTED,
                        "payout_key": "",
                        "created_at": order["published_at"] + dt.timedelta(hours=k + 1),
                    }
                )
        if contractor is not None and price is not None and status in awarded_states:
            cid = len(contracts) + 1
            completed = status == OrderStatus.COMPLETED
            contracts.append(
                {
                    "id": cid,
                    "order_id": oid,
                    "bid_id": bid_id,
                    "client_id": order["client_id"],
                    "opc_id": contractor,
                    "price": price,
                    "status": "completed" if completed else "active",
                    "escrow_account_id": None,
                    "created_at": order["published_at"] + dt.timedelta(days=2),
                    "closed_at": order["closed_at"],
                }
            )
            parts = int(rng.integers(1, 4))
            share = (price / parts).quantize(Decimal("0.01"))
            amounts = [share] * (parts - 1) + [price - share * (parts - 1)]
            state = ms_state[status]
            for pos, amount in enumerate(amounts, start=1):
                funded = amount if state != MilestoneStatus.PENDING else Decimal("0.00")
                milestones.append(
                    {
                        "id": len(milestones) + 1,
                        "contract_id": cid,
                        "position": pos,
                        "title": f"第{pos}期",
                        "amount": amount,
                        "due_date": order["deadline"],
                        "acceptance_criteria": order["acceptance_criteria"],
                        "status": state,
                        "revision_rounds": 0,
                        "delivery_note": "",
                        "revision_note": "",
                        "funded_amount": funded,
                        "released_amount": amount if state == MilestoneStatus.RELEASED else Decimal("0.00"),
                        "fee_amount": Decimal("0.00"),
                        "refunded_amount": Decimal("0.00"),
                        "funding_key": "bench" if funded else "",
                        "release_key": "",
                        "funded_at": None,
                        "delivered_at": None,
                        "released_at": None,
                        "auto_released": False,
                    }
                )

    with transaction.atomic():
        copy_rows(Order, orders)
        req = Order.required_skills.through
        copy_rows(req, ({"order_id": o, "skill_id": s} for o, s in required), ["order_id", "skill_id"])
        inv = Order.invited_opcs.through
        copy_rows(
            inv,
            ({"order_id": o, "organisation_id": p} for o, p in sorted(set(invited))),
            ["order_id", "organisation_id"],
        )
        copy_rows(Bid, bids)
        copy_rows(Contract, contracts)
        copy_rows(Milestone, milestones)
        copy_rows(ContestEntry, entries)
        reset_sequences([Order, Bid, Contract, Milestone, ContestEntry])
    with connection.cursor() as cursor:
        # What autovacuum does after a bulk insert in production: planner statistics and the visibility map
        # (index-only scans). Outside a transaction (Django's autocommit).
        cursor.execute("VACUUM ANALYZE")

    # what the viewers will open
    for _user, org in market.viewer_clients:
        market.owner_orders[org.pk] = [(o["id"], o["status"]) for o in orders if o["client_id"] == org.pk]
    bid_on = {b["order_id"] for b in bids if b["opc_id"] == viewer_opc_id}
    contracted = {c["order_id"] for c in contracts if c["opc_id"] == viewer_opc_id}
    invited_to = {o for o, p in invited if p == viewer_opc_id}
    for o in orders:
        why = ""
        if o["id"] in contracted:
            why = "contract"
        elif o["id"] in bid_on:
            why = "bid"
        elif o["status"] == OrderStatus.OPEN and (
            o["visibility"] == Visibility.PUBLIC
            or (o["visibility"] == Visibility.COMMUNITY and o["community_id"] == communities[0].pk)
            or o["id"] in invited_to
        ):
            why = "open"
        if why and o["client_id"] != viewer_opc_id:
            market.opc_visible.append((o["id"], why))
    print(
        f"loaded: orders={len(orders)} bids={len(bids)} contracts={len(contracts)} milestones={len(milestones)} "
        f"entries={len(entries)} required_skills={len(required)} invitations={len(set(invited))} "
        f"clients={len(clients)} opcs={len(opcs)}",
        flush=True,
    )
    return market


# -- measuring -----------------------------------------------------------------------------------------------------


class Scenario:
    def __init__(self, kind: str, label: str, client: Any, url: str) -> None:
        self.kind, self.label, self.client, self.url = kind, label, client, url
        self.times: list[float] = []
        self.queries = 0
        self.sql: list[dict[str, Any]] = []


def scenarios(market: Market, target: str, rng: np.random.Generator) -> list[Scenario]:
    from django.test import Client
    from django.urls import reverse

    def logged_in(user: Any) -> Client:
        c = Client()
        c.force_login(user)
        return c

    anon = Client()
    assert market.viewer_opc is not None
    opc = logged_in(market.viewer_opc[0])
    owners = {org.pk: logged_in(user) for user, org in market.viewer_clients}
    some_client = next(iter(owners.values()))
    if target == "pages":
        browse = reverse("marketplace:browse")

        def detail(pk: int) -> str:
            return reverse("marketplace:order_detail", args=[pk])

        page_param = "page"
    else:
        browse = "/api/marketplace/orders"

        def detail(pk: int) -> str:
            return f"/api/marketplace/orders/{pk}"

        page_param = "offset"

    def page(n: int) -> str:
        return f"{page_param}={n if page_param == 'page' else (n - 1) * 20}"

    queries = [
        "",
        f"?{page(2)}",
        f"?{page(50)}",
        "?category=design",
        "?mode=contest",
        "?budget_min=5000&budget_max=20000",
        "?q=%E6%B5%B7%E6%8A%A5",  # 海报
        f"?category=ai-short-drama&{page(3)}",
    ]
    out = [Scenario("list", f"anon {q or 'page 1'}", anon, browse + q) for q in queries]
    out += [Scenario("list", f"opc {q or 'page 1'}", opc, browse + q) for q in queries]
    out += [Scenario("list", f"client {q or 'page 1'}", some_client, browse + q) for q in queries[:4]]

    # detail: every state, by the owner; every reason, by the OPC
    for org_id, rows in market.owner_orders.items():
        by_status: dict[str, list[int]] = {}
        for pk, status in rows:
            by_status.setdefault(status, []).append(pk)
        for status, pks in sorted(by_status.items()):
            pk = int(rng.choice(pks))
            out.append(Scenario("detail", f"owner {status} #{pk}", owners[org_id], detail(pk)))
    by_reason: dict[str, list[int]] = {}
    for pk, why in market.opc_visible:
        by_reason.setdefault(why, []).append(pk)
    for why, pks in sorted(by_reason.items()):
        for pk in rng.choice(pks, size=min(12, len(pks)), replace=False):
            out.append(Scenario("detail", f"opc {why} #{pk}", opc, detail(int(pk))))
    if target == "pages":
        # the recommended OPCs, which the client's order page loads as an htmx fragment (reported on its
        # own line, not part of the final line)
        for org_id, rows in market.owner_orders.items():
            open_ones = [pk for pk, status in rows if status == "open"]
            for pk in rng.choice(open_ones, size=min(2, len(open_ones)), replace=False):
                url = reverse("marketplace:order_recommendations", args=[int(pk)])
                out.append(Scenario("recommendations", f"owner #{pk}", owners[org_id], url))
    return out


def measure(items: list[Scenario], repeat: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for s in items:
        response = s.client.get(s.url)  # warm-up (and a check)
        if response.status_code != 200:
            raise SystemExit(f"{s.label}: {s.url} answered {response.status_code}")
        with CaptureQueriesContext(connection) as ctx:
            s.client.get(s.url)
        s.queries = len(ctx.captured_queries)
        s.sql = list(ctx.captured_queries)
    for _round in range(repeat):
        for s in items:
            t0 = time.perf_counter()
            s.client.get(s.url)
            s.times.append((time.perf_counter() - t0) * 1000)


def p95(values: Sequence[float]) -> float:
    return float(np.percentile(np.asarray(values), 95))


def explain(s: Scenario) -> None:
    from django.db import connection

    slowest = max(s.sql, key=lambda q: float(q.get("time") or 0))
    print(f"\n-- EXPLAIN ANALYZE of the slowest query of “{s.label}” ({s.url}), {slowest['time']} s:")
    print(slowest["sql"][:2000])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        for (line,) in cursor.fetchall():
            print("   ", line)


def report(items: list[Scenario], kind: str, show: Callable[[str], None]) -> tuple[float, int]:
    chosen = [s for s in items if s.kind == kind]
    times = [t for s in chosen for t in s.times]
    show(
        f"{kind}: n={len(times)} p50={statistics.median(times):.1f} ms p95={p95(times):.1f} ms max={max(times):.1f} ms"
    )
    for s in sorted(chosen, key=lambda s: -p95(s.times))[:6]:
        show(f"   {p95(s.times):7.1f} ms p95  {s.queries:3d} queries  {s.label}  {s.url}")
    return p95(times), max(s.queries for s in chosen)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--target", choices=["pages", "api", "auto"], default="auto")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    server, name, url = scratch_database(os.environ.get("DATABASE_URL", "").strip() or DEFAULT_SERVER)
    _admin(server, f'DROP DATABASE IF EXISTS "{name}"')
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        t0 = time.perf_counter()
        setup_django(url)
        print(f"migrated {name} in {time.perf_counter() - t0:.1f} s", flush=True)
        from django.urls import NoReverseMatch, reverse

        target = args.target
        if target == "auto":
            try:
                reverse("marketplace:browse")
                target = "pages"
            except NoReverseMatch:
                target = "api"
        t0 = time.perf_counter()
        market = load_market(args.orders, args.seed)
        print(f"loaded in {time.perf_counter() - t0:.1f} s; measuring {target}", flush=True)
        items = scenarios(market, target, np.random.default_rng(args.seed))
        measure(items, args.repeat)
        list_p95, list_q = report(items, "list", print)
        detail_p95, detail_q = report(items, "detail", print)
        if any(s.kind == "recommendations" for s in items):
            report(items, "recommendations", print)
        if args.explain:
            for kind in ("list", "detail"):
                explain(max((s for s in items if s.kind == kind), key=lambda s: p95(s.times)))
        from django.db import connections

        connections.close_all()
        prefix = "pages" if target == "pages" else "pages(api)"
        print(
            f"{prefix}: orders={args.orders} list_p95_ms={list_p95:.1f} detail_p95_ms={detail_p95:.1f} "
            f"queries_list={list_q} queries_detail={detail_q}"
        )
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
