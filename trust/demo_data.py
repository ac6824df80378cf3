"""Demo trust data (``make demo``), on top of the demo market (``marketplace.demo_data`` runs first): both sides
review each completed contract, 十万光年 (opc@demo.cn) and its client talk in their contract's thread, a bidder
asks the enterprise client to pay off the platform (a flagged message) and the client reports it, so the
operator finds one open report in its queue.

Everything goes through ``trust.services``. It tolerates a market without contracts (then it only does what it
can) and does nothing when trust data already exists.
"""

from __future__ import annotations

import random

from accounts.models import User
from marketplace.models import Bid, BidStatus, Contract, ContractStatus
from organisations.models import Organisation
from trust import services
from trust.models import Review, Thread

REVIEWS = [
    (5, "交付准时，成片质量超出预期，沟通顺畅，会再合作。"),
    (4, "整体满意，第二轮修改响应稍慢。"),
    (5, "需求清晰，验收及时，付款爽快。"),
]


def _owner(org: Organisation) -> User | None:
    membership = org.memberships.select_related("user").order_by("pk").first()
    return membership.user if membership else None


def load(rng: random.Random) -> None:
    if Review.objects.exists() or Thread.objects.exists():
        return

    # 1. Reviews both ways on every completed contract.
    for contract in Contract.objects.filter(status=ContractStatus.COMPLETED).select_related("client", "opc")[
        :10
    ]:
        rating, text = rng.choice(REVIEWS[:2])
        services.submit_review(
            contract=contract, author=contract.client, actor=_owner(contract.client), rating=rating, text=text
        )
        services.submit_review(
            contract=contract, author=contract.opc, actor=_owner(contract.opc), rating=5, text=REVIEWS[2][1]
        )

    # 2. A conversation in 十万光年's active contract.
    star_contract = (
        Contract.objects.filter(status=ContractStatus.ACTIVE, opc__memberships__user__email="opc@demo.cn")
        .select_related("client", "opc", "order")
        .order_by("pk")
        .first()
    )
    if star_contract is not None:
        thread = services.open_contract_thread(
            contract=star_contract, organisation=star_contract.opc, actor=_owner(star_contract.opc)
        )
        services.post_message(
            thread=thread,
            sender=star_contract.opc,
            actor=_owner(star_contract.opc),
            body="第 1 集成片已上传，请在验收期内查看。第 2、3 集预计下周交付。",
        )
        services.post_message(
            thread=thread,
            sender=star_contract.client,
            actor=_owner(star_contract.client),
            body="收到，今天内完成验收。片尾请加上景区 LOGO。",
        )

    # 3. A bidder on an open tender asks the client to pay outside the platform; the client reports it.
    bid = (
        Bid.objects.filter(status__in=[BidStatus.SUBMITTED, BidStatus.SHORTLISTED], order__status="open")
        .exclude(opc__memberships__user__email="opc@demo.cn")
        .select_related("opc", "order", "order__client")
        .order_by("pk")
        .first()
    )
    if bid is not None:
        thread = services.open_thread(order=bid.order, organisation=bid.opc, actor=_owner(bid.opc))
        message = services.post_message(
            thread=thread,
            sender=bid.opc,
            actor=_owner(bid.opc),
            body="平台手续费太高了，我们私下转账吧，价格可以再低一点。加我微信 ai-studio-2026 详聊。",
        )
        client = bid.order.client
        services.file_report(
            reporter=client,
            actor=_owner(client),
            target_kind="message",
            reported=bid.opc,
            reason="off_platform",
            details="投标方要求绕开平台私下转账，并要求加微信。",
            message=message,
            order=bid.order,
        )
