"""Organisation services, called directly: creation by kind, registration numbers (python-stdnum), the
verification state machine, OPC profiles and portfolios, and the audit record every write appends."""

# ruff: noqa: F811  (the shared ``world`` fixture is imported, then requested by name)
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.services import issue_api_token, revoke_api_token, update_user_profile
from audit.models import AuditRecord
from core.context import request_id_var
from core.errors import Conflict, DomainError, InvalidTransition
from core.testing import VALID_USCC, World, make_user, world  # noqa: F401
from organisations.access import Scope
from organisations.capabilities import OWNER_CAPABILITIES, SUBKINDS_BY_KIND, Capability, OrgKind, OrgSubkind
from organisations.models import (
    Membership,
    OPCProfile,
    Organisation,
    PortfolioItem,
    Skill,
    VerificationStatus,
)
from organisations.services import (
    VERIFICATION_TRANSITIONS,
    add_portfolio_item,
    create_organisation,
    register_member,
    reject_organisation,
    remove_portfolio_item,
    submit_for_verification,
    update_opc_profile,
    update_organisation,
    verify_organisation,
)
from organisations.validation import clean_resident_id, clean_uscc, mask_resident_id, resident_id_digest

# A valid 居民身份证号码 (Haishu district, born 1990-01-01; check digit per GB 11643).
RESIDENT_ID = "330203199001011236"

REQUEST_ID = "req-services-0001"


@pytest.fixture
def request_id() -> Iterator[str]:
    """Pretend the services run inside a request whose id the middleware set."""
    token = request_id_var.set(REQUEST_ID)
    yield REQUEST_ID
    request_id_var.reset(token)


def last_record(action: str) -> AuditRecord:
    return AuditRecord.objects.filter(action=action).latest("pk")


def profile_args(**overrides: object) -> dict[str, object]:
    args: dict[str, object] = {
        "founder_name": "刘十万",
        "headcount": 2,
        "skills": [],
        "tags": "",
        "capacity": 3,
        "rate_min": Decimal("800"),
        "rate_max": Decimal("5000"),
        "talent_level": "",
        "founded_on": None,
        "listed_publicly": True,
    }
    args.update(overrides)
    return args


# --------------------------------------------------------------------------------------------------------------
# create_organisation
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "subkind"),
    [
        (OrgKind.OPC, ""),
        (OrgKind.CLIENT, OrgSubkind.SOE),
        (OrgKind.PROVIDER, OrgSubkind.BANK),
        (OrgKind.OPERATOR, ""),
        (OrgKind.AUTHORITY, ""),
    ],
)
def test_create_organisation_gives_the_owner_the_capabilities_of_the_kind(
    db: None, kind: str, subkind: str
) -> None:
    owner = make_user("owner")
    org = create_organisation(kind=kind, subkind=subkind, name=f" {kind} 公司 ", owner=owner, actor=owner)
    assert org.name == f"{kind} 公司"
    membership = Membership.objects.get(organisation=org)
    assert membership.user == owner
    assert membership.role == "owner"
    assert membership.capabilities == [str(c) for c in OWNER_CAPABILITIES[kind]]
    assert OPCProfile.objects.filter(organisation=org).exists() == (kind == OrgKind.OPC)
    record = last_record("organisation.created")
    assert (record.organisation, record.actor, record.object_id) == (org, owner, str(org.pk))


def test_capabilities_by_kind() -> None:
    assert Capability.MEMBERS_VERIFY in OWNER_CAPABILITIES[OrgKind.OPERATOR]
    assert Capability.AUDIT_VIEW in OWNER_CAPABILITIES[OrgKind.AUTHORITY]
    assert Capability.OVERSIGHT_VIEW in OWNER_CAPABILITIES[OrgKind.AUTHORITY]
    for kind in (OrgKind.OPC, OrgKind.CLIENT, OrgKind.PROVIDER):
        assert Capability.MEMBERS_VERIFY not in OWNER_CAPABILITIES[kind]
        assert Capability.AUDIT_VIEW not in OWNER_CAPABILITIES[kind]
        assert Capability.ORG_MANAGE in OWNER_CAPABILITIES[kind]
    assert Capability.LEDGER_VIEW not in OWNER_CAPABILITIES[OrgKind.AUTHORITY]


