"""DOCX (Word) with python-docx: paragraphs and tables in body order, Word headings as sections."""

from __future__ import annotations

import io
import re
from typing import Any

from ragserve.core.errors import InvalidDocument, MissingDependency
from ragserve.core.types import Document
from ragserve.ingest.parsers.structure import DocumentBuilder

_HEADING_STYLE = re.compile(r"^(?:Heading|Überschrift|Titre)\s*(\d)$", re.IGNORECASE)


def _docx() -> Any:
    try:
        import docx
    except ImportError as exc:
        raise MissingDependency("DOCX parsing needs python-docx", hint="run: pip install 'ragserve[docx]'") from exc
    return docx


class DocxParser:
    """Paragraphs styled ``Heading N`` or ``Title`` open sections; table rows become ``a | b`` lines."""

    media_types: tuple[str, ...] = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",)

    def parse(self, data: bytes, source: str, media_type: str) -> list[Document]:
        """One document from the body."""
        docx = _docx()
        try:
            word = docx.Document(io.BytesIO(data))
        except Exception as exc:
            raise InvalidDocument(source, f"unreadable DOCX ({type(exc).__name__}: {exc})") from exc
        doc = DocumentBuilder(source, media_type)
        for item in word.iter_inner_content():
            if isinstance(item, docx.table.Table):
                for row in item.rows:
                    cells: list[str] = []
                    for cell in row.cells:
                        text = " ".join(cell.text.split())
                        if text and (not cells or cells[-1] != text):  # merged cells repeat
                            cells.append(text)
                    doc.block(" | ".join(cells))
                continue
            style = (item.style.name if item.style is not None else "") or ""
            match = _HEADING_STYLE.match(style)
            if style == "Title":
                doc.heading(1, item.text)
            elif match:
                doc.heading(int(match.group(1)), item.text)
            else:
                doc.block(item.text)
        title = (word.core_properties.title or "").strip()
        return [doc.build(title=title)]
