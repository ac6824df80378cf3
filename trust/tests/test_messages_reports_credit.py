"""Message threads (participants, attachments, notifications and e-mail, off-platform flags), reports (routing
to the community operator, one open per target, decisions with a note and audit) and the credit profile
(consent, export with frozen figures and PDF, revocation, verification code)."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from pypdf import PdfReader

from audit.models import AuditRecord
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from core.testing import World, make_org, make_user
from marketplace import services as market
from marketplace.models import Notification
from organisations.access import Scope
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import Membership
from trust import selectors, services
from trust.models import CreditConsent, CreditExport, Message, Report, ReportStatus, Thread

from .conftest import awarded, completed, fund_all, key, open_order

pytestmark = pytest.mark.django_db


def scope_of(user, org) -> Scope:  # type: ignore[no-untyped-def]
    return Scope(Membership.objects.get(user=user, organisation=org))


# ---------------------------------------------------------------------------------------------- threads


class TestThreads:
    def test_bidder_opens_a_thread_and_both_sides_write(self, world: World) -> None:
        order = open_order(world)
        with pytest.raises(NotFound):  # not a bidder yet
            services.open_thread(order=order, organisation=world.opc, actor=world.opc_user)
        market.submit_bid(order=order, opc=world.opc, actor=None, price=Decimal("9000"), timeline_days=10)
        thread = services.open_thread(order=order, organisation=world.opc, actor=world.opc_user)
        assert (thread.client, thread.opc, thread.contract) == (world.client, world.opc, None)
        assert services.open_thread(order=order, organisation=world.opc, actor=None).pk == thread.pk
        assert (
            services.open_thread(order=order, organisation=world.client, actor=None, opc=world.opc).pk
            == thread.pk
        )
        first = services.post_message(
            thread=thread, sender=world.opc, actor=world.opc_user, body="请问有参考样片吗？"
        )
        assert not first.flagged
        note = Notification.objects.get(recipient=world.client, kind="message")
        assert note.link == f"/trust/messages/{thread.pk}/"
        services.post_message(
            thread=thread, sender=world.client, actor=world.client_user, body="有的，见附件"
        )
        assert Notification.objects.filter(recipient=world.opc, kind="message").exists()
        thread.refresh_from_db()
        assert thread.last_message_at is not None
        assert AuditRecord.objects.filter(action="trust.message_posted").count() == 2
        assert AuditRecord.objects.filter(action="trust.thread_opened").count() == 1

    def test_email_goes_to_the_other_side(self, world: World, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
        contract = awarded(world)
        thread = services.open_contract_thread(contract=contract, organisation=world.client, actor=None)
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.post_message(thread=thread, sender=world.client, actor=None, body="合同已签，开始吧")
        assert [m.to for m in mail.outbox] == [[world.opc_user.email]]

    def test_contract_thread_is_the_contracted_opcs_thread(self, world: World) -> None:
        order = open_order(world)
        market.submit_bid(order=order, opc=world.opc, actor=None, price=Decimal("9000"), timeline_days=10)
        early = services.open_thread(order=order, organisation=world.opc, actor=None)
        bid = order.bids.get()
        contract = market.award_bid(order=order, bid=bid, client=world.client, actor=None)
        thread = services.open_contract_thread(contract=contract, organisation=world.client, actor=None)
        assert thread.pk == early.pk and thread.contract == contract
        assert Thread.objects.get(pk=thread.pk).contract_id == contract.pk
        with pytest.raises(NotFound):
            services.open_contract_thread(contract=contract, organisation=world.other_opc, actor=None)

    def test_client_writes_to_eligible_opcs_only(self, world: World) -> None:
        order = open_order(world)
        with pytest.raises(DomainError):
            services.open_thread(order=order, organisation=world.client, actor=None)  # no OPC named
        with pytest.raises(DomainError):
            services.open_thread(order=order, organisation=world.client, actor=None, opc=world.other_opc)
        market.invite_opc(order=order, client=world.client, actor=None, opc=world.other_opc)
        thread = services.open_thread(order=order, organisation=world.client, actor=None, opc=world.other_opc)
        assert thread.opc == world.other_opc
        # An invited OPC may open its thread too; others (and other kinds) cannot see it.
        assert services.open_thread(order=order, organisation=world.other_opc, actor=None).pk == thread.pk
        for outsider in (world.opc, world.operator, world.authority):
            with pytest.raises(NotFound):
                services.open_thread(order=order, organisation=outsider, actor=None)

    def test_only_participants_write_and_bidders_are_separated(self, world: World) -> None:
        order = open_order(world)
        market.submit_bid(order=order, opc=world.opc, actor=None, price=Decimal("9000"), timeline_days=10)
        market.submit_bid(
            order=order, opc=world.other_opc, actor=None, price=Decimal("9500"), timeline_days=10
        )
        mine = services.open_thread(order=order, organisation=world.opc, actor=None)
        theirs = services.open_thread(order=order, organisation=world.other_opc, actor=None)
        assert mine.pk != theirs.pk
        for outsider in (world.other_opc, world.operator):
            with pytest.raises(NotPermitted):
                services.post_message(thread=mine, sender=outsider, actor=None, body="hi")
        # Reading: each bidder sees only its own thread; the operator of the OPC's community reads it.
        opc_scope = scope_of(world.opc_user, world.opc)
        assert list(selectors.threads_for(opc_scope)) == [mine]
        with pytest.raises(NotFound):
            selectors.get_thread_for(opc_scope, theirs.pk)
        operator = selectors.get_thread_for(scope_of(world.operator_user, world.operator), mine.pk)
        assert not operator.can_post and operator.as_party is None
        with pytest.raises(NotFound):
            selectors.get_thread_for(scope_of(world.other_operator_user, world.other_operator), mine.pk)
        assert selectors.get_thread_for(scope_of(world.client_user, world.client), theirs.pk).can_post

    def test_empty_too_long_and_attachments(self, world: World, settings) -> None:  # type: ignore[no-untyped-def]
        thread = services.open_contract_thread(contract=awarded(world), organisation=world.opc, actor=None)
        with pytest.raises(DomainError):
            services.post_message(thread=thread, sender=world.opc, actor=None, body="   ")
        with pytest.raises(DomainError):
            services.post_message(thread=thread, sender=world.opc, actor=None, body="长" * 5001)
        files = [
            SimpleUploadedFile("分镜.pdf", b"%PDF-1.4 storyboard"),
            SimpleUploadedFile("../../x.txt", b"x"),
        ]
        message = services.post_message(
            thread=thread, sender=world.opc, actor=None, body="", attachments=files
        )
        names = sorted(a.name for a in message.attachments.all())
        assert names == ["x.txt", "分镜.pdf"]
        settings.OPCHUB_MAX_UPLOAD_BYTES = 10
        with pytest.raises(DomainError):
            services.post_message(
                thread=thread,
                sender=world.opc,
                actor=None,
                body="大文件",
                attachments=[SimpleUploadedFile("a.bin", b"0" * 11)],
            )
        with pytest.raises(DomainError):
            services.post_message(
                thread=thread,
                sender=world.opc,
                actor=None,
                body="多",
                attachments=[SimpleUploadedFile(f"{n}.txt", b"1") for n in range(6)],
            )
        assert Message.objects.filter(thread=thread).count() == 1

    def test_off_platform_request_is_flagged_warned_and_listed(self, world: World) -> None:
        thread = services.open_contract_thread(contract=awarded(world), organisation=world.opc, actor=None)
        flagged = services.post_message(
            thread=thread, sender=world.opc, actor=None, body="走平台太慢了，我们私下转账，加我微信 opc2026"
        )
        assert flagged.flagged and flagged.flag_terms == ["私下转账", "加我微信"]
        assert Notification.objects.filter(recipient=world.client, kind="message_flagged").exists()
        english = services.post_message(
            thread=thread,
            sender=world.client,
            actor=None,
            body="Could I pay you directly? No — keep it in escrow.",
        )
        assert not english.flagged
        english = services.post_message(
            thread=thread, sender=world.client, actor=None, body="OK, bank transfer to my account later"
        )
        assert english.flagged
        listed = selectors.flagged_messages_for(scope_of(world.operator_user, world.operator))
        assert list(listed) == [english, flagged]
        assert not selectors.flagged_messages_for(
            scope_of(world.other_operator_user, world.other_operator)
        ).exists()
        assert not selectors.flagged_messages_for(scope_of(world.opc_user, world.opc)).exists()
        assert (
            AuditRecord.objects.filter(action="trust.message_posted", summary__contains="私下").count() == 0
        )


# ---------------------------------------------------------------------------------------------- reports


class TestReports:
    def test_report_goes_to_the_community_operator_and_is_decided(self, world: World) -> None:
        order = open_order(world)  # world.client has no community: the reporter's operator reviews it
        target, objects = selectors.report_target_for(world.opc, "order", order.pk)
        assert target == world.client
        report = services.file_report(
            reporter=world.opc,
            actor=world.opc_user,
            target_kind="order",
            reported=target,
            reason="fraud",
            details="要求先交保证金",
            **objects,
        )
        assert report.operator == world.operator and report.status == ReportStatus.OPEN
        assert Notification.objects.filter(recipient=world.operator, kind="report_filed").exists()
        with pytest.raises(Conflict):
            services.file_report(
                reporter=world.opc,
                actor=None,
                target_kind="order",
                reported=target,
                reason="spam",
                details="again",
                **objects,
            )
        with pytest.raises(NotPermitted):
            services.decide_report(
                report=report, operator=world.other_operator, actor=None, outcome="dismissed", note="x"
            )
        with pytest.raises(DomainError):
            services.decide_report(
                report=report, operator=world.operator, actor=None, outcome="actioned", note=" "
            )
        with pytest.raises(DomainError):
            services.decide_report(
                report=report, operator=world.operator, actor=None, outcome="open", note="x"
            )
        decided = services.decide_report(
            report=report,
            operator=world.operator,
            actor=world.operator_user,
            outcome="actioned",
            note="已联系客户核实并警告",
        )
        assert decided.status == ReportStatus.ACTIONED and decided.decided_by == world.operator_user
        assert Notification.objects.filter(recipient=world.opc, kind="report_decided").exists()
        with pytest.raises(InvalidTransition):
            services.decide_report(
                report=report, operator=world.operator, actor=None, outcome="dismissed", note="x"
            )
        assert list(
            AuditRecord.objects.filter(action__startswith="trust.report")
            .values_list("action", flat=True)
            .order_by("pk")
        ) == [
            "trust.report_filed",
            "trust.report_decided",
        ]
        # Once decided, the same target may be reported again.
        again = services.file_report(
            reporter=world.opc,
            actor=None,
            target_kind="order",
            reported=target,
            reason="spam",
            details="又来了",
            **objects,
        )
        assert again.pk != report.pk

    def test_reported_organisations_community_comes_first(self, world: World) -> None:
        target, objects = selectors.report_target_for(world.client, "organisation", world.other_opc.pk)
        report = services.file_report(
            reporter=world.client,
            actor=None,
            target_kind="organisation",
            reported=target,
            reason="misleading",
            details="作品集造假",
            **objects,
        )
        assert report.operator == world.other_operator
        nowhere = make_org(OrgKind.CLIENT, "无社区客户", make_user("nowhere"), subkind=OrgSubkind.ENTERPRISE)
        report = services.file_report(
            reporter=nowhere,
            actor=None,
            target_kind="organisation",
            reported=world.client,
            reason="other",
            details="x",
        )
        assert report.operator is None  # staff handle these in the admin

    def test_targets_must_be_visible(self, world: World) -> None:
        contract = awarded(world)
        thread = services.open_contract_thread(contract=contract, organisation=world.opc, actor=None)
        message = services.post_message(thread=thread, sender=world.client, actor=None, body="加我微信")
        assert selectors.report_target_for(world.opc, "message", message.pk)[0] == world.client
        assert selectors.report_target_for(world.client, "contract", contract.pk)[0] == world.opc
        for org, kind, pk in (
            (world.other_opc, "message", message.pk),
            (world.operator, "contract", contract.pk),
            (world.other_opc, "order", contract.order_id),  # awarded, no longer public
            (world.opc, "nonsense", 1),
            (world.opc, "organisation", 10**12),
            (None, "organisation", world.client.pk),
        ):
            with pytest.raises(NotFound):
                selectors.report_target_for(org, kind, pk)
        with pytest.raises(DomainError):
            services.file_report(
                reporter=world.client,
                actor=None,
                target_kind="organisation",
                reported=world.client,
                reason="spam",
                details="x",
            )
        with pytest.raises(DomainError):
            services.file_report(
                reporter=world.opc,
                actor=None,
                target_kind="organisation",
                reported=world.client,
                reason="bogus",
                details="x",
            )
        assert not Report.objects.exists()


# ---------------------------------------------------------------------------------------------- credit profile


class TestCreditProfile:
    def test_consent_export_verify_and_revoke(self, world: World) -> None:
        done = completed(world, price="8000.00")
        services.submit_review(contract=done, author=world.client, actor=None, rating=5)
        active = awarded(world, price="20000.00", milestones=2)
        first = active.milestones.order_by("position").first()
        assert first is not None
        market.fund_milestone(milestone=first, client=world.client, actor=None, idempotency_key=key())

        export = services.create_credit_export(
            opc=world.opc,
            actor=world.opc_user,
            recipient="宁波银行海曙支行",
            purpose="订单贷",
            consent_given=True,
        )
        consent = export.consent
        assert (consent.granted_by, consent.recipient, consent.purpose) == (
            world.opc_user,
            "宁波银行海曙支行",
            "订单贷",
        )
        facts = export.facts
        assert facts["totals"] == {
            "contracts": "1",
            "value": "20000.00",
            "in_escrow": "10000.00",
            "released": "0.00",
            "remaining": "20000.00",
        }
        assert facts["orders_in_hand"][0]["client"] == world.client.name
        assert facts["completed"]["contracts"] == 1 and facts["completed"]["value"] == "8000.00"
        assert facts["completed"]["on_time_rate"] == "100.0"
        assert facts["reputation"]["score"] == 2
        assert facts["consent"]["recipient"] == "宁波银行海曙支行"
        assert len(export.code) == 12 and export.code.isalnum()
        pdf = export.pdf.read()
        assert hashlib.sha256(pdf).hexdigest() == export.pdf_sha256
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        assert export.code in text and world.opc.name in text and "20,000.00" in text
        assert selectors.export_by_code(export.code.lower()) == export
        assert selectors.export_by_code(f" {export.code[:6]}-{export.code[6:]} ") == export
        assert selectors.export_by_code("nope!") is None
        assert AuditRecord.objects.filter(action="trust.credit_profile_exported").exists()

        # Figures are frozen: later outcomes do not change the export.
        fund_all_remaining(active)
        assert CreditExport.objects.get(pk=export.pk).facts["totals"]["in_escrow"] == "10000.00"
        second = services.export_credit_profile(consent=consent, opc=world.opc, actor=world.opc_user)
        assert second.code != export.code and second.facts["totals"]["in_escrow"] == "20000.00"

        services.revoke_credit_consent(consent=consent, opc=world.opc, actor=world.opc_user)
        consent.refresh_from_db()
        assert consent.revoked_at is not None and consent.revoked_by == world.opc_user
        with pytest.raises(InvalidTransition):
            services.export_credit_profile(consent=consent, opc=world.opc, actor=world.opc_user)
        with pytest.raises(InvalidTransition):
            services.revoke_credit_consent(consent=consent, opc=world.opc, actor=world.opc_user)
        assert CreditExport.objects.filter(consent=consent).count() == 2

    def test_consent_rules(self, world: World) -> None:
        with pytest.raises(DomainError):
            services.create_credit_export(
                opc=world.opc, actor=world.opc_user, recipient="银行", purpose="贷款", consent_given=False
            )
        with pytest.raises(NotPermitted):
            services.create_credit_export(
                opc=world.client,
                actor=world.client_user,
                recipient="银行",
                purpose="贷款",
                consent_given=True,
            )
        with pytest.raises(DomainError):
            services.create_credit_export(
                opc=world.opc, actor=world.opc_user, recipient=" ", purpose="贷款", consent_given=True
            )
        assert not CreditConsent.objects.exists() and not CreditExport.objects.exists()
        consent = services.grant_credit_consent(
            opc=world.opc, actor=world.opc_user, recipient="银行", purpose="贷款"
        )
        with pytest.raises(NotFound):
            services.export_credit_profile(consent=consent, opc=world.other_opc, actor=world.other_opc_user)
        with pytest.raises(NotFound):
            services.revoke_credit_consent(consent=consent, opc=world.other_opc, actor=world.other_opc_user)
        export = services.export_credit_profile(consent=consent, opc=world.opc, actor=world.opc_user)
        assert (
            export.facts["totals"]["contracts"] == "0" and export.facts["completed"]["on_time_rate"] is None
        )


def fund_all_remaining(contract) -> None:  # type: ignore[no-untyped-def]
    for m in contract.milestones.filter(status="pending"):
        market.fund_milestone(milestone=m, client=contract.client, actor=None, idempotency_key=key())


@override_settings(OPCHUB_PUBLIC_URL="https://hub.example.cn")
def test_verification_url_uses_the_public_address() -> None:
    from trust.pdf import credit_verification_url

    assert (
        credit_verification_url("ABCD2345EFGH") == "https://hub.example.cn/trust/credit/verify/ABCD2345EFGH/"
    )


def test_fund_all_helper_is_consistent(world: World) -> None:
    contract = awarded(world, price="3000.00")
    fund_all(contract)
    assert contract.milestones.get().status == "funded"