def test_opc_profile_founder_defaults_to_the_owner(db: None) -> None:
    owner = make_user("王五")
    org = create_organisation(kind=OrgKind.OPC, name="王五工作室", owner=owner, actor=None)
    assert org.opc_profile.founder_name == "王五"
    org2 = create_organisation(kind=OrgKind.OPC, name="另一家", owner=owner, actor=None, founder_name="赵六")
    assert org2.opc_profile.founder_name == "赵六"


def test_create_organisation_in_a_community_takes_its_city(world: World) -> None:
    org = create_organisation(
        kind=OrgKind.OPC, name="新成员", owner=make_user("new"), actor=None, home_community=world.community
    )
    assert (org.city, org.district) == (world.community.city, world.community.district)
    assert org in Scope(world.operator.memberships.get()).member_organisations()


@pytest.mark.parametrize(
    ("kind", "subkind"),
    [
        (OrgKind.OPC, OrgSubkind.LAW_FIRM),
        (OrgKind.CLIENT, ""),
        (OrgKind.CLIENT, OrgSubkind.BANK),
        (OrgKind.PROVIDER, OrgSubkind.SOE),
        (OrgKind.PROVIDER, ""),
        (OrgKind.OPERATOR, OrgSubkind.ENTERPRISE),
        (OrgKind.AUTHORITY, OrgSubkind.GOVERNMENT),
        ("bank", ""),
    ],
)
def test_kind_and_subkind_must_fit(db: None, kind: str, subkind: str) -> None:
    owner = make_user("owner")
    with pytest.raises(DomainError):
        create_organisation(kind=kind, subkind=subkind, name="错配", owner=owner, actor=None)
    assert not Organisation.objects.exists()
    assert not AuditRecord.objects.exists()


def test_every_subkind_belongs_to_exactly_one_kind() -> None:
    seen: dict[str, str] = {}
    for kind, subkinds in SUBKINDS_BY_KIND.items():
        for subkind in subkinds - {""}:
            assert subkind not in seen, f"{subkind} used by {seen.get(subkind)} and {kind}"
            seen[subkind] = kind
    assert set(seen) == set(OrgSubkind.values) - {""}


def test_create_organisation_needs_a_name(db: None) -> None:
    with pytest.raises(DomainError):
        create_organisation(kind=OrgKind.OPC, name="   ", owner=make_user("owner"), actor=None)
    assert not Organisation.objects.exists()


# --------------------------------------------------------------------------------------------------------------
# USCC (统一社会信用代码)
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [VALID_USCC[0], " 91330203ma2gxxxx07 ", "91330203-MA2GXXXX07", "91 3302 03MA2GXXXX07"]
)
def test_valid_uscc_is_accepted_and_normalised(db: None, raw: str) -> None:
    org = create_organisation(kind=OrgKind.OPC, name="有代码", owner=make_user("owner"), actor=None, uscc=raw)
    assert org.uscc == VALID_USCC[0]


@pytest.mark.parametrize(
    "raw",
    [
        "91330203MA2GXXXX08",  # wrong check character
        "91330203MA2GXXXX0",  # 17 characters
        "91330203MA2GXXXX071",  # 19 characters
        "91330203MA2GXXXXI7",  # I is not in the alphabet
        "not a code",
    ],
)
def test_invalid_uscc_is_refused(db: None, raw: str) -> None:
    with pytest.raises(ValidationError):
        clean_uscc(raw)
    with pytest.raises(ValidationError):
        create_organisation(kind=OrgKind.OPC, name="坏代码", owner=make_user("owner"), actor=None, uscc=raw)
    assert not Organisation.objects.exists()


def test_duplicate_uscc_is_a_conflict(db: None) -> None:
    create_organisation(
        kind=OrgKind.OPC, name="先来", owner=make_user("first"), actor=None, uscc=VALID_USCC[0]
    )
    with pytest.raises(Conflict):
        create_organisation(
            kind=OrgKind.OPC, name="后到", owner=make_user("second"), actor=None, uscc=VALID_USCC[0].lower()
        )
    assert Organisation.objects.count() == 1


