"""Demo market (``make demo``): about thirty orders from the three demo clients across categories and modes,
procurement-zone orders of the government department and the SOE, bids, contracts in progress with funded
escrow, one completed contract, one dispute, one contest, one direct offer and a dispatch run — all made
through ``marketplace.services`` (funding through the clearly named ``FakePaymentProvider``), so the books are
real. ``opc@demo.cn`` (十万光年工作室) has something to do: a funded milestone to deliver, a delivery waiting
for the client, a direct offer to answer and a contest to enter.

Runs once per database inside ``core.demo.load_demo`` (after the base demo); it does nothing when the demo
clients already have orders.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.models import User
from marketplace import services
from marketplace.models import AcceptanceTemplate, Contract, Order, OrderMode
from marketplace.services import MilestoneSpec
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill

TEMPLATES = {
    "ai-short-drama": (
        "成片（竖屏 9:16，1080p 以上）；分集剧本；字幕文件；素材与版权清单",
        "每集时长符合约定；画面无水印、无明显 AI 瑕疵；配音与字幕一致；素材来源可追溯、可商用",
    ),
    "digital-human-live": (
        "数字人形象与声音授权；直播脚本；直播间搭建；场次数据报告",
        "形象与品牌规范一致；直播稳定无中断；话术经客户确认；按约定场次完成",
    ),
    "aigc-video": (
        "成片；分镜脚本；工程文件",
        "时长与分辨率符合约定；无水印；修改不超过两轮",
    ),
    "design": (
        "源文件（AI/PSD/Figma）；导出图；字体与图片授权说明",
        "尺寸与规范符合约定；素材授权清晰；修改不超过三轮",
    ),
    "agent-dev": (
        "可部署的智能体/工具；源代码；部署与使用说明；测试记录",
        "功能点全部通过验收用例；数据不出约定范围；交付后 30 天缺陷免费修复",
    ),
    "copywriting": ("文案正文；标题备选；发布排期建议", "原创，查重通过；符合品牌调性；修改不超过两轮"),
}

# client key, title, category, budget from, budget to, mode, price/reward, procurement method, deadline days
ORDERS: list[tuple[str, str, str, int, int, str, int | None, str, int]] = [
    ("ent", "天一阁文旅宣传 AI 短剧（3 集）", "ai-short-drama", 20000, 40000, "tender", None, "", 45),
    ("ent", "东钱湖景区数字人导览主播", "digital-human-live", 15000, 30000, "tender", None, "", 40),
    ("ent", "夏季文旅节 AIGC 宣传片", "aigc-video", 8000, 15000, "tender", None, "", 30),
    ("ent", "文创礼盒包装设计", "design", 5000, 12000, "tender", None, "", 25),
    ("ent", "客服智能体（票务问答）", "agent-dev", 30000, 60000, "tender", None, "", 60),
    ("ent", "公众号文旅专栏 10 篇", "copywriting", 3000, 6000, "tender", None, "", 20),
    ("ent", "城市宣传海报悬赏", "design", 3000, 8000, "contest", 6000, "", 20),
    ("ent", "景区短视频脚本悬赏", "copywriting", 1000, 3000, "contest", 2000, "", 15),
    ("ent", "老外滩夜游 AI 短剧（指定）", "ai-short-drama", 10000, 20000, "direct", 16000, "", 35),
    ("ent", "跨境文创店铺运营方案", "cross-border-ecommerce", 6000, 12000, "tender", None, "", 30),
    ("ent", "品牌 IP 三维形象建模", "3d-modeling", 8000, 18000, "tender", None, "", 40),
    ("ent", "AI 配乐（宣传片 5 首）", "ai-music-audio", 4000, 9000, "tender", None, "", 30),
    (
        "gov",
        "海曙非遗文化 AI 短剧系列（政府采购）",
        "ai-short-drama",
        80000,
        150000,
        "tender",
        None,
        "competitive_consultation",
        60,
    ),
    ("gov", "文化惠民数字人讲解员", "digital-human-live", 50000, 90000, "tender", None, "inquiry", 50),
    ("gov", "全民健身宣传片", "aigc-video", 30000, 60000, "tender", None, "small_direct", 30),
    ("gov", "公共文化场馆预约智能体", "agent-dev", 200000, 400000, "tender", None, "open_tender", 90),
    (
        "gov",
        "文旅局新媒体年度运营",
        "new-media-ops",
        120000,
        200000,
        "tender",
        None,
        "competitive_negotiation",
        75,
    ),
    ("gov", "非遗纹样数字化设计", "design", 20000, 50000, "tender", None, "inquiry", 40),
    ("gov", "文化场馆 AI 导览配音", "ai-music-audio", 10000, 30000, "tender", None, "small_direct", 30),
    ("gov", "政务短视频字幕与剪辑", "film-post-production", 15000, 40000, "tender", None, "inquiry", 30),
    ("soe", "城投数字孪生展示片", "aigc-video", 150000, 300000, "tender", None, "invited_tender", 70),
    ("soe", "智慧园区运维智能体", "agent-dev", 1200000, 2000000, "tender", None, "open_tender", 120),
    ("soe", "集团品牌焕新 VI 设计", "design", 60000, 120000, "tender", None, "competitive_consultation", 60),
    ("soe", "园区招商数字人主播", "digital-human-live", 40000, 80000, "tender", None, "single_source", 45),
    (
        "soe",
        "数据标注（园区监控场景 2 万张）",
        "data-annotation",
        30000,
        50000,
        "tender",
        None,
        "inquiry",
        40,
    ),
    ("soe", "城投年报 AI 短片", "ai-short-drama", 50000, 90000, "tender", None, "small_direct", 35),
    ("soe", "员工 AI 应用培训（4 期）", "education-training", 20000, 40000, "tender", None, "inquiry", 45),
    ("soe", "城市更新三维建模", "3d-modeling", 4000000, 6000000, "tender", None, "open_tender", 150),
    ("ent", "导游 AI 教培课程录制（草稿）", "education-training", 8000, 15000, "tender", None, "", 50),
    ("ent", "跨年活动直播（已取消）", "digital-human-live", 6000, 9000, "tender", None, "", 25),
]

CLIENTS = {
    "ent": "client@demo.cn",
    "gov": "gov-client@demo.cn",
    "soe": "soe@demo.cn",
}


def _org_of(email: str) -> tuple[Organisation, User]:
    user = User.objects.get(email=email)
    membership = user.memberships.select_related("organisation").order_by("pk").first()
    assert membership is not None
    return membership.organisation, user


def _days(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def _key(*parts: Any) -> str:
    return "demo-" + "-".join(str(p) for p in parts)


def load(rng: random.Random) -> None:
    if not User.objects.filter(email="client@demo.cn").exists():
        return  # no base demo in this database
    clients = {key: _org_of(email) for key, email in CLIENTS.items()}
    if Order.objects.filter(client__in=[org for org, _ in clients.values()]).exists():
        return
    skills = {s.code: s for s in Skill.objects.all()}
    for code, (deliverables, criteria) in TEMPLATES.items():
        if code in skills:
            AcceptanceTemplate.objects.get_or_create(
                category=skills[code],
                defaults={"deliverables": deliverables, "acceptance_criteria": criteria},
            )

    star, star_user = _org_of("opc@demo.cn")
    profile = star.opc_profile
    profile.capacity = max(profile.capacity, 4)
    profile.save(update_fields=["capacity"])
    profile.skills.add(skills["ai-short-drama"], skills["aigc-video"])
    others = list(
        Organisation.objects.filter(kind=OrgKind.OPC, home_community__isnull=False)
        .exclude(pk=star.pk)
        .select_related("opc_profile", "home_community")
        .order_by("pk")
    )
    verified = [o for o in others if o.is_verified]
    for org in verified[:12]:  # the bidders below take on at most a few contracts each
        if org.opc_profile.capacity < 2:
            org.opc_profile.capacity = 2
            org.opc_profile.save(update_fields=["capacity"])

    orders: dict[str, Order] = {}
    for client_key, title, code, low, high, mode, price, method, days in ORDERS:
        client, user = clients[client_key]
        order = services.post_order(
            client=client,
            actor=user,
            title=title,
            category=skills[code],
            description=f"{client.name}：{title}。详见验收标准，欢迎有相关作品的一人公司报价。",
            budget_min=Decimal(low),
            budget_max=Decimal(high),
            deadline=_days(days),
            mode=mode,
            price=Decimal(price) if price else None,
            direct_opc=star if mode == OrderMode.DIRECT else None,
            procurement_method=method,
        )
        orders[title] = order
        if "草稿" not in title:
            services.publish_order(
                order=order, client=client, actor=user, idempotency_key=_key("pub", order.pk)
            )

    def bids_on(title: str, opcs: list[Organisation], base: int) -> list[Any]:
        order = orders[title]
        placed = []
        for i, opc in enumerate(opcs):
            price = Decimal(base + i * rng.choice([500, 800, 1200]))
            price = min(max(price, order.budget_min), order.budget_max)
            placed.append(
                services.submit_bid(
                    order=order,
                    opc=opc,
                    actor=None,
                    price=price,
                    timeline_days=rng.randint(10, 30),
                    plan="需求沟通 → 方案/脚本 → 制作 → 交付与修改。附往期作品链接。",
                )
            )
        return placed

    def award(title: str, bid: Any, parts: list[tuple[str, int]]) -> Contract:
        order = orders[title]
        client, user = next((c, u) for c, u in clients.values() if c.pk == order.client_id)
        milestones = [
            MilestoneSpec(
                name, Decimal(bid.price) * share / 100, _days(10 * (n + 1)), order.acceptance_criteria
            )
            for n, (name, share) in enumerate(parts)
        ]
        return services.award_bid(order=order, bid=bid, client=client, actor=user, milestones=milestones)

    def fund(contract: Contract, position: int) -> Any:
        milestone = contract.milestones.get(position=position)
        client, user = next((c, u) for c, u in clients.values() if c.pk == contract.client_id)
        return services.fund_milestone(
            milestone=milestone, client=client, actor=user, idempotency_key=_key("fund", milestone.pk)
        )

    # 1. 十万光年 (opc@demo.cn) won the enterprise's short drama: script accepted, episode one delivered
    #    and waiting for the client, episodes two and three to come.
    drama = "天一阁文旅宣传 AI 短剧（3 集）"
    drama_bids = bids_on(drama, [star, *verified[0:2]], 28000)
    contract = award(drama, drama_bids[0], [("剧本与分镜", 30), ("第 1 集成片", 35), ("第 2、3 集成片", 35)])
    script = fund(contract, 1)
    services.deliver_milestone(milestone=script, opc=star, actor=star_user, note="剧本与分镜已上传。")
    services.accept_milestone(
        milestone=script, client=contract.client, actor=None, idempotency_key=_key("accept", script.pk)
    )
    first = fund(contract, 2)
    services.deliver_milestone(milestone=first, opc=star, actor=star_user, note="第 1 集成片，见网盘链接。")

    # 2. 十万光年 also works for the SOE: the first milestone is funded and waits for its delivery.
    annual = "城投年报 AI 短片"
    annual_bids = bids_on(annual, [star, verified[2]], 60000)
    fund(award(annual, annual_bids[0], [("样片", 40), ("成片", 60)]), 1)

    # 3. A completed contract (another OPC, the government's fitness film).
    fitness = "全民健身宣传片"
    fit_bids = bids_on(fitness, verified[3:5], 36000)
    done = award(fitness, fit_bids[0], [("成片", 100)])
    m = fund(done, 1)
    services.deliver_milestone(milestone=m, opc=done.opc, actor=None, note="成片与工程文件已交付。")
    services.accept_milestone(
        milestone=m, client=done.client, actor=None, idempotency_key=_key("accept", m.pk)
    )

    # 4. A dispute: the enterprise disputes the packaging design; the operator has to decide.
    boxes = "文创礼盒包装设计"
    box_bids = bids_on(boxes, verified[5:7], 8000)
    disputed = award(boxes, box_bids[0], [("设计稿", 100)])
    m = fund(disputed, 1)
    services.deliver_milestone(milestone=m, opc=disputed.opc, actor=None, note="三套方案。")
    services.open_dispute(
        milestone=m, party=disputed.client, actor=None, reason="方案与品牌规范不符，且未提供字体授权说明。"
    )

    # 5. Open tenders with bids (including a shortlisted one), waiting for the clients to award.
    for title, opcs, base in (
        ("东钱湖景区数字人导览主播", verified[7:10], 18000),
        ("客服智能体（票务问答）", verified[8:11], 35000),
        ("海曙非遗文化 AI 短剧系列（政府采购）", [*verified[0:2], verified[9]], 95000),
        ("智慧园区运维智能体", verified[10:12], 1300000),
    ):
        placed = bids_on(title, opcs, base)
        order = orders[title]
        client = next(c for c, _u in clients.values() if c.pk == order.client_id)
        services.shortlist_bid(bid=placed[0], client=client, actor=None)

    # 6. A contest with two entries (十万光年 may still enter); the direct order waits for 十万光年.
    poster = orders["城市宣传海报悬赏"]
    for opc, text in (
        (verified[3], "方案一：天一阁藏书意象，水墨风。"),
        (verified[4], "方案二：三江口夜景，赛博朋克风。"),
    ):
        services.submit_contest_entry(order=poster, opc=opc, actor=None, description=text)

    # 7. One cancelled order; a dispatch run offers the open tenders to matching OPCs.
    cancelled = orders["跨年活动直播（已取消）"]
    services.cancel_order(order=cancelled, client=cancelled.client, actor=None, reason="活动取消")
    from dispatch.services import run_batch_dispatch

    run_batch_dispatch(actor=None)
