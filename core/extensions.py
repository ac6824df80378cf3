"""Extension points through which each app adds to shared pages without editing them.

An app may provide any of these optional modules:

- ``<app>/nav.py``      ``items(request, scope) -> list[NavItem]``: links in the top navigation.
- ``<app>/panels.py``   ``panels(scope) -> list[Panel]``: sections on the role dashboard.
- ``<app>/demo_data.py`` ``load(rng) -> None``: demo data, run by ``load_demo`` after the base data,
                        in ``INSTALLED_APPS`` order (so an app may rely on the apps before it).
- ``<app>/tests/matrix*.py``  rows for the permission matrix (see ``tests/test_permission_matrix.py``).

Only the project's own apps (those living in this repository) are asked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from django.apps import apps
from django.conf import settings


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    testid: str = ""
    order: int = 100


@dataclass(frozen=True)
class Panel:
    """A dashboard section: ``template`` is rendered with ``panel`` bound to ``context``."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 100


def project_apps() -> list[str]:
    base = Path(settings.BASE_DIR).resolve()
    return [
        config.name
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(base) and ".venv" not in Path(config.path).parts
    ]


@functools.cache
def contributions(module: str) -> tuple[ModuleType, ...]:
    found = []
    for app in project_apps():
        name = f"{app}.{module}"
        try:
            found.append(import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return tuple(found)


def nav_items(request: Any, scope: Any) -> list[NavItem]:
    items: list[NavItem] = []
    for module in contributions("nav"):
        items.extend(module.items(request, scope))
    return sorted(items, key=lambda i: i.order)


def dashboard_panels(scope: Any) -> list[Panel]:
    panels: list[Panel] = []
    for module in contributions("panels"):
        panels.extend(module.panels(scope))
    return sorted(panels, key=lambda p: p.order)


def load_app_demos(rng: Any) -> None:
    for module in contributions("demo_data"):
        module.load(rng)
