"""One shared test world of roles and tenants (healthchecks-style alice/bob/charlie), used by every app's tests.

Two operators each run their own communities; OPCs live in one of them; a client, a provider and a government
authority complete the cast. Tests call services directly and log in as these people for views.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from accounts.models import User
from communities.models import Community, LandUse, Residency, Workstation
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import Organisation, VerificationStatus
from organisations.services import create_organisation

PASSWORD = "Opc-hub-test-2026"

# Valid 统一社会信用代码 / 居民身份证号码 (check characters computed with python-stdnum) for tests.
VALID_USCC = ["91330203MA2GXXXX07", "91330212MA2H2QXB16"]
VALID_RESIDENT_ID = "330203199001011236"


@dataclass
class World:
    operator_user: User
    operator: Organisation
    community: Community  # operated by ``operator``
    workstations: list[Workstation]
    other_operator_user: User
    other_operator: Organisation
    other_community: Community
    opc_user: User
    opc: Organisation  # member of ``community``
    other_opc_user: User
    other_opc: Organisation  # member of ``other_community``
    client_user: User
    client: Organisation
    provider_user: User
    provider: Organisation
    authority_user: User
    authority: Organisation


def make_user(name: str, *, email: str | None = None, phone: str | None = None) -> User:
    return User.objects.create_user(
        email=email or f"{name}@example.cn", phone=phone, password=PASSWORD, display_name=name
    )


def make_org(
    kind: str,
    name: str,
    user: User,
    *,
    subkind: str = "",
    community: Community | None = None,
    verified: bool = False,
    city: str = "",
) -> Organisation:
    return create_organisation(
        kind=kind,
        subkind=subkind,
        name=name,
        owner=user,
        actor=None,
        home_community=community,
        city=city,
        verification_status=VerificationStatus.VERIFIED
        if verified
        else VerificationStatus.PENDING
        if community
        else VerificationStatus.UNVERIFIED,
    )


def make_community(
    operator: Organisation,
    name: str,
    *,
    city: str = "宁波市",
    district: str = "海曙区",
    workstations: int = 3,
) -> tuple[Community, list[Workstation]]:
    community = Community.objects.create(
        name=name,
        operator=operator,
        city=city,
        district=district,
        address=f"{district}{name}1号",
        land_use=LandUse.EDUCATION,
    )
    stations = [
        Workstation.objects.create(community=community, code=f"A-{i:02d}", zone="A")
        for i in range(1, workstations + 1)
    ]
    return community, stations


def build_world() -> World:
    operator_user = make_user("operator")
    operator = make_org(OrgKind.OPERATOR, "海曙OPC社区运营中心", operator_user, verified=True, city="宁波市")
    community, stations = make_community(operator, "OPC云创Labo")
    other_operator_user = make_user("otheroperator")
    other_operator = make_org(
        OrgKind.OPERATOR, "永嘉科创园运营方", other_operator_user, verified=True, city="温州市"
    )
    other_community, _ = make_community(other_operator, "麦腾智联科创园", city="温州市", district="永嘉县")
    opc_user = make_user("opc", phone="13800138000")
    opc = make_org(OrgKind.OPC, "十万光年科幻工作室", opc_user, community=community)
    other_opc_user = make_user("otheropc")
    other_opc = make_org(OrgKind.OPC, "瓯江数字人直播", other_opc_user, community=other_community)
    client_user = make_user("client")
    client = make_org(OrgKind.CLIENT, "宁波某文旅集团", client_user, subkind=OrgSubkind.SOE)
    provider_user = make_user("provider")
    provider = make_org(OrgKind.PROVIDER, "甬城律师事务所", provider_user, subkind=OrgSubkind.LAW_FIRM)
    authority_user = make_user("authority")
    authority = make_org(OrgKind.AUTHORITY, "海曙区人力社保局", authority_user, verified=True, city="宁波市")
    return World(
        operator_user=operator_user,
        operator=operator,
        community=community,
        workstations=stations,
        other_operator_user=other_operator_user,
        other_operator=other_operator,
        other_community=other_community,
        opc_user=opc_user,
        opc=opc,
        other_opc_user=other_opc_user,
        other_opc=other_opc,
        client_user=client_user,
        client=client,
        provider_user=provider_user,
        provider=provider,
        authority_user=authority_user,
        authority=authority,
    )


def make_residency(world: World, *, start: dt.date | None = None) -> Residency:
    return Residency.objects.create(
        organisation=world.opc,
        workstation=world.workstations[0],
        start_date=start or dt.date(2026, 1, 5),
        created_by=world.operator_user,
    )


@pytest.fixture
def world(db: None) -> World:
    return build_world()
