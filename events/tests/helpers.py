"""Small helpers on top of the shared test world (core.testing) for the events tests."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.utils import timezone

from core.testing import World, make_org, make_user
from events import services
from events.models import Competition, Event, EventStatus, Registration, RegistrationRole
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import Organisation, Skill

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def video(seed: int = 0, frames: int = 16) -> bytes:
    """A real, tiny MP4 (64×48, 2 s, MPEG-4 Part 2) that decoders and the copyright registry accept."""
    import av
    import numpy as np

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    container = av.open(buffer, mode="w", format="mp4")
    stream: Any = container.add_stream("mpeg4", rate=8)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    for i in range(frames):
        arr = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        arr[:, : (i * 4) % 64] = 200
        for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return buffer.getvalue()


MP4 = video()


def start_time(days: int = 7) -> dt.datetime:
    local = timezone.localtime() + dt.timedelta(days=days)
    return local.replace(hour=13, minute=30, second=0, microsecond=0)


def make_event(
    world: World,
    *,
    capacity: int = 3,
    meetings: bool = True,
    publish: bool = True,
    roadshow_slots: int = 2,
    **values: Any,
) -> Event:
    starts = start_time()
    defaults: dict[str, Any] = {
        "title": "海曙OPC资源对接会",
        "venue": "海曙OPC云创Labo 一楼报告厅",
        "starts_at": starts,
        "ends_at": starts + dt.timedelta(hours=5),
        "capacity": capacity,
        "agenda": "13:30 签到\n14:00 路演\n15:00 一对一对接",
        "roadshow_slots": roadshow_slots,
    }
    if meetings:
        defaults.update(
            meetings_start=starts + dt.timedelta(hours=1, minutes=30),
            meeting_slots=4,
            slot_minutes=15,
            tables=2,
            meetings_per_attendee=2,
        )
    community = values.pop("community", world.community)
    defaults.update(values)
    event = services.create_event(
        organiser=world.operator, actor=world.operator_user, community=community, **defaults
    )
    if publish:
        event = services.set_event_status(
            event=event, target=EventStatus.PUBLISHED, actor=world.operator_user
        )
    return event


def guest(event: Event, n: int, **kw: Any) -> Registration:
    """A visitor's sign-up (name + mobile number)."""
    return services.register(event=event, name=f"来宾{n}", actor=None, contact=f"139{n:08d}", **kw)


def investor(
    event: Event, world: World, name: str = "甬江创投", *, skills: tuple[str, ...] = ()
) -> Registration:
    return services.register(
        event=event,
        name=f"{name}合伙人",
        actor=world.operator_user,
        organisation_name=name,
        role=RegistrationRole.INVESTOR,
        interests=list(Skill.objects.filter(code__in=skills)),
        host=services.HostDetails(ticket_min="500000", ticket_max="3000000"),
        invited_by_organiser=True,
    )


def opc(name: str, world: World, *, skills: tuple[str, ...] = ()) -> tuple[Any, Organisation]:
    user = make_user(name)
    org = make_org(OrgKind.OPC, f"{name}工作室", user, community=world.community)
    if skills:
        org.opc_profile.skills.set(Skill.objects.filter(code__in=skills))
    return user, org


def client_org(name: str = "甬优文旅") -> tuple[Any, Organisation]:
    user = make_user(f"client-{name}")
    return user, make_org(OrgKind.CLIENT, name, user, subkind=OrgSubkind.ENTERPRISE)


def make_competition(world: World, *, judges: list[Any] | None = None, open_it: bool = True) -> Competition:
    comp = services.create_competition(
        organiser=world.operator,
        actor=world.operator_user,
        title="AI视频大赛",
        theme="楠溪江",
        submissions_close=timezone.localdate() + dt.timedelta(days=10),
    )
    services.add_criterion(competition=comp, actor=world.operator_user, name="创意", weight="2", max_score=10)
    services.add_criterion(competition=comp, actor=world.operator_user, name="技术", weight="1", max_score=5)
    for user in judges or []:
        services.add_judge(competition=comp, user=user, actor=world.operator_user)
    if open_it:
        comp = services.set_competition_status(competition=comp, target="open", actor=world.operator_user)
    return comp
