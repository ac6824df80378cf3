"""Demo copyright data (``make demo``): three works of the demo OPC (opc@demo.cn) — two short synthetic videos
and a poster, generated with PIL/PyAV on the spot (a few hundred kB in all) — registered, fingerprinted,
chained and certified through ``rights.services``; the copyright agency 浙东版权代理中心 (copyright@demo.cn)
checks a mirrored, watermarked clip of the first video, finds it, and the OPC hands the match to the agency
as a case, which the agency accepts and enforces. Runs once per database; does nothing when the demo works
exist or the demo organisations are missing.
"""

from __future__ import annotations

import datetime as dt
import io
import random

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from organisations.models import Organisation
from rights import services, synthetic
from rights.models import CaseStatus, Match, Work, WorkCategory

WORKS = [
    (
        "《星门》AI短剧 第一集片段",
        WorkCategory.SHORT_DRAMA,
        "video",
        31,
        12,
        "用可灵与即梦生成分镜画面，人工完成剧本、分镜选择、剪辑、配乐与调色。",
    ),
    (
        "数字人直播间开场动画",
        WorkCategory.DIGITAL_HUMAN,
        "video",
        47,
        8,
        "数字人形象由 HeyGen 生成，动作与镜头由作者逐段设计并合成。",
    ),
    (
        "《星门》宣传海报",
        WorkCategory.ILLUSTRATION,
        "image",
        53,
        0,
        "Midjourney 生成草图，作者重绘构图与文字排版。",
    ),
]


def _holder() -> tuple[Organisation, User] | None:
    user = User.objects.filter(email="opc@demo.cn").first()
    if user is None:
        return None
    membership = user.memberships.select_related("organisation").first()
    return (membership.organisation, user) if membership else None


def _agency() -> tuple[Organisation, User] | None:
    user = User.objects.filter(email="copyright@demo.cn").first()
    if user is None:
        return None
    membership = user.memberships.select_related("organisation").first()
    return (membership.organisation, user) if membership else None


def load(rng: random.Random) -> None:
    holder = _holder()
    agency = _agency()
    if holder is None or agency is None:
        return
    org, user = holder
    agency_org, agency_user = agency
    if Work.objects.filter(holder=org, title=WORKS[0][0]).exists():
        return
    registered = []
    for title, category, kind, seed, seconds, process in WORKS:
        if kind == "video":
            data = synthetic.video_bytes(seed, seconds=seconds)
            upload = SimpleUploadedFile(f"demo-{seed}.mp4", data, content_type="video/mp4")
        else:
            data = synthetic.image_bytes(seed, fmt="PNG")
            upload = SimpleUploadedFile(f"demo-{seed}.png", data, content_type="image/png")
        work = services.register_work(
            holder=org,
            actor=user,
            upload=upload,
            title=title,
            category=category,
            authors="刘十万",
            created_on=dt.date(2026, 2, 1) + dt.timedelta(days=rng.randint(0, 40)),
            first_published_on=dt.date(2026, 4, 18),
            published_where="抖音 @十万光年科幻",
            purpose="用于短剧平台发布与品牌宣传。",
            process=process,
            ai_tools="可灵 2.1；即梦；Midjourney v7；HeyGen",
            prompts="星门开启，废土城市，冷色调，电影感，远景推近",
            originality="作品的选题、分镜、画面取舍、剪辑与后期均由作者独立完成，未使用他人受保护的素材。",
        )
        registered.append(services.process_work(work_id=work.pk))

    # The agency finds a mirrored, watermarked 8-second clip of the first video on a video platform.
    source = registered[0]
    with source.file.open("rb") as handle:
        original = io.BytesIO(handle.read())
    copy = io.BytesIO()
    synthetic.transform_video(
        original,
        copy,
        op=lambda frame: synthetic.overlay_logo(synthetic.mirror(frame), "@搬运号"),
        start_s=3,
        seconds=8,
    )
    scan = services.submit_scan(
        organisation=agency_org,
        actor=agency_user,
        uploads=[SimpleUploadedFile("douyin-repost.mp4", copy.getvalue(), content_type="video/mp4")],
        note="抖音账号 @影视搬运号 2026-05-06 发布",
    )
    suspect = scan.suspects.get()
    services.check_suspect(suspect_id=suspect.pk)
    match = Match.objects.filter(suspect=suspect, work=source).first()
    if match is None:
        return
    case = services.open_case(
        match=match,
        organisation=org,
        actor=user,
        agency=agency_org,
        agency_share="30",
        infringer="抖音 @影视搬运号",
        infringing_url="https://www.douyin.com/user/demo-repost",
        note="对方未经授权搬运并镜像处理，请代为维权。",
    )
    services.change_case_status(
        case=case, organisation=agency_org, actor=agency_user, status=CaseStatus.ACCEPTED
    )
    services.change_case_status(
        case=case, organisation=agency_org, actor=agency_user, status=CaseStatus.ENFORCING
    )
    services.add_case_note(
        case=case,
        organisation=agency_org,
        actor=agency_user,
        text="已向平台提交侵权通知，并联系对方协商赔偿。",
    )