def test_update_to_a_uscc_used_elsewhere_is_a_conflict(world: World) -> None:
    create_organisation(
        kind=OrgKind.OPC, name="先来", owner=make_user("first"), actor=None, uscc=VALID_USCC[0]
    )
    with pytest.raises(Conflict):
        update_organisation(organisation=world.opc, actor=world.opc_user, values={}, uscc=VALID_USCC[0])
    world.opc.refresh_from_db()
    assert world.opc.uscc is None


# --------------------------------------------------------------------------------------------------------------
# Legal representative's ID (居民身份证号码)
# --------------------------------------------------------------------------------------------------------------


def test_resident_id_check() -> None:
    assert clean_resident_id(RESIDENT_ID) == RESIDENT_ID
    assert clean_resident_id("33020319900101105x") == "33020319900101105X"  # check character X, any case
    for bad in ["330203199001011231", "330203199013011236", "33020319900101123", "abcdefghijklmnopqr"]:
        with pytest.raises(ValidationError):
            clean_resident_id(bad)


def test_mask_keeps_first_three_and_last_four() -> None:
    assert mask_resident_id(RESIDENT_ID) == "330" + "*" * 11 + "1236"
    assert mask_resident_id("36042619910101007X") == "360***********007X"


def test_legal_rep_id_is_stored_masked_with_a_keyed_digest(world: World) -> None:
    org = update_organisation(
        organisation=world.opc,
        actor=world.opc_user,
        values={"legal_representative": "刘十万"},
        legal_rep_id=RESIDENT_ID,
    )
    org.refresh_from_db()
    assert org.legal_representative == "刘十万"
    assert org.legal_rep_id_masked == "330***********1236"
    expected = hmac.new(settings.SECRET_KEY.encode(), RESIDENT_ID.encode(), hashlib.sha256).hexdigest()
    assert org.legal_rep_id_digest == expected == resident_id_digest(RESIDENT_ID)
    assert org.legal_rep_id_digest != hashlib.sha256(RESIDENT_ID.encode()).hexdigest()  # keyed, not guessable
    # the full number is nowhere: not in the organisation's row, not in the audit trail
    row = Organisation.objects.filter(pk=org.pk).values().get()
    assert not any(RESIDENT_ID in str(value) for value in row.values())
    for record in AuditRecord.objects.all():
        assert RESIDENT_ID not in str(record.changes) + record.summary + record.object_repr
    record = last_record("organisation.updated")
    assert record.changes["legal_rep_id"] == ["", "330***********1236"]


def test_invalid_legal_rep_id_is_refused_and_nothing_changes(world: World) -> None:
    before = AuditRecord.objects.count()
    with pytest.raises(ValidationError):
        update_organisation(
            organisation=world.opc,
            actor=world.opc_user,
            values={"name": "改了名"},
            legal_rep_id="330203199001011231",
        )
    world.opc.refresh_from_db()
    assert world.opc.name == "十万光年科幻工作室"
    assert world.opc.legal_rep_id_masked == ""
    assert world.opc.legal_rep_id_digest == ""
    assert AuditRecord.objects.count() == before


def test_same_legal_rep_id_again_is_not_a_change(world: World) -> None:
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    update_organisation(organisation=world.opc, actor=world.opc_user, values={}, legal_rep_id=RESIDENT_ID)
    # first ID on a verified org: back to pending; verify again and submit the same number
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    count = AuditRecord.objects.filter(action="organisation.updated").count()
    org = update_organisation(
        organisation=world.opc, actor=world.opc_user, values={}, legal_rep_id=RESIDENT_ID
    )
    assert org.verification_status == VerificationStatus.VERIFIED
    assert AuditRecord.objects.filter(action="organisation.updated").count() == count


# --------------------------------------------------------------------------------------------------------------
# update_organisation
# --------------------------------------------------------------------------------------------------------------


