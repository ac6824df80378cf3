"""Teams tests: the shared test world plus a third OPC, skills and profiles (see ``helpers``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from core.testing import world  # noqa: F401


@pytest.fixture(autouse=True)
def english() -> Any:
    with translation.override("en"):
        yield
