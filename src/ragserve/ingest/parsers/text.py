"""Plain text."""

from __future__ import annotations

from ragserve.core.errors import InvalidDocument
from ragserve.core.types import Document
from ragserve.ingest.parsers.structure import fallback_title


def decode(data: bytes, source: str) -> str:
    """UTF-8 (with or without BOM), else UTF-16 with a BOM, else Latin-1; newlines normalised."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    if "\x00" in text:
        raise InvalidDocument(source, "binary content, not text", hint="ingest text, markdown, HTML, PDF or DOCX files")
    return text.replace("\r\n", "\n").replace("\r", "\n")


class TextParser:
    """Plain text; the title is the first non-empty line."""

    media_types: tuple[str, ...] = ("text/plain",)

    def parse(self, data: bytes, source: str, media_type: str) -> list[Document]:
        """The whole file as one document."""
        text = decode(data, source)
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        title = first[:120] if first else fallback_title(source)
        return [Document(source=source, text=text, media_type=media_type, title=title)]
