"""Assemble a Document's text block by block while tracking its heading path (or page) as sections."""

from __future__ import annotations

from collections.abc import Mapping

from ragserve.core.types import Document, Scalar, Section


class DocumentBuilder:
    """Append blocks of text and headings; ``build()`` returns the Document with its sections.

    Blocks are separated by a blank line, so paragraph boundaries stay visible to the chunker.
    """

    def __init__(self, source: str, media_type: str) -> None:
        self.source = source
        self.media_type = media_type
        self.title = ""
        self._parts: list[str] = []
        self._length = 0
        self._headings: list[tuple[int, str]] = []
        self._sections: list[Section] = []
        self._section_start = 0
        self._location = ""

    def _close_section(self) -> None:
        if self._length > self._section_start:
            self._sections.append(Section(self._section_start, self._length, self._location))
        self._section_start = self._length

    def set_location(self, location: str) -> None:
        """Start a new section (e.g. a new page)."""
        if location != self._location:
            self._close_section()
            self._location = location

    def heading(self, level: int, text: str) -> None:
        """A heading: starts a section whose location is the path of enclosing headings."""
        text = " ".join(text.split())
        if not text:
            return
        if level == 1 and not self.title:
            self.title = text
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))
        if self._length:
            self._parts.append("\n\n")
            self._length += 2
        self.set_location(" > ".join(h for _, h in self._headings))
        self._parts.append(text)
        self._length += len(text)

    def block(self, text: str) -> None:
        """A paragraph, list item, table row or code block."""
        text = text.strip("\n")
        if not text.strip():
            return
        if self._length:
            self._parts.append("\n\n")
            self._length += 2
        self._parts.append(text)
        self._length += len(text)

    def build(self, *, title: str = "", metadata: Mapping[str, Scalar] | None = None) -> Document:
        """The finished Document."""
        self._close_section()
        return Document(
            source=self.source,
            text="".join(self._parts),
            media_type=self.media_type,
            title=title or self.title or fallback_title(self.source),
            sections=tuple(self._sections),
            metadata=dict(metadata or {}),
        )


def fallback_title(source: str) -> str:
    """A readable title from a file name: ``guide/kms-keys.md`` → ``kms keys``."""
    stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("-", " ").replace("_", " ").strip() or source