def test_update_organisation_changes_facts_and_audits_the_diff(world: World, request_id: str) -> None:
    org = update_organisation(
        organisation=world.opc,
        actor=world.opc_user,
        values={
            "name": " 十万光年 ",
            "contact_email": "hi@example.cn",
            "verification_status": "verified",
            "kind": "x",
        },
    )
    org.refresh_from_db()
    assert org.name == "十万光年"
    assert org.contact_email == "hi@example.cn"
    # only editable fields are taken from ``values``
    assert org.verification_status == VerificationStatus.PENDING
    assert org.kind == OrgKind.OPC
    record = last_record("organisation.updated")
    assert record.actor == world.opc_user
    assert record.organisation == world.opc
    assert record.request_id == request_id
    assert record.changes == {
        "name": ["十万光年科幻工作室", "十万光年"],
        "contact_email": ["", "hi@example.cn"],
    }


def test_update_organisation_needs_a_name(world: World) -> None:
    with pytest.raises(DomainError):
        update_organisation(organisation=world.opc, actor=world.opc_user, values={"name": "  "})
    world.opc.refresh_from_db()
    assert world.opc.name == "十万光年科幻工作室"


def test_update_without_changes_writes_no_audit_record(world: World) -> None:
    before = AuditRecord.objects.count()
    update_organisation(
        organisation=world.opc, actor=world.opc_user, values={"name": world.opc.name}, uscc=""
    )
    assert AuditRecord.objects.count() == before


def test_new_uscc_on_a_verified_org_sends_it_back_to_pending(world: World) -> None:
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    org = update_organisation(organisation=world.opc, actor=world.opc_user, values={}, uscc=VALID_USCC[1])
    org.refresh_from_db()
    assert org.uscc == VALID_USCC[1]
    assert org.verification_status == VerificationStatus.PENDING
    record = last_record("organisation.updated")
    assert record.changes["uscc"] == [None, VALID_USCC[1]]
    # the audit trail records the real previous state, not a placeholder
    assert record.changes["verification_status"] == [VerificationStatus.VERIFIED, VerificationStatus.PENDING]


def test_new_legal_rep_id_on_a_rejected_org_sends_it_back_to_pending(world: World) -> None:
    reject_organisation(
        organisation=world.opc, actor=world.operator_user, operator=world.operator, reason="材料不全"
    )
    org = update_organisation(
        organisation=world.opc, actor=world.opc_user, values={}, legal_rep_id=RESIDENT_ID
    )
    assert org.verification_status == VerificationStatus.PENDING
    assert last_record("organisation.updated").changes["verification_status"] == ["rejected", "pending"]


def test_same_uscc_or_other_facts_keep_a_verified_org_verified(world: World) -> None:
    org = update_organisation(organisation=world.opc, actor=world.opc_user, values={}, uscc=VALID_USCC[0])
    verify_organisation(organisation=org, actor=world.operator_user, operator=world.operator)
    org = update_organisation(
        organisation=org,
        actor=world.opc_user,
        values={"description": "AI 科幻短片"},
        uscc=VALID_USCC[0].lower(),
    )
    org.refresh_from_db()
    assert org.verification_status == VerificationStatus.VERIFIED
    assert org.description == "AI 科幻短片"


def test_identity_change_of_an_unverified_org_keeps_it_unverified(world: World) -> None:
    org = update_organisation(
        organisation=world.client, actor=world.client_user, values={}, uscc=VALID_USCC[0]
    )
    assert org.verification_status == VerificationStatus.UNVERIFIED


# --------------------------------------------------------------------------------------------------------------
# Verification state machine
# --------------------------------------------------------------------------------------------------------------


def test_verify_a_pending_member(world: World, request_id: str) -> None:
    org = verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    org.refresh_from_db()
    assert org.verification_status == VerificationStatus.VERIFIED
    assert org.verified_by == world.operator_user
    assert org.verified_at is not None
    record = last_record("organisation.verified")
    assert (record.actor, record.organisation, record.request_id) == (
        world.operator_user,
        world.opc,
        request_id,
    )
    assert record.changes == {"verification_status": ["pending", "verified"]}
    assert world.operator.name in record.summary


