"""Smoke test: the home page renders in a real browser with its static assets (htmx) loaded."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Response, expect

pytestmark = pytest.mark.browser


def test_home_page_has_title_and_loads_htmx(page: Page) -> None:
    failed_static: list[str] = []

    def check_static(response: Response) -> None:
        if "/static/" in response.url and not response.ok:
            failed_static.append(f"{response.status} {response.url}")

    page.on("response", check_static)

    response = page.goto("/")

    assert response is not None and response.ok, f"GET / answered {response and response.status}"
    expect(page).to_have_title(re.compile("OPC Hub"))
    page.wait_for_function("typeof window.htmx === 'object'")
    assert page.evaluate("typeof htmx") == "object"
    assert not failed_static, f"static files failed to load: {failed_static}"
