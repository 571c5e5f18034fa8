import io
from pathlib import Path

import pytest

from ragserve.core.errors import InvalidDocument, UnsupportedMediaType
from ragserve.ingest.parsers import DOCX, parse, sniff


def test_sniff_trusts_content_over_extension(shared_data: Path) -> None:
    pdf = (shared_data / "format-samples/pdf/multicolumn.pdf").read_bytes()
    assert sniff(pdf, "notes.md") == "application/pdf"
    docx = (shared_data / "format-samples/docx/handbook-1p.docx").read_bytes()
    assert sniff(docx, "file.bin") == DOCX
    assert sniff(b"<!DOCTYPE html><html><p>x</p></html>", "page") == "text/html"
    assert sniff(b"# Title\n", "a.md") == "text/markdown"
    assert sniff(b"plain words", "a.pdf") == "text/plain"  # named .pdf but it is text


def test_binary_and_zip_are_rejected_with_the_accepted_types() -> None:
    with pytest.raises(UnsupportedMediaType) as err:
        sniff(b"\x89PNG\r\n\x1a\n\x00\x00", "image.png")
    assert "PDF" in err.value.hint
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "x")
    with pytest.raises(UnsupportedMediaType):
        sniff(buf.getvalue(), "a.zip")


def test_markdown_headings_anchors_escapes_links_and_fences() -> None:
    md = (
        b'# Protect Data<a name="x"></a>\n\nIntro \\(with escapes\\)\\. See [the **guide**](https://x.y/z.html).\n\n'
        b"## Keys\n\n```\n# not a heading\n```\n\nSetext\n------\n\nBody.\n"
    )
    doc = parse(md, "guide/a.md")[0]
    assert doc.title == "Protect Data"
    assert "Intro (with escapes). See the guide." in doc.text
    assert "https://" not in doc.text and "<a name" not in doc.text
    assert [s.location for s in doc.sections] == ["Protect Data", "Protect Data > Keys", "Protect Data > Setext"]
    keys = doc.sections[1]
    assert "# not a heading" in doc.text[keys.start : keys.end]


def test_html_keeps_main_content_and_headings() -> None:
    html = b"""<html><head><title>Page T</title><script>var x=1;</script></head><body>
    <nav><a href="/">Home</a> Menu items</nav><main><h1>Main</h1><p>First <b>para</b>.</p>
    <h2>Sub</h2><ul><li>item one</li></ul><table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>
    </main><footer>copyright</footer></body></html>"""
    doc = parse(html, "p.html")[0]
    assert doc.title == "Page T"
    assert "First para ." in doc.text or "First para." in doc.text
    assert "item one" in doc.text and "a | 1" in doc.text
    assert "Menu" not in doc.text and "var x" not in doc.text and "copyright" not in doc.text
    assert [s.location for s in doc.sections][-1] == "Main > Sub"


def test_real_html_wikipedia_page(shared_data: Path) -> None:
    doc = parse((shared_data / "format-samples/html/wikipedia-mozilla.html").read_bytes(), "mozilla.html")[0]
    assert doc.title.startswith("Mozilla")
    assert "Mozilla Foundation" in doc.text
    assert len(doc.text) > 10_000
    assert "function(" not in doc.text


def test_pdf_pages_are_sections(shared_data: Path) -> None:
    doc = parse((shared_data / "format-samples/pdf/federal-register-2020-17221.pdf").read_bytes(), "fr.pdf")[0]
    assert [s.location for s in doc.sections][:3] == ["page 1", "page 2", "page 3"]
    assert len(doc.sections) == 15


def test_encrypted_pdf_fails_alone_with_a_reason(shared_data: Path) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse((shared_data / "format-samples/pdf/libreoffice-writer-password.pdf").read_bytes(), "locked.pdf")
    assert "encrypted" in err.value.message and "locked.pdf" in err.value.message


def test_corrupt_pdf_is_invalid() -> None:
    with pytest.raises(InvalidDocument):
        parse(b"%PDF-1.7\n garbage that is not a pdf", "bad.pdf")


def test_docx_tables_and_headings(shared_data: Path) -> None:
    doc = parse((shared_data / "format-samples/docx/docx-tables.docx").read_bytes(), "t.docx")[0]
    assert " | " in doc.text
    big = parse((shared_data / "format-samples/docx/handbook-872p.docx").read_bytes(), "h.docx")[0]
    assert len(big.sections) > 100
    assert any("CHAPTER" in s.location.upper() for s in big.sections)


def test_text_with_bom_and_crlf(shared_data: Path) -> None:
    doc = parse((shared_data / "verne-around-the-world/pg103.txt").read_bytes(), "verne.txt")[0]
    assert not doc.text.startswith("\ufeff") and "\r" not in doc.text
    assert "Phileas Fogg" in doc.text


def test_markdown_soft_wraps_are_joined_but_lists_kept() -> None:
    md = b"# T\n\nEverything is under the data directory (set\nRAGSERVE_DATA_DIR to move it).\n\n- one\n- two\n\n```\ncode\nlines\n```\n"
    doc = parse(md, "a.md")[0]
    assert "directory (set RAGSERVE_DATA_DIR to move it)." in doc.text
    assert "- one\n- two" in doc.text and "code\nlines" in doc.text
