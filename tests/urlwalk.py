"""Enumerate every named URL pattern of the site (pages) and every operation of the API schema."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver

EXCLUDED_NAMESPACES = {"admin", "api-1.0.0"}
EXCLUDED_NAMES = {"set_language"}


def page_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list, namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or ""
                if ns in EXCLUDED_NAMESPACES:
                    continue
                walk(p.url_patterns, f"{namespace}{ns}:" if ns else namespace)
            elif isinstance(p, URLPattern) and p.name and p.name not in EXCLUDED_NAMES:
                names.add(f"{namespace}{p.name}")

    walk(get_resolver().url_patterns, "")
    return names


def api_operations() -> set[tuple[str, str]]:
    from opchub.api import api

    schema = api.get_openapi_schema()
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
