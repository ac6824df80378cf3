"""Demo data of the service desk (``make demo``), from the seeds: Wenzhou's first-year free legal service through
a "chief legal manager", and the licence paperwork operators assemble case by case.

- 十万光年工作室 (opc@demo.cn) asks for a lawyer about the "investment agreement" that buys out the director's IP
  and future output, using a free consultation; the Haishu operator routes it to 甬城律师事务所 (lawyer@demo.cn),
  whose lawyer has answered. Another member's legal ticket is resolved and rated; a finance ticket is with the
  accountants; a copyright ticket waits for routing.
- 十万光年工作室 applies for the 广播电视节目制作经营许可证: the operator issued a site statement for its workstation
  in the re-used school building, which completes the premises item; most materials are in.

Everything goes through the services (audit trail included). Runs once per database inside
``core.demo.load_demo``; does nothing when the demo ticket exists.
"""

from __future__ import annotations

import random
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from organisations.models import Membership, Organisation
from servicedesk import services
from servicedesk.models import Ticket

SUBJECT = "投资协议要求买断导演个人IP及未来作品，请律师把关"


def _member(email: str) -> tuple[Any, Organisation] | None:
    membership = Membership.objects.select_related("user", "organisation").filter(user__email=email).first()
    return (membership.user, membership.organisation) if membership else None


def _owner(org: Organisation) -> Any:
    membership = Membership.objects.select_related("user").filter(organisation=org).order_by("pk").first()
    return membership.user if membership else None


def load(rng: random.Random) -> None:
    if Ticket.objects.filter(subject=SUBJECT).exists():
        return
    member = _member("opc@demo.cn")
    lawyer = _member("lawyer@demo.cn")
    if member is None or lawyer is None:
        return
    opc_user, opc = member
    lawyer_user, law_firm = lawyer
    operator = services.operator_of(opc)
    if operator is None:
        return
    operator_user = _owner(operator)

    # 1. The seeds' story: a lawyer for the "investment agreement", on the free legal service.
    from contracts.models import Review

    review = Review.objects.filter(organisation=opc).order_by("created_at").first()
    description = (
        "甬江星辰文化产业投资有限公司拟投资人民币一千万元，但协议要求我在签约前后创作的全部作品著作权永久转让，"
        "合同期内及期满后五年的作品也归对方，还要永久使用我的姓名、肖像和声音并用于训练AI。"
        "平台的合同审查把这些条款列为最高风险，请律师帮我逐条修改后再谈。"
    )
    if review is not None:
        description += f"\n审查报告：/contracts/reviews/{review.pk}/"
    ticket = services.open_ticket(
        requester=opc,
        actor=opc_user,
        category="legal",
        subject=SUBJECT,
        description=description,
        use_free_quota=True,
        uploads=[
            SimpleUploadedFile(
                "投资合作协议.txt",
                (Review.objects.get(pk=review.pk).text if review else "投资合作协议").encode("utf-8"),
                content_type="text/plain",
            )
        ],
    )
    services.route_ticket(ticket=ticket, operator=operator, actor=operator_user, provider=law_firm)
    services.post_message(
        ticket=ticket,
        organisation=law_firm,
        actor=lawyer_user,
        body=(
            "已收到。初步意见：第二条应改为“作品著作权归乙方所有，投资方在约定范围内获得许可”，"
            "删除对未来作品的买断和个人肖像、声音的永久授权；对赌与回购义务不应由导演个人承担；"
            "违约金人民币伍佰万元为投资额的50%，明显过高。明天下午可以当面沟通。"
        ),
    )

    # 2. Another member's ticket, resolved and rated.
    other = _member("opc01@demo.cn")
    if other is not None:
        done = services.open_ticket(
            requester=other[1],
            actor=other[0],
            category="legal",
            subject="客户要求“修改至满意为止”，验收条款怎么写？",
            description="委托方的合同写着修改次数不限、以甲方满意为准，想改成有客观标准的验收条款。",
            use_free_quota=services.operator_of(other[1]) == operator,
        )
        if done.operator_id == operator.pk:
            services.route_ticket(ticket=done, operator=operator, actor=operator_user, provider=law_firm)
            services.post_message(
                ticket=done,
                organisation=law_firm,
                actor=lawyer_user,
                body="建议：验收标准写进附件；每个里程碑两轮修改，超出另计费；五个工作日未书面提出异议视为验收合格。",
            )
            services.act_on_ticket(ticket=done, organisation=law_firm, actor=lawyer_user, action="resolve")
            services.rate_ticket(
                ticket=done, organisation=other[1], actor=other[0], rating=5, comment="很实用"
            )

    # 3. Finance with the accountants; 4. copyright waiting for routing.
    accountants = Organisation.objects.filter(subkind="accounting").order_by("pk").first()
    finance = services.open_ticket(
        requester=opc,
        actor=opc_user,
        category="finance",
        subject="境外算力发票无法入账，能否申请补贴？",
        description="去年通过境外平台购买的算力没有发票，想了解如何合规入账并申请算力补贴。",
    )
    if accountants is not None:
        services.route_ticket(ticket=finance, operator=operator, actor=operator_user, provider=accountants)
    services.open_ticket(
        requester=opc,
        actor=opc_user,
        category="copyright",
        subject="AI短剧《星门》被搬运，需要确权和维权",
        description="作品在三个平台被整段搬运，需要登记著作权并发起投诉。",
    )

    # 5. A licence case with the operator's site statement.
    from communities.models import Residency
    from communities.services import issue_site_statement

    case = services.open_case(
        organisation=opc,
        actor=opc_user,
        licence_code="radio_tv_production",
        note="承接文旅短剧项目需要此证；工位位于改造后的原校舍。",
    )
    residency = Residency.objects.filter(organisation=opc, end_date__isnull=True).order_by("pk").first()
    if residency is not None and operator_user is not None:
        statement = issue_site_statement(
            residency=residency, purpose="广播电视节目制作经营许可证", actor=operator_user
        )
        services.link_site_statement(
            case=case, organisation=operator, actor=operator_user, statement=statement
        )
    for item in case.items.all():
        if item.code in ("application_form", "business_licence", "articles", "legal_rep_id"):
            services.update_case_item(item=item, organisation=opc, actor=opc_user, done=True)
