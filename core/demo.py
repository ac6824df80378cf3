"""Demo data from the seeds: Haishu's distributed AiOPC communities (白云街道 OPC 云创 Labo with 67
workstations, 江夏必择 for AI cross-border e-commerce, six more) and Wenzhou's 永嘉·麦腾智联科创园 and 国际云软件谷;
about 60 OPCs across the skill taxonomy, clients and providers of every kind, one authority.

Figures from the seeds: Haishu plans 14 communities, 8 built, 300+ workstations; the Baiyun building holds 67.
Company names other than those quoted in the seeds are invented for the demo. ``load_demo`` is idempotent.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import transaction
from stdnum.cn import uscc as uscc_mod

from accounts.models import User
from communities.models import Community, CommunityNetwork, LandUse, Residency, Workstation, WorkstationStatus
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import OPCProfile, Organisation, Skill, TalentLevel, VerificationStatus
from organisations.services import create_organisation

DEMO_PASSWORD = "opchub-demo-2026"
MARKER = "海曙区AiOPC社区运营中心"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@dataclass(frozen=True)
class DemoLogin:
    role: str
    login: str
    organisation: str


def demo_uscc(n: int, region: str = "330203") -> str:
    body = "91" + region + "MA2" + "".join(_USCC_ALPHABET[(n // 31**i) % 31] for i in range(6))
    return body + uscc_mod.calc_check_digit(body)


def _user(name: str, email: str, phone: str | None = None) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        # One argon2 hash for every demo account (hashing ~75 passwords one by one takes half a minute).
        user = User.objects.create(
            email=email, phone=phone, display_name=name, password=_demo_password_hash()
        )
    return user


@functools.cache
def _demo_password_hash() -> str:
    return make_password(DEMO_PASSWORD)


HAISHU_COMMUNITIES = [
    # name, district street, land use, workstations, positioning, sector codes
    (
        "海曙OPC云创Labo",
        "白云街道",
        LandUse.EDUCATION,
        67,
        "AI短剧影视为主，广泛吸纳各类AI微型创业主体",
        ["ai-short-drama", "aigc-video", "digital-human-live"],
    ),
    ("江夏必择OPC社区", "江厦街道", LandUse.OFFICE, 40, "主打AI跨境电商", ["cross-border-ecommerce"]),
    ("鼓楼AiOPC社区", "鼓楼街道", LandUse.EDUCATION, 36, "综合性平台", ["design", "agent-dev"]),
    ("南门AiOPC社区", "南门街道", LandUse.WAREHOUSE, 34, "综合性平台", ["new-media-ops"]),
    ("西门AiOPC社区", "西门街道", LandUse.EDUCATION, 32, "综合性平台", ["agent-dev"]),
    ("段塘AiOPC社区", "段塘街道", LandUse.WAREHOUSE, 30, "综合性平台", ["design", "3d-modeling"]),
    ("望春AiOPC社区", "望春街道", LandUse.OFFICE, 34, "综合性平台", ["compute-services"]),
    ("石碶AiOPC社区", "石碶街道", LandUse.INDUSTRIAL, 30, "综合性平台", ["marketing"]),
]
WENZHOU_COMMUNITIES = [
    (
        "永嘉·麦腾智联科创园",
        "温州市",
        "永嘉县",
        LandUse.OFFICE,
        40,
        "AI视频与影视创作、楠溪江生态出海",
        ["aigc-video", "ai-short-drama"],
    ),
    (
        "温州国际云软件谷",
        "温州市",
        "鹿城区",
        LandUse.OFFICE,
        60,
        "软件与AI应用，资源对接会举办地",
        ["agent-dev", "design", "cross-border-ecommerce"],
    ),
]

OPC_NAMES = [
    "十万光年",
    "晟创力拓数字人",
    "澜屿影视派单",
    "玄微项目工坊",
    "甬上AI短剧社",
    "月湖数字人助农",
    "天一阁文创AI",
    "三江口出海",
    "鼓楼智能体实验室",
    "南塘AIGC工作室",
    "慈城新媒体",
    "老外滩设计",
    "东钱湖视觉",
    "四明山算力",
    "镇海跨境小店",
    "北仑剪辑",
    "奉化水蜜桃直播",
    "象山影视基地OPC",
    "宁海智能客服",
    "余姚阳明文旅",
    "楠溪江出海",
    "瓯江短剧",
    "雁荡山视频",
    "永嘉书院AI",
    "江心屿设计",
    "五马街新媒体",
    "温州鞋履跨境",
    "乐清电气AI",
    "瑞安智能体",
    "平阳宠物内容",
    "苍南AI配音",
    "文成山水视频",
    "泰顺廊桥三维",
    "洞头海岛直播",
    "鹿城AI教育",
    "瓯海数据标注",
    "龙湾游戏开发",
    "归去来兮影像",
    "海曙音乐工坊",
    "云创提示词工程",
    "天封塔文案",
    "日湖品牌策划",
    "月光AI绘本",
    "甬江数字孪生",
    "小白鲸AI短片",
    "青柠跨境选品",
    "墨鱼设计",
    "纸鸢动画",
    "蓝鲸智能体",
    "长风营销",
    "星火字幕",
    "山海AI音频",
    "拾光摄影AI",
    "方寸UI",
    "繁星直播间",
    "一苇渡江出海",
    "知行AI课堂",
    "灯塔数据",
    "飞鸟短视频",
    "溪山三维",
]


@transaction.atomic
def load_demo(seed: int = 2026) -> list[DemoLogin]:
    if Organisation.objects.filter(name=MARKER).exists():
        return demo_logins()
    rng = random.Random(seed)
    skills = {s.code: s for s in Skill.objects.all()}
    counter = iter(range(1, 10_000))

    # Operators, networks, communities and workstations
    op_user = _user("陈主理", "operator@haishu.demo", "13900000001")
    haishu = create_organisation(
        kind=OrgKind.OPERATOR,
        name=MARKER,
        owner=op_user,
        actor=None,
        city="宁波市",
        district="海曙区",
        uscc=demo_uscc(next(counter)),
        verification_status=VerificationStatus.VERIFIED,
    )
    network = CommunityNetwork.objects.create(
        name="海曙区分布式AiOPC社区",
        operator=haishu,
        city="宁波市",
        planned_communities=14,
        description="盘活闲置老旧教学楼等空间，计划打造14个分布式AiOPC社区，已建成8个。",
    )
    wz_user = _user("陶园长", "operator@yongjia.demo", "13900000002")
    wenzhou = create_organisation(
        kind=OrgKind.OPERATOR,
        name="温州OPC创业社区运营方",
        owner=wz_user,
        actor=None,
        city="温州市",
        uscc=demo_uscc(next(counter), "330324"),
        verification_status=VerificationStatus.VERIFIED,
    )
    wz_network = CommunityNetwork.objects.create(name="温州OPC创业社区", operator=wenzhou, city="温州市")

    communities: list[Community] = []
    for name, street, land_use, count, positioning, sectors in HAISHU_COMMUNITIES:
        c = Community.objects.create(
            name=name,
            network=network,
            operator=haishu,
            city="宁波市",
            district="海曙区",
            address=f"宁波市海曙区{street}",
            land_use=land_use,
            positioning=positioning,
            opened_on=dt.date(2025, 12, 28),
        )
        c.sectors.set([skills[s] for s in sectors])
        communities.append(c)
        _workstations(c, count)
    for name, city, district, land_use, count, positioning, sectors in WENZHOU_COMMUNITIES:
        c = Community.objects.create(
            name=name,
            network=wz_network,
            operator=wenzhou,
            city=city,
            district=district,
            address=f"{city}{district}",
            land_use=land_use,
            positioning=positioning,
            opened_on=dt.date(2026, 3, 1),
        )
        c.sectors.set([skills[s] for s in sectors])
        communities.append(c)
        _workstations(c, count)

    # About 60 OPCs over the taxonomy, most verified and seated
    skill_list = list(skills.values())
    demo_opc_user = _user("刘十万", "opc@demo.cn", "13800000001")
    for i, short in enumerate(OPC_NAMES):
        community = communities[0] if i < 22 else communities[1] if i < 27 else rng.choice(communities)
        user = demo_opc_user if i == 0 else _user(f"{short}创始人", f"opc{i:02d}@demo.cn")
        verified = i % 9 != 4
        org = create_organisation(
            kind=OrgKind.OPC,
            name=f"{short}工作室" if not short.endswith(("OPC", "社")) else short,
            owner=user,
            actor=None,
            home_community=community,
            uscc=demo_uscc(next(counter)),
            founder_name=user.display_name,
            verification_status=VerificationStatus.VERIFIED if verified else VerificationStatus.PENDING,
        )
        profile = OPCProfile.objects.get(organisation=org)
        primary = [skills[s] for s in ([s.code for s in community.sectors.all()][:1])]
        profile.skills.set({*primary, *rng.sample(skill_list, 2)})
        profile.headcount = rng.choice([1, 1, 2, 3])
        profile.capacity = rng.choice([1, 2, 2, 3, 4])
        low = Decimal(rng.choice([800, 1500, 3000, 5000]))
        profile.rate_min, profile.rate_max = low, low * rng.choice([2, 3, 5])
        profile.talent_level = rng.choice(
            [TalentLevel.NONE, TalentLevel.NONE, TalentLevel.CITY, TalentLevel.PROVINCE]
        )
        profile.founded_on = dt.date(2025, rng.randint(1, 12), rng.randint(1, 28))
        profile.listed_publicly = verified
        profile.tags = rng.sample(["科幻", "助农", "出海", "文旅", "品牌", "短视频", "电商", "教育"], 2)
        profile.save()
        if verified:
            station = (
                community.workstations.filter(status=WorkstationStatus.AVAILABLE).order_by("code").first()
            )
            if station is not None:
                Residency.objects.create(
                    organisation=org,
                    workstation=station,
                    start_date=profile.founded_on,
                    created_by=op_user if community.operator_id == haishu.pk else wz_user,
                )
                station.status = WorkstationStatus.OCCUPIED
                station.save(update_fields=["status"])

    # Clients of each kind, providers of each kind, one authority
    parties = [
        (OrgKind.CLIENT, OrgSubkind.ENTERPRISE, "宁波甬优文旅科技有限公司", "client@demo.cn", "王经理"),
        (OrgKind.CLIENT, OrgSubkind.GOVERNMENT, "海曙区文化和广电旅游体育局", "gov-client@demo.cn", "李科长"),
        (OrgKind.CLIENT, OrgSubkind.SOE, "宁波城投数字产业集团", "soe@demo.cn", "赵主任"),
        (OrgKind.PROVIDER, OrgSubkind.LAW_FIRM, "甬城律师事务所（首席法务经理）", "lawyer@demo.cn", "周律师"),
        (OrgKind.PROVIDER, OrgSubkind.ACCOUNTING, "海曙财税代理服务有限公司", "accounting@demo.cn", "吴会计"),
        (OrgKind.PROVIDER, OrgSubkind.COMPUTE, "合规算力服务（宁波）有限公司", "compute@demo.cn", "郑工"),
        (OrgKind.PROVIDER, OrgSubkind.COPYRIGHT_AGENCY, "浙东版权代理中心", "copyright@demo.cn", "钱代理"),
        (OrgKind.PROVIDER, OrgSubkind.BANK, "宁波某银行科技支行", "bank@demo.cn", "孙行长"),
        (OrgKind.PROVIDER, OrgSubkind.INSURER, "甬安科技保险", "insurer@demo.cn", "冯经理"),
    ]
    for kind, subkind, name, email, person in parties:
        create_organisation(
            kind=kind,
            subkind=subkind,
            name=name,
            owner=_user(person, email),
            actor=None,
            city="宁波市",
            uscc=demo_uscc(next(counter)),
            verification_status=VerificationStatus.VERIFIED,
        )
    create_organisation(
        kind=OrgKind.AUTHORITY,
        name="海曙区人力资源和社会保障局",
        owner=_user("黄局", "authority@demo.cn"),
        actor=None,
        city="宁波市",
        verification_status=VerificationStatus.VERIFIED,
    )
    _demo_ledger(haishu)
    if not User.objects.filter(email="admin@demo.cn").exists():
        User.objects.create(
            email="admin@demo.cn",
            display_name="平台管理员",
            password=_demo_password_hash(),
            is_staff=True,
            is_superuser=True,
        )
    from core.extensions import load_app_demos

    load_app_demos(rng)
    return demo_logins()


def _demo_ledger(operator: Organisation) -> None:
    """The operator funds its pool (its own purchase of model access) and grants token quotas to verified
    members of the Baiyun community — every movement through the ledger."""
    from ledger.services import account_for, open_account, transfer

    bank = open_account(owner=None, purpose="external", code="external-bank", name="银行转入（演示）")
    pool = account_for(owner=operator, purpose="funding_pool")
    transfer(
        idempotency_key="demo:pool-funding",
        source=bank,
        destination=pool,
        amount=Decimal("200000.00"),
        kind="pool.funded",
        memo="运营方采购模型调用额度（演示）",
    )
    members = Organisation.objects.filter(
        home_community__name="海曙OPC云创Labo", verification_status=VerificationStatus.VERIFIED
    ).order_by("pk")[:12]
    for org in members:
        transfer(
            idempotency_key=f"demo:quota-grant:{org.pk}",
            source=pool,
            destination=account_for(owner=org, purpose="quota"),
            amount=Decimal("500.00"),
            kind="quota.granted",
            memo="词元额度发放（演示）",
        )


def _workstations(community: Community, count: int) -> None:
    zones = "ABCD"
    per_zone = max(1, -(-count // len(zones)))
    Workstation.objects.bulk_create(
        Workstation(
            community=community,
            code=f"{zones[i // per_zone]}-{i % per_zone + 1:02d}",
            zone=zones[i // per_zone],
        )
        for i in range(count)
    )


def demo_logins() -> list[DemoLogin]:
    rows = [
        ("Community operator 社区运营方 (Haishu)", "operator@haishu.demo"),
        ("Community operator 社区运营方 (Wenzhou)", "operator@yongjia.demo"),
        ("OPC 一人公司", "opc@demo.cn"),
        ("Client — enterprise 企业客户", "client@demo.cn"),
        ("Client — government 政府部门", "gov-client@demo.cn"),
        ("Client — SOE 国有企业", "soe@demo.cn"),
        ("Provider — law firm 律师事务所", "lawyer@demo.cn"),
        ("Provider — compute 合规算力服务商", "compute@demo.cn"),
        ("Government authority 政府主管部门", "authority@demo.cn"),
        ("Platform admin 平台管理员 (/admin/)", "admin@demo.cn"),
    ]
    out = []
    for role, email in rows:
        user = User.objects.filter(email=email).first()
        if user is None:
            continue
        membership = user.memberships.select_related("organisation").first()
        out.append(
            DemoLogin(
                role=role, login=email, organisation=membership.organisation.name if membership else "—"
            )
        )
    return out
