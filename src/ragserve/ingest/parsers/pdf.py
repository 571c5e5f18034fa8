"""PDF, page by page, with pypdf."""

from __future__ import annotations

import io
import logging
from typing import Any

from ragserve.core.errors import InvalidDocument, MissingDependency
from ragserve.core.types import Document
from ragserve.ingest.parsers.structure import DocumentBuilder

log = logging.getLogger(__name__)


def _pypdf() -> Any:
    try:
        import pypdf
    except ImportError as exc:
        raise MissingDependency("PDF parsing needs pypdf", hint="run: pip install 'ragserve[pdf]'") from exc
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd font
    return pypdf


class PdfParser:
    """Each page is a section located as ``page N``; paragraphs follow the extracted lines."""

    media_types: tuple[str, ...] = ("application/pdf",)

    def parse(self, data: bytes, source: str, media_type: str) -> list[Document]:
        """One document; encrypted or unreadable files raise ``InvalidDocument``."""
        pypdf = _pypdf()
        try:
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise InvalidDocument(source, "the PDF is encrypted with a password", hint="remove the password, then ingest it again")
            pages = [page.extract_text() or "" for page in reader.pages]
            meta_title = (reader.metadata.title if reader.metadata else None) or ""
        except InvalidDocument:
            raise
        except Exception as exc:  # pypdf raises many types for corrupt files
            raise InvalidDocument(source, f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
        doc = DocumentBuilder(source, media_type)
        for number, text in enumerate(pages, start=1):
            doc.set_location(f"page {number}")
            for para in text.replace("\r", "\n").split("\n\n"):
                doc.block(para)
        built = doc.build(title=str(meta_title).strip())
        if not built.text.strip():
            raise InvalidDocument(source, "the PDF has no extractable text (scanned images?)", hint="run OCR on it first")
        if built.title == built.source.rsplit("/", 1)[-1].rsplit(".", 1)[0]:
            first = next((line.strip() for line in built.text.splitlines() if line.strip()), "")
            if first:
                built = Document(built.source, built.text, built.media_type, first[:120], built.sections, built.metadata)
        return [built]