def test_verifying_a_verified_org_is_an_invalid_transition(world: World) -> None:
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    before = AuditRecord.objects.count()
    with pytest.raises(InvalidTransition) as excinfo:
        verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    assert excinfo.value.status_code == 409
    assert AuditRecord.objects.count() == before


def test_reject_needs_a_reason(world: World) -> None:
    for reason in ["", "   "]:
        with pytest.raises(DomainError):
            reject_organisation(
                organisation=world.opc, actor=world.operator_user, operator=world.operator, reason=reason
            )
    world.opc.refresh_from_db()
    assert world.opc.verification_status == VerificationStatus.PENDING
    assert not AuditRecord.objects.filter(action="organisation.rejected").exists()


def test_reject_then_resubmit_then_verify(world: World) -> None:
    org = reject_organisation(
        organisation=world.opc, actor=world.operator_user, operator=world.operator, reason=" 营业执照不清晰 "
    )
    assert org.verification_status == VerificationStatus.REJECTED
    assert org.verification_note == "营业执照不清晰"
    record = last_record("organisation.rejected")
    assert record.summary == "营业执照不清晰"
    assert record.changes == {"verification_status": ["pending", "rejected"]}

    org = submit_for_verification(organisation=org, actor=world.opc_user)
    assert org.verification_status == VerificationStatus.PENDING
    assert last_record("organisation.verification_requested").actor == world.opc_user

    org = verify_organisation(organisation=org, actor=world.operator_user, operator=world.operator)
    org.refresh_from_db()
    assert org.verification_status == VerificationStatus.VERIFIED
    assert org.verification_note == ""


def test_rejecting_a_verified_org_is_an_invalid_transition(world: World) -> None:
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    with pytest.raises(InvalidTransition):
        reject_organisation(
            organisation=world.opc, actor=world.operator_user, operator=world.operator, reason="x"
        )
    world.opc.refresh_from_db()
    assert world.opc.verification_status == VerificationStatus.VERIFIED


def test_submitting_a_pending_org_again_is_an_invalid_transition(world: World) -> None:
    with pytest.raises(InvalidTransition):
        submit_for_verification(organisation=world.opc, actor=world.opc_user)


def test_submitting_needs_a_community(world: World) -> None:
    with pytest.raises(DomainError):
        submit_for_verification(organisation=world.client, actor=world.client_user)
    world.client.refresh_from_db()
    assert world.client.verification_status == VerificationStatus.UNVERIFIED


def test_transition_table_is_complete_and_has_no_self_loops() -> None:
    assert set(VERIFICATION_TRANSITIONS) == set(VerificationStatus.values)
    for state, targets in VERIFICATION_TRANSITIONS.items():
        assert state not in targets
        assert targets <= set(VerificationStatus.values)
    assert VerificationStatus.UNVERIFIED not in set().union(*VERIFICATION_TRANSITIONS.values())


# --------------------------------------------------------------------------------------------------------------
# register_member
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [OrgKind.OPERATOR, OrgKind.AUTHORITY])
def test_register_member_refuses_platform_set_up_kinds(db: None, kind: str) -> None:
    with pytest.raises(DomainError):
        register_member(
            display_name="x",
            password="Lantern-harbour-2026",
            email="x@example.cn",
            phone=None,
            kind=kind,
            subkind="",
            organisation_name="x",
            home_community=None,
        )
    assert not User.objects.exists()


# --------------------------------------------------------------------------------------------------------------
# OPC profile
# --------------------------------------------------------------------------------------------------------------


def test_update_opc_profile(world: World, request_id: str) -> None:
    skills = list(Skill.objects.order_by("position")[:2])
    assert len(skills) == 2, "the skill taxonomy migration provides skills"
    profile = update_opc_profile(
        profile=world.opc.opc_profile,
        actor=world.opc_user,
        **profile_args(
            skills=skills, tags="科幻，出海, 科幻 , ,品牌", rate_min=Decimal("800.456"), talent_level="city"
        ),
    )
    profile.refresh_from_db()
    assert profile.founder_name == "刘十万"
    assert profile.headcount == 2
    assert profile.capacity == 3
    assert profile.tags == ["科幻", "出海", "品牌"]
    assert profile.rate_min == Decimal("800.46")
    assert profile.rate_max == Decimal("5000.00")
    assert profile.talent_level == "city"
    assert profile.listed_publicly is True
    assert set(profile.skills.all()) == set(skills)
    record = last_record("opc_profile.updated")
    assert (record.actor, record.organisation, record.request_id) == (world.opc_user, world.opc, request_id)
    assert record.changes["skills"] == sorted(s.code for s in skills)
    assert record.changes["tags"] == ["科幻", "出海", "品牌"]


