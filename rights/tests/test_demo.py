"""The rights demo data on top of the base demo (other apps' demo data left out)."""

from __future__ import annotations

import random

import pytest

from core import extensions
from core.demo import load_demo
from rights import chain, demo_data
from rights.models import Case, CaseStatus, Match, Work, WorkStatus

pytestmark = pytest.mark.django_db


def test_demo_works_and_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extensions, "load_app_demos", lambda rng: None)
    load_demo()
    demo_data.load(random.Random(2026))
    works = Work.objects.filter(registered_by__email="opc@demo.cn")
    assert works.count() == 3 and all(w.status == WorkStatus.REGISTERED for w in works)
    assert all(w.certificate_pdf for w in works)
    assert sum(w.file_size for w in works) < 3_000_000  # small synthetic media
    case = Case.objects.get()
    assert case.agency.name == "浙东版权代理中心" and case.status == CaseStatus.ENFORCING
    assert case.match.mirrored and case.notes.count() == 2
    assert chain.verify_chain().ok
    demo_data.load(random.Random(2026))  # a second run adds nothing
    assert Work.objects.count() == 3 and Case.objects.count() == 1 and Match.objects.count() == 1
