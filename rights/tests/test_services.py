"""Registry services: registration, the chain and its tamper detection, checking suspected copies."""

from __future__ import annotations

import io

import pytest
from django.utils import translation
from pypdf import PdfReader

from audit.models import AuditRecord
from core.errors import Conflict, DomainError, NotPermitted
from core.testing import World
from rights import chain, services
from rights.models import ChainEntry, ChainHead, Frame, Match, Suspect, SuspectStatus, Work, WorkStatus
from rights.tests.helpers import STATEMENT, image, mirrored_clip, register, upload, video

pytestmark = pytest.mark.django_db


def test_registering_a_video_fingerprints_chains_and_certifies_it(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        work = services.register_work(
            holder=world.opc,
            actor=world.opc_user,
            upload=upload(video()),
            title="《星门》第一集",
            **STATEMENT,
        )
        assert work.status == WorkStatus.PROCESSING and not ChainEntry.objects.exists()
    work.refresh_from_db()
    assert work.status == WorkStatus.REGISTERED, work.failure_reason
    assert (work.holder_name, work.frames_sampled, work.frames_kept) == (world.opc.name, 12, 12)
    assert Frame.objects.filter(work=work).count() == 48
    entry = work.chain_entry
    assert entry.sequence == 1 and entry.previous_hash == "0" * 64
    assert entry.content_sha256 == work.sha256
    assert ChainHead.objects.get().head_hash == entry.entry_hash
    assert work.registration_number.startswith("OPC-R-") and work.registration_number.endswith("-0000001")
    # the certificate: a PDF with the code, the file hash and a QR code of the verification page
    assert work.certificate_pdf and len(work.certificate_sha256) == 64
    text = "".join(page.extract_text() for page in PdfReader(work.certificate_pdf.open("rb")).pages)
    assert work.code in text and work.sha256[:32] in text.replace("\n", "")
    assert AuditRecord.objects.filter(action="rights.work_registered", organisation=world.opc).exists()


def test_second_registration_links_to_the_first(world: World) -> None:
    first = register(world.opc, world.opc_user, video())
    second = register(world.other_opc, world.other_opc_user, image(), name="poster.png", title="海报")
    assert second.chain_entry.sequence == 2
    assert second.chain_entry.previous_hash == first.chain_entry.entry_hash
    report = chain.verify_chain()
    assert report.ok and report.entries == 2 and report.head_hash == second.chain_entry.entry_hash


def test_only_opcs_register(world: World) -> None:
    for org, user in [(world.client, world.client_user), (world.operator, world.operator_user)]:
        with pytest.raises(NotPermitted):
            services.register_work(
                holder=org, actor=user, upload=upload(image(), "a.png"), title="x", **STATEMENT
            )
    assert not Work.objects.exists()


def test_the_same_file_is_registered_once(world: World) -> None:
    register(world.opc, world.opc_user, image(), name="a.png")
    with pytest.raises(Conflict):
        register(world.opc, world.opc_user, image(), name="b.png", process=False)
    with pytest.raises(Conflict):
        register(world.other_opc, world.other_opc_user, image(), name="c.png", process=False)
    assert Work.objects.count() == 1


def test_statement_rules(world: World) -> None:
    import datetime as dt

    with pytest.raises(DomainError):
        register(
            world.opc, world.opc_user, image(), name="a.png", created_on=dt.date(2099, 1, 1), process=False
        )
    with pytest.raises(DomainError):
        register(
            world.opc,
            world.opc_user,
            image(),
            name="a.png",
            created_on=dt.date(2026, 3, 1),
            first_published_on=dt.date(2026, 2, 1),
            process=False,
        )
    with pytest.raises(DomainError):
        register(world.opc, world.opc_user, image(), name="a.png", originality="  ", process=False)
    with pytest.raises(DomainError):
        register(world.opc, world.opc_user, b"not media at all", name="a.txt", process=False)
    assert not Work.objects.exists()


def test_a_stored_file_that_no_longer_decodes_fails_without_a_chain_entry(world: World) -> None:
    work = register(world.opc, world.opc_user, video(), process=False)
    with work.file.open("wb") as handle:  # damaged on disk after the upload checks
        handle.write(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    work = services.process_work(work_id=work.pk)
    assert work.status == WorkStatus.FAILED and work.failure_reason
    assert not ChainEntry.objects.exists() and not Frame.objects.exists()
    assert services.process_work(work_id=work.pk).status == WorkStatus.FAILED  # a retry changes nothing


def test_processing_twice_appends_once(world: World) -> None:
    work = register(world.opc, world.opc_user, image(), name="a.png")
    services.process_work(work_id=work.pk)
    assert ChainEntry.objects.count() == 1 and Frame.objects.filter(work=work).count() == 16


# -- tamper detection ---------------------------------------------------------------------------------------------
@pytest.fixture
def chained(world: World) -> list[Work]:
    return [
        register(world.opc, world.opc_user, image(101), name="a.png", title="甲"),
        register(world.opc, world.opc_user, image(102), name="b.png", title="乙"),
        register(world.opc, world.opc_user, image(103), name="c.png", title="丙"),
    ]


def _problems(sequence: int) -> list[str]:
    report = chain.verify_chain()
    assert not report.ok and report.first_broken == sequence
    return [p for s, p in report.problems if s == sequence]


def test_changing_a_registered_fact_is_detected(chained: list[Work]) -> None:
    assert chain.verify_chain().ok
    Work.objects.filter(pk=chained[1].pk).update(title="被篡改的标题")
    with translation.override("en"):
        assert _problems(2) == ["The registered facts of the work were changed."]
        entry = ChainEntry.objects.select_related("work").get(sequence=2)
        check = chain.check_entry(entry, previous=chained[0].chain_entry)
        assert check.problems == ["The registered facts of the work were changed."]


def test_changing_the_content_hash_or_fingerprints_is_detected(chained: list[Work]) -> None:
    Work.objects.filter(pk=chained[0].pk).update(sha256="0" * 64)
    assert _problems(1)
    Work.objects.filter(pk=chained[0].pk).update(sha256=chained[0].sha256)
    frame = Frame.objects.filter(work=chained[2]).first()
    assert frame is not None
    Frame.objects.filter(pk=frame.pk).update(hash=b"\x00" * 32)
    with translation.override("en"):
        assert _problems(3) == ["The stored fingerprints differ from the ones registered."]


def test_rewriting_an_entry_or_a_link_is_detected(chained: list[Work]) -> None:
    entry = chained[1].chain_entry
    ChainEntry.objects.filter(pk=entry.pk).update(metadata_digest="f" * 64)
    with translation.override("en"):
        assert "The entry's own hash does not match its contents." in _problems(2)
    ChainEntry.objects.filter(pk=entry.pk).update(
        metadata_digest=entry.metadata_digest, previous_hash="a" * 64
    )
    with translation.override("en"):
        assert "The link to the previous entry does not match." in _problems(2)


def test_removing_an_entry_is_detected(chained: list[Work]) -> None:
    ChainEntry.objects.filter(sequence=2).delete()
    report = chain.verify_chain()
    assert not report.ok and report.first_broken is not None and report.first_broken <= 3


def test_chain_head_must_match_the_last_entry(chained: list[Work]) -> None:
    ChainHead.objects.update(head_hash="b" * 64)
    assert not chain.verify_chain().ok


# -- checking suspected copies ----------------------------------------------------------------------------------------
def test_a_copy_is_found_and_kept_as_evidence(world: World, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    work = register(world.opc, world.opc_user, video())
    register(world.opc, world.opc_user, image(), name="poster.png", title="海报")
    with django_capture_on_commit_callbacks(execute=True):
        scan = services.submit_scan(
            organisation=world.other_opc,
            actor=world.other_opc_user,
            uploads=[upload(mirrored_clip(), "repost.mp4"), upload(video(77, 6), "unrelated.mp4")],
            note="抖音 @搬运号",
        )
    copy, unrelated = scan.suspects.order_by("id")
    assert copy.status == unrelated.status == SuspectStatus.DONE
    assert copy.query_ms is not None and copy.frames_kept > 0
    match = copy.matches.get()
    assert match.work == work and match.mirrored and match.votes >= 3
    assert match.segments and match.segments[0]["frames"] >= 3
    assert not unrelated.matches.exists()
    assert copy.file and len(copy.sha256) == 64  # the copy itself is kept
    # checking again changes nothing
    assert services.check_suspect(suspect_id=copy.pk).matches.count() == 1


def test_only_opcs_and_copyright_agencies_submit(world: World) -> None:
    with pytest.raises(NotPermitted):
        services.submit_scan(
            organisation=world.client, actor=world.client_user, uploads=[upload(image(), "a.png")]
        )
    with pytest.raises(NotPermitted):  # a law firm is a provider, not a copyright agency
        services.submit_scan(
            organisation=world.provider, actor=world.provider_user, uploads=[upload(image(), "a.png")]
        )
    with pytest.raises(DomainError):
        services.submit_scan(organisation=world.opc, actor=world.opc_user, uploads=[])
    assert not Suspect.objects.exists()


def test_a_suspect_that_does_not_decode_is_marked(world: World) -> None:
    scan = services.submit_scan(
        organisation=world.opc, actor=world.opc_user, uploads=[upload(image(), "a.png")]
    )
    suspect = scan.suspects.get()
    with suspect.file.open("wb") as handle:
        handle.write(b"garbage")
    suspect = services.check_suspect(suspect_id=suspect.pk)
    assert suspect.status == SuspectStatus.FAILED and suspect.failure_reason
    assert not Match.objects.exists()


def test_index_follows_new_registrations(world: World) -> None:
    from rights import registry_index

    register(world.opc, world.opc_user, image(101), name="a.png")
    before = len(registry_index.current())
    register(world.opc, world.opc_user, image(102), name="b.png")
    assert len(registry_index.current()) == before + 16
    found, _info = services.find_in_registry(io.BytesIO(image(102)), "image")
    assert found and Work.objects.get(pk=found[0].work_id).original_name == "b.png"