def test_tags_from_a_list_are_deduplicated_and_truncated(world: World) -> None:
    long_tag = "长" * 30
    profile = update_opc_profile(
        profile=world.opc.opc_profile, actor=world.opc_user, **profile_args(tags=["a", "a", " b ", long_tag])
    )
    assert profile.tags == ["a", "b", "长" * 24]


def test_twenty_tags_are_fine_twenty_one_are_refused(world: World) -> None:
    twenty = "，".join(f"标签{i}" for i in range(20))
    profile = update_opc_profile(
        profile=world.opc.opc_profile, actor=world.opc_user, **profile_args(tags=twenty)
    )
    assert len(profile.tags) == 20
    with pytest.raises(DomainError):
        update_opc_profile(
            profile=world.opc.opc_profile,
            actor=world.opc_user,
            **profile_args(tags=twenty + "，再来一个", capacity=9),
        )
    profile.refresh_from_db()
    assert len(profile.tags) == 20
    assert profile.capacity == 3


@pytest.mark.parametrize(
    "bad",
    [
        {"headcount": 0},
        {"headcount": 4},
        {"capacity": 0},
        {"capacity": 51},
        {"rate_min": Decimal("5000.01"), "rate_max": Decimal("5000")},
        {"rate_min": Decimal("-1")},
        {"rate_max": Decimal("-1"), "rate_min": None},
    ],
)
def test_invalid_opc_profile_is_refused_and_nothing_changes(world: World, bad: dict[str, object]) -> None:
    before = AuditRecord.objects.count()
    with pytest.raises(DomainError):
        update_opc_profile(profile=world.opc.opc_profile, actor=world.opc_user, **profile_args(**bad))
    profile = OPCProfile.objects.get(organisation=world.opc)
    assert (profile.headcount, profile.capacity, profile.rate_min, profile.rate_max) == (1, 2, None, None)
    assert profile.founder_name == "opc"
    assert AuditRecord.objects.count() == before


def test_open_ended_and_equal_rates_are_fine(world: World) -> None:
    profile = update_opc_profile(
        profile=world.opc.opc_profile,
        actor=world.opc_user,
        **profile_args(rate_min=Decimal("100"), rate_max=None),
    )
    assert (profile.rate_min, profile.rate_max) == (Decimal("100.00"), None)
    profile = update_opc_profile(
        profile=profile,
        actor=world.opc_user,
        **profile_args(rate_min=Decimal("100"), rate_max=Decimal("100")),
    )
    assert profile.rate_min == profile.rate_max


def test_blank_founder_name_keeps_the_old_one(world: World) -> None:
    profile = update_opc_profile(
        profile=world.opc.opc_profile, actor=world.opc_user, **profile_args(founder_name=" ")
    )
    assert profile.founder_name == "opc"


# --------------------------------------------------------------------------------------------------------------
# Portfolio
# --------------------------------------------------------------------------------------------------------------


def test_portfolio_add_and_remove(world: World, request_id: str) -> None:
    profile = world.opc.opc_profile
    item = add_portfolio_item(
        profile=profile, actor=world.opc_user, title=" 《十万光年》 ", year=2025, link=""
    )
    assert item.title == "《十万光年》"
    assert last_record("portfolio.added").request_id == request_id
    remove_portfolio_item(item=item, actor=world.opc_user)
    assert not PortfolioItem.objects.exists()
    record = last_record("portfolio.removed")
    assert (record.actor, record.organisation, record.object_repr) == (
        world.opc_user,
        world.opc,
        "《十万光年》",
    )


