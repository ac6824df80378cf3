"""Demo events (``make demo``), from the seeds: Wenzhou's resource-matching event (资源对接会) at 温州国际云软件谷,
planned in under five days, drew 120 sign-ups for 40 seats; investors and industry parties came with
cheques and orders; a 1:1 meeting schedule is computed and published. A first matching event of the Haishu
communities took place last month, with its outcomes (a drafted order, an investment intent) recorded. A
video competition of the Yongjia communities has its results and winners' badges.

Everything goes through ``events.services`` (the past event is created ahead and then moved back in time,
as an organiser would correct the dates), so the audit trail is real. Runs once per database inside
``core.demo.load_demo``; does nothing when the demo event already exists.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import User
from events import services
from events.models import Event, EventKind, EventStatus, Registration, RegistrationRole
from organisations.capabilities import OrgKind
from organisations.models import Membership, Organisation, Skill

MATCHING_TITLE = "温州OPC资源对接会"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉斌宇浩凯晨瑞嘉琪欣怡子轩梓涵一诺宇航思远"
# name, organisation, role, interests, ticket from, ticket to, orders brought, value of orders
HOSTS: list[tuple[str, str, str, list[str], int | None, int | None, str, int | None]] = [
    ("林总", "瓯江创投基金", "investor", ["ai-short-drama", "aigc-video"], 500_000, 3_000_000, "", None),
    (
        "郑合伙人",
        "温州数字经济产业基金",
        "investor",
        ["agent-dev", "compute-services"],
        1_000_000,
        10_000_000,
        "",
        None,
    ),
    (
        "黄经理",
        "楠溪江文旅集团",
        "industry",
        ["aigc-video", "digital-human-live"],
        None,
        None,
        "景区宣传片 6 条、数字人导览 1 套",
        480_000,
    ),
    (
        "吴主任",
        "永嘉县融媒体中心",
        "industry",
        ["new-media-ops", "copywriting"],
        None,
        None,
        "政务短视频年度服务",
        300_000,
    ),
    (
        "陈总",
        "温州鞋业出海联盟",
        "industry",
        ["cross-border-ecommerce", "design"],
        None,
        None,
        "跨境店铺视觉与直播代运营",
        650_000,
    ),
    (
        "蔡行长",
        "温州某银行科技支行",
        "investor",
        ["agent-dev", "cross-border-ecommerce"],
        200_000,
        2_000_000,
        "订单贷：以在手订单授信",
        None,
    ),
    (
        "周总",
        "鹿城天使投资人俱乐部",
        "investor",
        ["ai-short-drama", "game-dev"],
        300_000,
        1_500_000,
        "",
        None,
    ),
    (
        "孙经理",
        "乐清电气集团",
        "industry",
        ["agent-dev", "3d-modeling"],
        None,
        None,
        "设备说明三维动画与客服智能体",
        420_000,
    ),
    ("金总", "瓯海科创投资", "investor", ["design", "ai-music-audio"], 200_000, 1_000_000, "", None),
    (
        "叶经理",
        "温州文化旅游投资集团",
        "industry",
        ["ai-short-drama", "aigc-video"],
        None,
        None,
        "城市品牌 AI 短剧 3 集",
        360_000,
    ),
]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _owner(org: Organisation) -> User | None:
    membership = Membership.objects.filter(organisation=org).select_related("user").order_by("pk").first()
    return membership.user if membership else None


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice([1, 2])))


def load(rng: random.Random) -> None:
    if Event.objects.filter(title=MATCHING_TITLE).exists():
        return
    wenzhou = Organisation.objects.filter(kind=OrgKind.OPERATOR, name="温州OPC创业社区运营方").first()
    haishu = Organisation.objects.filter(kind=OrgKind.OPERATOR, name="海曙区AiOPC社区运营中心").first()
    if wenzhou is None or haishu is None:
        return
    skills = {s.code: s for s in Skill.objects.all()}
    _matching_event(rng, wenzhou, skills)
    _past_event(rng, haishu, skills)
    _competition(rng, wenzhou)


def _matching_event(rng: random.Random, operator: Organisation, skills: dict[str, Skill]) -> None:
    actor = _owner(operator)
    venue = operator.operated_communities.filter(name="温州国际云软件谷").first()
    day = timezone.localtime() + dt.timedelta(days=4)
    starts = day.replace(hour=13, minute=30, second=0, microsecond=0)
    event = services.create_event(
        organiser=operator,
        actor=actor,
        community=venue,
        title=MATCHING_TITLE,
        kind=EventKind.MATCHMAKING,
        venue="温州国际云软件谷 3 号楼路演厅",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=5),
        capacity=40,
        roadshow_slots=6,
        agenda="13:30 签到\n14:00 政策解读：OPC 扶持与词元额度\n14:30 OPC 项目路演（6 个）\n15:30 一对一资源对接（8 轮 × 15 分钟）\n17:30 自由交流",
        description="资本、产业方带着订单与资金来，一人公司带着作品与方案来。席位 40 个，满员后进入候补，有人取消时按报名顺序自动递补。",
        meetings_start=starts + dt.timedelta(hours=2),
        meeting_slots=8,
        slot_minutes=15,
        tables=10,
        meetings_per_attendee=3,
    )
    services.set_event_status(event=event, target=EventStatus.PUBLISHED, actor=actor)
    hosts = []
    for name, org_name, role, interests, low, high, orders, value in HOSTS:
        hosts.append(
            services.register(
                event=event,
                name=name,
                actor=actor,
                organisation_name=org_name,
                role=role,
                interests=[skills[c] for c in interests if c in skills],
                host=services.HostDetails(
                    ticket_min=low, ticket_max=high, brings_orders=orders, orders_value=value
                ),
                invited_by_organiser=True,
            )
        )
    opcs = list(
        Organisation.objects.filter(kind=OrgKind.OPC, home_community__operator=operator).order_by("pk")
    ) + list(
        Organisation.objects.filter(kind=OrgKind.OPC)
        .exclude(home_community__operator=operator)
        .order_by("pk")
    )
    attendees: list[Registration] = []
    members = opcs[:36]
    rng.shuffle(members)
    for i in range(120):
        if i % 3 == 0 and members:
            org = members.pop()
            user = _owner(org)
            if user is not None:
                attendees.append(
                    services.register(event=event, name=user.display_name, actor=user, organisation=org)
                )
                continue
        attendees.append(
            services.register(
                event=event,
                name=_person(rng),
                actor=None,
                contact=f"137{rng.randrange(10**8):08d}",
                organisation_name=rng.choice(["", "", "个人创作者", "自由职业", "在校学生团队"]),
                interests=rng.sample(list(skills.values()), 2),
            )
        )
    for reg in attendees[:40]:
        wanted = rng.sample(hosts, rng.randint(2, 4))
        services.update_preferences(
            registration=reg, actor=reg.user, ratings={h.pk: rng.randint(1, 3) for h in wanted}
        )
        if rng.random() < 0.25:
            start = rng.randint(0, 3)
            services.update_preferences(
                registration=reg, actor=reg.user, available_slots=list(range(start, 8))
            )
    confirmed = [r for r in attendees if r.status == "confirmed"]
    for host in hosts:
        services.update_preferences(
            registration=host,
            actor=actor,
            ratings={r.pk: rng.randint(1, 3) for r in rng.sample(confirmed, min(8, len(confirmed)))},
        )
    # Two people cannot come after all: the first two on the waitlist move up.
    for reg in attendees[3:5]:
        services.cancel_registration(registration=reg, actor=reg.user)
    for org in opcs[:12]:
        if org.kind == OrgKind.OPC and rng.random() < 0.6:
            user = _owner(org)
            services.apply_for_roadshow(
                event=event,
                organisation=org,
                actor=user,
                title=f"{org.name}：AI 作品与服务",
                pitch="团队 1–3 人，AI 工具链完整，已交付文旅、电商客户项目；寻求订单与天使轮资金。",
                deck=SimpleUploadedFile("deck.pdf", PDF),
            )
    for application in event.roadshow_applications.order_by("created_at")[:6]:
        services.decide_application(application=application, target="selected", actor=actor)
    run = services.run_scheduler(event=event, actor=actor)
    services.publish_schedule(run=run, actor=actor)


def _past_event(rng: random.Random, operator: Organisation, skills: dict[str, Skill]) -> None:
    actor = _owner(operator)
    labo = operator.operated_communities.filter(name="海曙OPC云创Labo").first()
    ahead = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=14, minute=0, second=0, microsecond=0)
    event = services.create_event(
        organiser=operator,
        actor=actor,
        community=labo,
        title="海曙区 OPC 资源对接会（第一期）",
        kind=EventKind.MATCHMAKING,
        venue="海曙OPC云创Labo 一楼报告厅",
        starts_at=ahead,
        ends_at=ahead + dt.timedelta(hours=4),
        capacity=60,
        agenda="14:00 签到\n14:30 产业方发布需求\n15:30 自由对接",
    )
    services.set_event_status(event=event, target=EventStatus.PUBLISHED, actor=actor)
    client = Organisation.objects.filter(name="宁波甬优文旅科技有限公司").first()
    bank = Organisation.objects.filter(name="宁波某银行科技支行").first()
    people: list[tuple[Organisation, str]] = []
    if client is not None:
        people.append((client, RegistrationRole.INDUSTRY))
    if bank is not None:
        people.append((bank, RegistrationRole.INVESTOR))
    for org in Organisation.objects.filter(kind=OrgKind.OPC, home_community=labo).order_by("pk")[:20]:
        people.append((org, RegistrationRole.ATTENDEE))
    regs: dict[int, Registration] = {}
    for org, role in people:
        user = _owner(org)
        if user is None:
            continue
        regs[org.pk] = services.register(
            event=event,
            name=user.display_name,
            actor=user,
            organisation=org,
            role=role,
            host=services.HostDetails(ticket_min="100000", ticket_max="1000000")
            if role == "investor"
            else None,
        )
    for reg in list(regs.values())[: max(0, len(regs) - 3)]:
        services.check_in(event=event, code_text=_ticket(reg), actor=actor)
    past = (timezone.localtime() - dt.timedelta(days=30)).replace(hour=14, minute=0, second=0, microsecond=0)
    services.update_event(
        event=event, actor=actor, values={"starts_at": past, "ends_at": past + dt.timedelta(hours=4)}
    )
    services.set_event_status(event=event, target=EventStatus.CLOSED, actor=actor)
    if client is not None and client.pk in regs and "aigc-video" in skills:
        services.draft_order_for_client(
            event=event,
            client=client,
            actor=actor,
            title="对接会成果：月湖景区 AIGC 宣传短片 3 条",
            category=skills["aigc-video"],
            budget_min=Decimal("18000"),
            budget_max=Decimal("36000"),
            deadline=timezone.localdate() + dt.timedelta(days=40),
            description="在第一期资源对接会上与社区 OPC 当面沟通形成的需求。",
        )
    star = Organisation.objects.filter(name="十万光年工作室").first()
    investor = regs.get(bank.pk) if bank is not None else None
    if star is not None and star.pk in regs:
        services.record_intent(
            event=event,
            opc=star,
            actor=actor,
            amount=Decimal("800000.00"),
            investor=investor,
            investor_name="" if investor else "甬江创投",
            terms="订单贷授信意向：以在手订单为依据，授信 80 万元，期限 12 个月。不涉及个人 IP 与未来作品权利。",
            term_sheet=SimpleUploadedFile("意向书.pdf", PDF),
        )


def _ticket(reg: Registration) -> str:
    from events import tickets

    return tickets.sign(reg.code)


def _competition(rng: random.Random, operator: Organisation) -> None:
    actor = _owner(operator)
    comp = services.create_competition(
        organiser=operator,
        actor=actor,
        title="永嘉·楠溪江 AI 视频创作大赛",
        theme="用 AI 讲楠溪江的故事",
        description="面向一人公司与微团队的 AI 视频大赛。作品登记版权，评委按量规打分，获奖者获得徽章与产业方订单推荐。",
        rules="时长 1–3 分钟；须为原创；使用的 AI 工具与素材来源需在说明中列明。",
        submissions_close=timezone.localdate(),
    )
    for name, weight, desc in (
        ("创意", "40", "选题与表达的新意"),
        ("叙事", "30", "故事结构与节奏"),
        ("技术", "20", "画面、声音与 AI 工具运用"),
        ("传播", "10", "在短视频平台的传播潜力"),
    ):
        services.add_criterion(
            competition=comp, actor=actor, name=name, weight=weight, max_score=10, description=desc
        )
    for award, first, last, prize in (
        ("一等奖", 1, 1, "¥20,000 与产业方订单推荐"),
        ("二等奖", 2, 3, "¥8,000"),
        ("优秀奖", 4, 6, "¥2,000"),
    ):
        services.add_award(
            competition=comp, actor=actor, name=award, rank_from=first, rank_to=last, prize=prize
        )
    judges = list(User.objects.filter(email__in=["client@demo.cn", "copyright@demo.cn", "lawyer@demo.cn"]))
    for user in judges:
        services.add_judge(competition=comp, user=user, actor=actor)
    services.set_competition_status(competition=comp, target="open", actor=actor)
    entrants = [o for o in Organisation.objects.filter(kind=OrgKind.OPC).order_by("pk") if _owner(o)][:12]
    favourite = Organisation.objects.filter(name="归去来兮影像工作室").first()
    if favourite is not None and favourite not in entrants:
        entrants.append(favourite)
    entries: list[Any] = []
    for i, org in enumerate(entrants):
        entries.append(
            services.submit_entry(
                competition=comp,
                organisation=org,
                actor=_owner(org),
                title=rng.choice(["楠溪江的清晨", "古村落的一天", "江心屿之夜", "山水与人", "永嘉书院"])
                + f" #{i + 1}",
                description="AI 生成画面 + 实拍素材混剪；配乐 AI 生成。",
                link=f"https://video.example.cn/nanxi/{i + 1}",
            )
        )
    services.set_competition_status(competition=comp, target="judging", actor=actor)
    criteria = list(comp.criteria.all())
    for entry in entries:
        base = 9 if favourite is not None and entry.organisation_id == favourite.pk else rng.randint(4, 8)
        for judge in judges:
            values = {c.pk: max(0, min(10, base + rng.randint(-1, 1))) for c in criteria}
            services.score_submission(submission=entry, user=judge, values=values, comment="")
    services.publish_results(competition=comp, actor=actor)
