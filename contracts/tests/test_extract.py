"""Text extraction: every supported format and encoding, and a clear, localized error for everything else."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.utils import translation

from contracts.review.extract import ExtractionError, extract, from_paste

CLAUSES = "第一条 委托事项\n乙方为甲方创作短视频。\n第二条 知识产权\n交付成果的著作权归甲方所有。"


def docx_bytes(paragraphs: list[str], *, numbered: bool = False) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text, style="List Number" if numbered else None)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "甲方"
    table.rows[0].cells[1].text = "宁波某公司"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def pdf_bytes(html: str) -> bytes:
    import weasyprint

    return weasyprint.HTML(
        string=f'<html><body style="font-family: Noto Sans CJK SC">{html}</body></html>'
    ).write_pdf()


def test_docx_paragraphs_tables_and_word_numbering() -> None:
    result = extract("合同.docx", docx_bytes(CLAUSES.split("\n")))
    assert result.kind == "docx"
    assert "著作权归甲方所有" in result.text
    assert "甲方 | 宁波某公司" in result.text
    numbered = extract("x.docx", docx_bytes(["甲方有权随时解除合同。", "乙方应无限次修改。"], numbered=True))
    assert numbered.text.splitlines()[0].startswith("• ")


def test_pdf_text_layer_with_chinese_fonts() -> None:
    result = extract("合同.pdf", pdf_bytes("<p>第一条 知识产权</p><p>交付成果的著作权归甲方所有。</p>"))
    assert result.kind == "pdf"
    assert result.pages == 1
    assert "著作权归甲方所有" in result.text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_text_files_in_every_supported_encoding(encoding: str) -> None:
    result = extract("contract.txt", CLAUSES.encode(encoding))
    assert result.kind == "txt"
    assert result.text.startswith("第一条 委托事项")


def test_paste() -> None:
    assert from_paste("  \r\n甲方\u3000乙方\u200b\r\n").text == "甲方 乙方"
    with pytest.raises(ExtractionError):
        from_paste("   \n ")


def _corrupt_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("word/document.xml", "<not-xml")
        package.writestr("[Content_Types].xml", "<broken")
    return buffer.getvalue()


def _encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(
        clone_from=PdfReader(io.BytesIO(pdf_bytes("<p>保密合同内容，共二十个字以上的正文。</p>")))
    )
    writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "legacy Word"),
        ("broken.docx", b"PK\x03\x04 this is not a zip", "damaged"),
        ("broken.docx", _corrupt_docx(), "damaged"),
        ("sheet.xlsx", b"PK\x03\x04" + b"\x00" * 30, "damaged"),
        ("contract.pdf", b"%PDF-1.7\n garbage garbage", "damaged"),
        ("contract.pdf", b"not a pdf at all", "not a valid PDF"),
        ("locked.pdf", _encrypted_pdf(), "password"),
        ("scan.pdf", _blank_pdf(), "No text"),
        ("photo.png", PNG, "Only .docx, .pdf and .txt"),
        ("binary.txt", bytes(range(256)) * 8, "not a text file"),
    ],
)
def test_unreadable_files_get_a_clear_reason(name: str, data: bytes, reason: str) -> None:
    with translation.override("en"), pytest.raises(ExtractionError) as caught:
        extract(name, data)
    assert reason.lower() in caught.value.message.lower()


def test_errors_are_localized() -> None:
    with translation.override("zh-hans"), pytest.raises(ExtractionError) as caught:
        extract("photo.png", PNG)
    with translation.override("en"), pytest.raises(ExtractionError) as english:
        extract("photo.png", PNG)
    assert caught.value.message  # the catalog is filled in by the coordinator; the message is never empty
    assert english.value.message.startswith("Only .docx")
