"""Fair model contracts for marketplace work: 委托创作合同 (commissioned creation) and 技术服务合同 (technical
service). The creator keeps the copyright and the client gets a defined licence (use, territory, term; never
perpetual or worldwide-irrevocable by default), payment follows the contract's milestones held in escrow, each
milestone has its acceptance criteria and a deemed-acceptance period, revisions are limited, liability is capped
and either party may end the contract on notice.

The text is authored in Chinese (the official version) and English; ``render`` fills it from a
``marketplace.Contract`` (parties, order, price, milestones) and the licence terms chosen in ``FairTermsForm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

KINDS = {
    "commissioned_creation": {"zh": "委托创作合同", "en": "Commissioned creation contract"},
    "technical_service": {"zh": "技术服务合同", "en": "Technical service contract"},
}
TERRITORIES = {
    "mainland": {"zh": "中国大陆地区", "en": "mainland China"},
    "greater_china": {"zh": "中国大陆及港澳台地区", "en": "mainland China, Hong Kong, Macao and Taiwan"},
    "worldwide": {"zh": "全球", "en": "worldwide"},
}


class FairTermsForm(forms.Form):
    kind = forms.ChoiceField(label=_("Model contract"), choices=[(k, v["zh"]) for k, v in KINDS.items()])
    licence = forms.ChoiceField(
        label=_("Licence to the client"),
        choices=[("non_exclusive", _("Non-exclusive")), ("exclusive", _("Exclusive"))],
        initial="non_exclusive",
    )
    years = forms.IntegerField(label=_("Licence term (years)"), min_value=1, max_value=10, initial=3)
    territory = forms.ChoiceField(
        label=_("Territory"), choices=[(k, v["zh"]) for k, v in TERRITORIES.items()], initial="mainland"
    )
    purpose = forms.CharField(label=_("Licensed use"), max_length=200, required=False)
    revisions = forms.IntegerField(
        label=_("Revision rounds per milestone"), min_value=0, max_value=10, initial=2
    )
    lang = forms.ChoiceField(
        label=_("Language"), choices=[("zh", "中文"), ("en", "English")], initial="zh", required=False
    )


@dataclass(frozen=True)
class FairTerms:
    kind: str = "commissioned_creation"
    licence: str = "non_exclusive"
    years: int = 3
    territory: str = "mainland"
    purpose: str = ""
    revisions: int = 2
    lang: str = "zh"


def terms_from(data: Any, *, kind: str | None = None) -> tuple[FairTerms, FairTermsForm]:
    """Terms from request parameters; invalid or missing values fall back to the fair defaults (the form
    carries the errors for the page)."""
    raw = {key: data.get(key) for key in FairTermsForm.base_fields if data.get(key) not in (None, "")}
    if kind:
        raw["kind"] = kind
    defaults = FairTerms()
    form = FairTermsForm({**defaults.__dict__, **raw})
    if not form.is_valid():
        valid = {k: v for k, v in form.cleaned_data.items() if k not in form.errors}
        return FairTerms(
            **{**defaults.__dict__, **{k: v for k, v in valid.items() if v not in (None, "")}}
        ), form
    cleaned = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    return FairTerms(**{**defaults.__dict__, **cleaned}), form


def _milestones(contract: Any) -> list[dict[str, Any]]:
    return [
        {
            "position": m.position,
            "title": m.title,
            "amount": m.amount,
            "due_date": m.due_date,
            "acceptance_criteria": m.acceptance_criteria or contract.order.acceptance_criteria,
        }
        for m in contract.milestones.all().order_by("position", "id")
    ]


def context_for(contract: Any, terms: FairTerms) -> dict[str, Any]:
    from marketplace.services import auto_release_period

    order = contract.order
    lang = terms.lang if terms.lang in ("zh", "en") else "zh"
    acceptance_days = max(1, auto_release_period().days)
    return {
        "terms": terms,
        "lang": lang,
        "kind_name": KINDS[terms.kind][lang],
        "territory": TERRITORIES[terms.territory][lang],
        "purpose": terms.purpose
        or (
            f"《{order.title}》项目约定的发布与宣传用途"
            if lang == "zh"
            else f"the uses agreed for “{order.title}”"
        ),
        "contract": contract,
        "order": order,
        "client": contract.client,
        "opc": contract.opc,
        "milestones": _milestones(contract),
        "acceptance_days": acceptance_days,
        "today": timezone.localdate(),
        "generated_at": timezone.now(),
        "public_url": settings.OPCHUB_PUBLIC_URL,
    }


def template_name(lang: str) -> str:
    return f"contracts/fair/contract_{'en' if lang == 'en' else 'zh'}.html"


def render_body(contract: Any, terms: FairTerms) -> str:
    """The contract text as an HTML fragment (used by the page, the PDF and the API)."""
    return render_to_string(template_name(terms.lang), context_for(contract, terms))


def render_pdf(contract: Any, terms: FairTerms) -> bytes:
    import weasyprint

    html = render_to_string(
        "contracts/fair/pdf.html", {"body": render_body(contract, terms), **context_for(contract, terms)}
    )
    return weasyprint.HTML(string=html, base_url=settings.OPCHUB_PUBLIC_URL + "/").write_pdf()


def plain_text(html: str) -> str:
    """The text of the rendered contract (for the reviewer and the API)."""
    import re
    from html import unescape

    text = re.sub(r"<(?:br|/p|/li|/h[1-6]|/tr|/div)\s*/?>", "\n", html)
    text = re.sub(r"<[^>]+>", "", text)
    text = unescape(text)
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())
