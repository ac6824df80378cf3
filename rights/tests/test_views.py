"""Pages of the registry: registering through the form (including bad files), public verification, checking
copies in bulk, evidence, and a case carried through to compensation."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.translation import gettext

from core.testing import World, make_org, make_user
from organisations.capabilities import OrgKind, OrgSubkind
from rights import media
from rights.models import Case, ChainEntry, Compensation, Scan, Suspect, Work, WorkStatus
from rights.tests.helpers import STATEMENT, image, mirrored_clip, register, upload, video

pytestmark = pytest.mark.django_db


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _form(data: bytes, name: str) -> dict[str, object]:
    fields: dict[str, object] = {k: str(v) for k, v in STATEMENT.items()}
    return {**fields, "title": "《星门》第一集", "file": upload(data, name)}


def test_register_a_video_through_the_form(world: World, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    client = _client(world.opc_user)
    assert client.get(reverse("rights:work_register")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("rights:work_register"), _form(video(), "ep1.mp4"))
    work = Work.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "rights:work_detail", args=[work.pk]
    )
    assert work.status == WorkStatus.REGISTERED and work.original_name == "ep1.mp4"
    page = client.get(response["Location"]).content.decode()
    assert work.code in page and work.registration_number in page
    pdf = client.get(reverse("rights:certificate_pdf", args=[work.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (lambda: video()[:3000], "broken.mp4", media.damaged_message),
        (lambda: image()[:400], "broken.png", media.damaged_message),
        (lambda: "这不是视频".encode() * 50, "movie.mp4", media.unsupported_message),
        (lambda: b"%PDF-1.4 nope", "paper.pdf", media.unsupported_message),
    ],
)
def test_bad_files_get_a_clear_error_and_nothing_is_saved(world: World, data, name, message) -> None:  # type: ignore[no-untyped-def]
    response = _client(world.opc_user).post(reverse("rights:work_register"), _form(data(), name))
    assert response.status_code == 400
    assert message() in response.content.decode()
    assert not Work.objects.exists() and not ChainEntry.objects.exists()


def test_english_error_message(world: World) -> None:
    client = _client(world.opc_user)
    response = client.post(
        reverse("rights:work_register"), _form(b"hello", "a.txt"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "This file type is not supported" in response.content.decode()


def test_missing_statement_fields_are_form_errors(world: World) -> None:
    data = _form(image(), "a.png")
    data["originality"] = ""
    data["created_on"] = "2099-01-01"
    response = _client(world.opc_user).post(reverse("rights:work_register"), data)
    assert response.status_code == 400
    content = response.content.decode()
    assert 'data-testid="error-originality"' in content and 'data-testid="error-created_on"' in content
    assert not Work.objects.exists()


def test_only_opcs_see_the_registration_pages(world: World) -> None:
    for user in (world.client_user, world.operator_user, world.authority_user):
        client = _client(user)
        assert client.get(reverse("rights:work_register")).status_code == 403
        assert client.get(reverse("rights:works")).status_code == 403
        assert client.get(reverse("rights:home")).status_code == 200


def test_public_verification_and_tampering(world: World) -> None:
    work = register(world.opc, world.opc_user, image(), name="poster.png", title="海报")
    client = Client()
    response = client.get(reverse("rights:verify_lookup"), {"code": work.code.lower()})
    assert response.status_code == 302 and response["Location"] == reverse("rights:verify", args=[work.code])
    page = client.get(response["Location"])
    assert page.status_code == 200 and 'data-state="valid"' in page.content.decode()
    assert work.prompts not in page.content.decode()  # prompts stay private
    assert 'data-state="intact"' in client.get(reverse("rights:chain")).content.decode()
    Work.objects.filter(pk=work.pk).update(holder_name="冒名顶替")
    assert 'data-state="tampered"' in client.get(reverse("rights:verify", args=[work.code])).content.decode()
    chain_page = client.get(reverse("rights:chain")).content.decode()
    assert 'data-state="broken"' in chain_page
    unknown = client.get(reverse("rights:verify", args=["ABCDEFGHJKLM"]))
    assert unknown.status_code == 404 and 'data-state="unknown"' in unknown.content.decode()
    assert client.get(reverse("rights:verify_lookup"), {"code": "!"}).status_code == 400


def test_bulk_check_evidence_and_case_through_compensation(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    work = register(world.opc, world.opc_user, video())
    agent = make_user("agent")
    agency = make_org(OrgKind.PROVIDER, "浙东版权代理中心", agent, subkind=OrgSubkind.COPYRIGHT_AGENCY)
    holder = _client(world.opc_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = holder.post(
            reverse("rights:scans"),
            {
                "copies": [upload(mirrored_clip(), "repost.mp4"), upload(image(999), "other.png")],
                "note": "抖音",
            },
        )
    scan = Scan.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "rights:scan_detail", args=[scan.pk]
    )
    page = holder.get(response["Location"]).content.decode()
    assert page.count('data-testid="match-row"') == 1 and 'data-testid="no-match"' in page
    match = work.matches.get()
    evidence = holder.get(reverse("rights:evidence", args=[match.pk])).content.decode()
    assert work.title in evidence and 'data-testid="case-form"' in evidence
    pdf = holder.get(reverse("rights:evidence_pdf", args=[match.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    response = holder.post(
        reverse("rights:case_open", args=[match.pk]),
        {"agency": agency.pk, "agency_share": "30", "note": "请维权"},
    )
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "rights:case_detail", args=[case.pk]
    )

    agent_client = _client(agent)
    detail = agent_client.get(reverse("rights:case_detail", args=[case.pk])).content.decode()
    assert 'data-testid="move-accepted"' in detail and 'data-testid="compensation-form"' not in detail
    assert (
        agent_client.post(reverse("rights:case_status", args=[case.pk]), {"status": "accepted"}).status_code
        == 302
    )
    detail = agent_client.get(reverse("rights:case_detail", args=[case.pk])).content.decode()
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', detail)
    assert key is not None
    payment = {"amount": "1000.00", "payer": "某传媒公司", "idempotency_key": key.group(1)}
    for _ in range(2):  # a double submit records the payment once
        assert (
            agent_client.post(reverse("rights:case_compensation", args=[case.pk]), payment).status_code == 302
        )
    comp = Compensation.objects.get()
    assert (comp.agency_amount, comp.creator_amount) == (300, 700)
    # the holder sees the case but cannot record money; the form error path stays a 4xx
    assert holder.post(reverse("rights:case_compensation", args=[case.pk]), payment).status_code == 403
    bad = agent_client.post(reverse("rights:case_status", args=[case.pk]), {"status": "closed"})
    assert bad.status_code == 400
    assert gettext("Describe the outcome before closing the case.") in bad.content.decode()
    # strangers: 404
    other = _client(world.other_opc_user)
    assert other.get(reverse("rights:case_detail", args=[case.pk])).status_code == 404
    assert other.get(reverse("rights:evidence", args=[match.pk])).status_code == 404


def test_a_bad_file_in_a_batch_stops_the_batch(world: World) -> None:
    response = _client(world.opc_user).post(
        reverse("rights:scans"), {"copies": [upload(image(), "ok.png"), upload(b"junk", "bad.mp4")]}
    )
    assert response.status_code == 400 and "bad.mp4" in response.content.decode()
    assert not Scan.objects.exists() and not Suspect.objects.exists()


def test_dashboard_panel_and_nav(world: World) -> None:
    register(world.opc, world.opc_user, image(), name="poster.png", title="海报")
    page = _client(world.opc_user).get(reverse("core:dashboard")).content.decode()
    assert 'data-testid="rights-panel"' in page and 'data-testid="nav-rights"' in page
    client_page = _client(world.client_user).get(reverse("core:dashboard")).content.decode()
    assert 'data-testid="rights-panel"' not in client_page and 'data-testid="nav-rights"' not in client_page


def test_a_file_is_compared_with_the_registration_on_the_public_page(world: World) -> None:
    work = register(world.opc, world.opc_user, image(), name="poster.png", title="海报", certificate=True)
    assert work.certificate_sha256
    with work.certificate_pdf.open("rb") as handle:
        certificate = handle.read()
    client = Client()
    url = reverse("rights:verify_file", args=[work.code])
    page = client.get(reverse("rights:verify", args=[work.code])).content.decode()
    assert f'action="{url}"' in page

    def result(data: bytes, name: str) -> str:
        response = client.post(url, {"file": upload(data, name, "application/octet-stream")})
        assert response.status_code == 200
        found = re.search(r'data-testid="file-check" data-result="(\w+)"', response.content.decode())
        assert found is not None
        return found.group(1)

    assert result(certificate, "certificate.pdf") == "certificate"
    assert result(image(), "poster.png") == "work"
    assert result(certificate[:-10] + b"%%EOF\n" * 2, "edited.pdf") == "none"
    assert result(image(102), "other.png") == "none"
    # nothing was stored, no file is a 400 with the form error, an unknown code a 404
    assert not Scan.objects.exists() and Work.objects.count() == 1
    assert client.post(url, {}).status_code == 400
    assert client.post(reverse("rights:verify_file", args=["ABCDEFGHJKLM"]), {}).status_code == 404


def test_operators_and_authorities_are_pointed_to_the_oversight_figures(world: World) -> None:
    for user in (world.operator_user, world.authority_user):
        page = _client(user).get(reverse("rights:home")).content.decode()
        assert 'data-testid="rights-oversight"' in page
        assert reverse("events:figure_rows", args=["copyright_cases"]) in page
        assert 'data-testid="nav-rights"' in _client(user).get(reverse("core:dashboard")).content.decode()
    for user in (world.opc_user, world.client_user):
        assert (
            'data-testid="rights-oversight"' not in _client(user).get(reverse("rights:home")).content.decode()
        )
