"""The licence catalogue (``data/licences.yaml``): what each licence needs, as a materials checklist."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import NotFound

CATALOGUE_FILE = Path(__file__).parent / "data" / "licences.yaml"


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    title: dict[str, str]
    note: dict[str, str]
    required: bool
    site_statement: bool


@dataclass(frozen=True)
class Licence:
    code: str
    name: dict[str, str]
    authority: dict[str, str]
    summary: dict[str, str]
    illustrative: bool
    items: tuple[ChecklistItem, ...]

    @property
    def needs_site_statement(self) -> bool:
        return any(item.site_statement for item in self.items)


def _texts(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not raw.get("zh") or not raw.get("en"):
        raise ValueError(f"{where}: needs zh and en texts")
    return {"zh": str(raw["zh"]), "en": str(raw["en"])}


def parse_catalogue(data: dict[str, Any]) -> dict[str, Licence]:
    licences: dict[str, Licence] = {}
    for raw in data.get("licences") or []:
        code = str(raw["code"])
        if code in licences:
            raise ValueError(f"licence {code} listed twice")
        items = []
        seen: set[str] = set()
        for item in raw.get("items") or []:
            if item["code"] in seen:
                raise ValueError(f"licence {code}: item {item['code']} listed twice")
            seen.add(item["code"])
            items.append(
                ChecklistItem(
                    code=str(item["code"]),
                    title=_texts(item.get("title"), f"{code}.{item['code']}.title"),
                    note=_texts(item.get("note"), f"{code}.{item['code']}.note"),
                    required=bool(item.get("required", True)),
                    site_statement=bool(item.get("site_statement", False)),
                )
            )
        if not items:
            raise ValueError(f"licence {code}: empty checklist")
        licences[code] = Licence(
            code=code,
            name=_texts(raw.get("name"), f"{code}.name"),
            authority=_texts(raw.get("authority"), f"{code}.authority"),
            summary=_texts(raw.get("summary"), f"{code}.summary"),
            illustrative=bool(raw.get("illustrative", False)),
            items=tuple(items),
        )
    return licences


@functools.cache
def catalogue() -> dict[str, Licence]:
    with CATALOGUE_FILE.open(encoding="utf-8") as handle:
        return parse_catalogue(yaml.safe_load(handle))


def licence(code: str) -> Licence:
    found = catalogue().get(code)
    if found is None:
        raise NotFound()
    return found