def test_portfolio_needs_a_title_and_has_a_limit(world: World) -> None:
    profile = world.opc.opc_profile
    with pytest.raises(DomainError):
        add_portfolio_item(profile=profile, actor=world.opc_user, title="  ")
    PortfolioItem.objects.bulk_create(PortfolioItem(profile=profile, title=f"作品{i}") for i in range(50))
    with pytest.raises(DomainError):
        add_portfolio_item(profile=profile, actor=world.opc_user, title="第51件")
    assert profile.portfolio.count() == 50


# --------------------------------------------------------------------------------------------------------------
# Every write appends one audit record with actor, organisation and request id
# --------------------------------------------------------------------------------------------------------------


CREATED = object()  # the audit record belongs to the organisation the write created


def _writes(world: World) -> list[tuple[str, User, object, Callable[[], object]]]:
    profile = world.opc.opc_profile
    return [
        (
            "organisation.created",
            world.client_user,
            CREATED,
            lambda: create_organisation(
                kind=OrgKind.OPC, name="新", owner=world.client_user, actor=world.client_user
            ),
        ),
        (
            "organisation.updated",
            world.opc_user,
            world.opc,
            lambda: update_organisation(
                organisation=world.opc, actor=world.opc_user, values={"city": "杭州市"}
            ),
        ),
        (
            "organisation.verified",
            world.operator_user,
            world.opc,
            lambda: verify_organisation(
                organisation=world.opc, actor=world.operator_user, operator=world.operator
            ),
        ),
        (
            "organisation.rejected",
            world.other_operator_user,
            world.other_opc,
            lambda: reject_organisation(
                organisation=world.other_opc,
                actor=world.other_operator_user,
                operator=world.other_operator,
                reason="缺材料",
            ),
        ),
        (
            "organisation.verification_requested",
            world.other_opc_user,
            world.other_opc,
            lambda: submit_for_verification(organisation=world.other_opc, actor=world.other_opc_user),
        ),
        (
            "opc_profile.updated",
            world.opc_user,
            world.opc,
            lambda: update_opc_profile(profile=profile, actor=world.opc_user, **profile_args()),
        ),
        (
            "portfolio.added",
            world.opc_user,
            world.opc,
            lambda: add_portfolio_item(profile=profile, actor=world.opc_user, title="作品"),
        ),
        (
            "user.updated",
            world.opc_user,
            None,
            lambda: update_user_profile(user=world.opc_user, display_name="新名字", preferred_language="en"),
        ),
        (
            "api_token.issued",
            world.opc_user,
            world.opc,
            lambda: issue_api_token(user=world.opc_user, organisation=world.opc, name="ci"),
        ),
    ]


def test_each_write_appends_an_audit_record_with_actor_organisation_and_request_id(
    world: World, request_id: str
) -> None:
    for action, actor, organisation, write in _writes(world):
        before = AuditRecord.objects.count()
        result = write()
        assert AuditRecord.objects.count() == before + 1, action
        record = AuditRecord.objects.latest("pk")
        assert record.action == action
        assert record.actor == actor, action
        assert record.organisation == (result if organisation is CREATED else organisation), action
        assert record.request_id == request_id, action
    token = world.opc_user.api_tokens.get()
    revoke_api_token(token=token, actor=world.opc_user)
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.organisation, record.request_id) == (
        "api_token.revoked",
        world.opc_user,
        world.opc,
        request_id,
    )


def test_writes_outside_a_request_get_a_job_request_id(world: World) -> None:
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    record = last_record("organisation.verified")
    assert record.request_id.startswith("job-")
    assert len(record.request_id) == len("job-") + 16


def test_a_refused_write_leaves_no_audit_record(world: World) -> None:
    before = AuditRecord.objects.count()
    for refused in (
        lambda: verify_organisation(
            organisation=world.operator, actor=world.opc_user, operator=world.operator
        ),
        lambda: update_organisation(organisation=world.opc, actor=world.opc_user, values={}, uscc="bad"),
        lambda: create_organisation(kind=OrgKind.CLIENT, name="x", owner=world.opc_user, actor=None),
    ):
        with pytest.raises((DomainError, ValidationError)):
            refused()
    assert AuditRecord.objects.count() == before
