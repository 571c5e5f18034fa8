"""Parsers by media type, and sniffing the media type from content as well as the file name."""

from __future__ import annotations

import io
import zipfile

from ragserve.core.errors import UnsupportedMediaType
from ragserve.core.protocols import Parser
from ragserve.core.types import Document
from ragserve.ingest.parsers.docx import DocxParser
from ragserve.ingest.parsers.html import HtmlParser
from ragserve.ingest.parsers.markdown import MarkdownParser
from ragserve.ingest.parsers.pdf import PdfParser
from ragserve.ingest.parsers.text import TextParser

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EXTENSIONS = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".mdx": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".rst": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".pdf": "application/pdf",
    ".docx": DOCX,
}
_ALL: tuple[Parser, ...] = (TextParser(), MarkdownParser(), HtmlParser(), PdfParser(), DocxParser())
PARSERS: dict[str, Parser] = {media: parser for parser in _ALL for media in parser.media_types}
ACCEPTED = "markdown, plain text, HTML, PDF and DOCX (" + ", ".join(sorted(EXTENSIONS)) + ")"


def _extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1].lower()
    return base[base.rfind(".") :] if "." in base else ""


def sniff(data: bytes, name: str) -> str:
    """The media type of ``data``: the content's signature wins over the file name's extension."""
    head = data[:1024]
    if head.lstrip().startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            if "word/document.xml" in zipfile.ZipFile(io.BytesIO(data)).namelist():
                return DOCX
        except zipfile.BadZipFile:
            pass
        raise UnsupportedMediaType(f"{name}: a zip archive that is not a DOCX file", hint=f"ragserve accepts {ACCEPTED}")
    by_name = EXTENSIONS.get(_extension(name))
    if by_name in ("application/pdf", DOCX):
        # the name says binary but the content does not: trust the content
        by_name = None
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedMediaType(f"{name}: binary content of an unsupported type", hint=f"ragserve accepts {ACCEPTED}")
    lowered = head.lstrip().lower()
    if by_name is None and lowered.startswith((b"<!doctype html", b"<html", b"\xef\xbb\xbf<!doctype html")):
        return "text/html"
    return by_name or "text/plain"


def is_supported_name(name: str) -> bool:
    """Whether a folder walk should pick this file up (by extension)."""
    return _extension(name) in EXTENSIONS


def parse(data: bytes, source: str, media_type: str | None = None) -> list[Document]:
    """Parse one file; raises ``InvalidDocument`` or ``UnsupportedMediaType`` naming it."""
    media = media_type or sniff(data, source)
    parser = PARSERS.get(media)
    if parser is None:
        raise UnsupportedMediaType(f"{source}: unsupported media type {media}", hint=f"ragserve accepts {ACCEPTED}")
    return parser.parse(data, source, media)


__all__ = ["ACCEPTED", "EXTENSIONS", "PARSERS", "is_supported_name", "parse", "sniff"]
