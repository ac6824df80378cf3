"""Plain text out of an uploaded contract.

The file type is decided by the content, not the name: a .docx is a ZIP package with ``word/document.xml``,
a PDF starts with ``%PDF-``, and a text file must decode as UTF-8 (with or without BOM), UTF-16 with a BOM or
GB18030 and look like text. Anything else — legacy .doc (OLE2), images, spreadsheets, archives, a .docx that
is not a valid package, a PDF that cannot be parsed, is encrypted or has no text layer — raises
``ExtractionError`` with a message for the person who uploaded it. Nothing is stored by this module.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

from django.utils.translation import gettext as _

from core.errors import DomainError

MAX_TEXT_CHARS = 300_000  # about 150 pages of Chinese text
MAX_PDF_PAGES = 300
SUPPORTED_EXTENSIONS = (".docx", ".pdf", ".txt")

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"
_PDF = b"%PDF-"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ExtractionError(DomainError):
    """The file could not be read as a contract; the message says why and what to do."""


@dataclass(frozen=True)
class Extracted:
    text: str
    kind: str  # "docx" | "pdf" | "txt" | "paste"
    pages: int  # PDF pages; otherwise an estimate (1,500 characters a page)


def estimate_pages(text: str) -> int:
    return max(1, -(-len(text) // 1500))


def extract(name: str, data: bytes) -> Extracted:
    """Text of an uploaded file named ``name`` with content ``data``."""
    if not data:
        raise ExtractionError(_("The file is empty."))
    lower = (name or "").lower()
    extension = lower[lower.rfind(".") :] if "." in lower else ""
    if data.startswith(_OLE2):
        raise ExtractionError(
            _(
                "This is a legacy Word (.doc) or other Office binary file, which cannot be reviewed. "
                "Save it as .docx or PDF and upload it again."
            )
        )
    if data.startswith(_ZIP):
        return _docx(data, extension)
    if data.lstrip()[:8].startswith(_PDF):
        return _pdf(data)
    if extension in (".docx", ".pdf"):
        raise ExtractionError(
            _("The file is called %(name)s but its content is not a valid %(kind)s file; it may be damaged.")
            % {"name": name[:80], "kind": extension[1:].upper()}
        )
    if extension and extension not in SUPPORTED_EXTENSIONS:
        raise ExtractionError(_unsupported())
    return _txt(data)


def from_paste(text: str) -> Extracted:
    text = clean_text(text)
    if not text.strip():
        raise ExtractionError(_("Paste the contract text or choose a file."))
    return Extracted(text=_limit(text), kind="paste", pages=estimate_pages(text))


def _unsupported() -> str:
    return _("Only .docx, .pdf and .txt files can be reviewed (or paste the text).")


def clean_text(text: str) -> str:
    """Line endings unified, control characters and zero-width marks removed, blank runs squeezed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ")
    text = text.replace("\ufeff", "").replace("\u200b", "").replace("\xa0", " ")
    text = _CONTROL.sub("", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _limit(text: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise ExtractionError(
            _("The contract is too long to review (%(n)s characters; the limit is %(max)s).")
            % {"n": f"{len(text):,}", "max": f"{MAX_TEXT_CHARS:,}"}
        )
    return text


def _no_text() -> ExtractionError:
    return ExtractionError(
        _(
            "No text was found in the file. A scanned contract (an image) cannot be reviewed; "
            "upload a file with selectable text or paste the text."
        )
    )


# -- .docx -------------------------------------------------------------------------------------------------------
def _docx(data: bytes, extension: str) -> Extracted:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = set(package.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ExtractionError(_("The .docx file is damaged and cannot be opened.")) from None
    if "word/document.xml" not in names:
        if extension == ".docx":
            raise ExtractionError(_("The .docx file is damaged and cannot be opened."))
        raise ExtractionError(_unsupported())
    import docx  # python-docx

    try:
        document = docx.Document(io.BytesIO(data))
        lines = list(_docx_lines(document))
    except Exception:  # python-docx raises many types (KeyError, lxml errors, ValueError) on broken packages
        raise ExtractionError(_("The .docx file is damaged and cannot be opened.")) from None
    text = clean_text("\n".join(lines))
    if not text:
        raise _no_text()
    return Extracted(text=_limit(text), kind="docx", pages=estimate_pages(text))


def _docx_lines(document: object) -> list[str]:
    """Paragraphs and table rows in document order. Paragraphs numbered by Word's automatic numbering get a
    bullet so that the clause splitter still sees where a clause begins."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    lines: list[str] = []
    body = document.element.body  # type: ignore[attr-defined]
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(child, document)  # type: ignore[arg-type]
            text = paragraph.text.strip()
            if not text:
                continue
            numbered = child.find(".//{*}numPr") is not None or _style_numbered(paragraph)
            lines.append(f"• {text}" if numbered and not _starts_numbered(text) else text)
        elif tag == "tbl":
            table = Table(child, document)  # type: ignore[arg-type]
            for row in table.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = cell.text.strip()
                    if value and (not cells or cells[-1] != value):  # merged cells repeat their text
                        cells.append(value)
                if cells:
                    lines.append(" | ".join(cells))
    return lines


def _style_numbered(paragraph: object) -> bool:
    """Numbering that comes from the paragraph style ("List Number") rather than the paragraph itself."""
    style = getattr(paragraph, "style", None)
    for _depth in range(4):  # the style and the styles it is based on
        if style is None:
            return False
        if style.element.find(".//{*}numPr") is not None:
            return True
        style = style.base_style
    return False


def _starts_numbered(text: str) -> bool:
    from contracts.review.clauses import marker_at_start

    return marker_at_start(text) is not None


# -- .pdf --------------------------------------------------------------------------------------------------------
def _pdf(data: bytes) -> Extracted:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                unlocked = bool(reader.decrypt(""))
            except Exception:
                unlocked = False
            if not unlocked:
                raise ExtractionError(
                    _("The PDF is password-protected. Remove the password and upload it again.")
                )
        pages = reader.pages
        count = len(pages)
        if count > MAX_PDF_PAGES:
            raise ExtractionError(
                _("The PDF has %(n)d pages; at most %(max)d pages can be reviewed.")
                % {"n": count, "max": MAX_PDF_PAGES}
            )
        parts = [page.extract_text() or "" for page in pages]
    except ExtractionError:
        raise
    except Exception:  # pypdf raises many types (PdfReadError, struct/zlib/KeyError …) on broken files
        raise ExtractionError(_("The PDF file is damaged and cannot be read.")) from None
    text = clean_text(_join_pdf_pages(parts))
    if len(re.sub(r"\s", "", text)) < 20:
        raise _no_text()
    return Extracted(text=_limit(text), kind="pdf", pages=max(1, count))


def _join_pdf_pages(parts: list[str]) -> str:
    """PDF text has hard line breaks inside paragraphs; join lines that do not start a new clause and whose
    predecessor does not end a sentence (Chinese text is joined without a space)."""
    from contracts.review.clauses import marker_at_start

    out: list[str] = []
    for part in parts:
        for raw in part.split("\n"):
            line = raw.strip()
            if not line:
                continue
            if re.fullmatch(r"(?:第\s*\d+\s*页.*|-?\s*\d+\s*-?|\d+\s*/\s*\d+|Page \d+( of \d+)?)", line):
                continue  # page numbers
            if out and marker_at_start(line) is None and not re.search(r"[。；;:：！？!?]$", out[-1]):
                prev = out[-1]
                joiner = " " if re.search(r"[A-Za-z0-9,]$", prev) and re.match(r"[A-Za-z0-9(]", line) else ""
                out[-1] = prev + joiner + line
            else:
                out.append(line)
    return "\n".join(out)


# -- .txt --------------------------------------------------------------------------------------------------------
def _txt(data: bytes) -> Extracted:
    text: str | None = None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            text = None
    else:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    if text is None or not _looks_like_text(text):
        raise ExtractionError(
            _(
                "The file is not a text file we can read (UTF-8 or GB18030). "
                "Only .docx, .pdf and .txt files can be reviewed."
            )
        )
    text = clean_text(text)
    if not text:
        raise _no_text()
    return Extracted(text=_limit(text), kind="txt", pages=estimate_pages(text))


def _looks_like_text(text: str) -> bool:
    if "\x00" in text:
        return False
    sample = text[:20000]
    if not sample:
        return False
    controls = len(_CONTROL.findall(sample))
    odd = sum(1 for ch in sample if 0xE000 <= ord(ch) <= 0xF8FF or ch == "\ufffd")
    return controls / len(sample) < 0.01 and odd / len(sample) < 0.02
