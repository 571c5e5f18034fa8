"""Markdown, including AWS's dialect (anchors in headings, backslash-escaped punctuation)."""

from __future__ import annotations

import re

from ragserve.core.types import Document
from ragserve.ingest.parsers.structure import DocumentBuilder
from ragserve.ingest.parsers.text import decode

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ANCHOR = re.compile(r"<a\s+name=\"[^\"]*\"\s*>\s*</a>", re.IGNORECASE)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")
_LINK = re.compile(r"!?\[([^\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def clean_inline(line: str) -> str:
    """Keep link text but drop link targets, bold markers, empty HTML anchors and backslash escapes.

    URLs and escapes carry little meaning for retrieval but cost many model tokens.
    """
    return _ESCAPE.sub(r"\1", _BOLD.sub(r"\2", _LINK.sub(r"\1", _ANCHOR.sub("", line))))


_BLOCK_LINE = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|\||>)")


def unwrap(lines: list[str]) -> str:
    """Join a paragraph's soft-wrapped lines with spaces; list items, table rows and quotes keep their
    own lines (a soft wrap is not a sentence boundary, a list item is)."""
    out = [lines[0]]
    for line in lines[1:]:
        if _BLOCK_LINE.match(line):
            out.append("\n" + line)
        else:
            out.append(" " + line.strip())
    return "".join(out)


class MarkdownParser:
    """Markdown split into sections by ATX and setext headings; fenced code kept verbatim."""

    media_types: tuple[str, ...] = ("text/markdown",)

    def parse(self, data: bytes, source: str, media_type: str) -> list[Document]:
        """One document whose sections follow the heading tree."""
        text = _FRONT_MATTER.sub("", decode(data, source))
        doc = DocumentBuilder(source, media_type)
        para: list[str] = []
        fence: str | None = None

        def flush() -> None:
            if para:
                doc.block("\n".join(para) if fence is not None or para[0].lstrip().startswith(("```", "~~~")) else unwrap(para))
                para.clear()

        for raw in text.split("\n"):
            if fence is not None:
                para.append(raw)
                if raw.strip().startswith(fence):
                    fence = None
                    flush()
                continue
            opener = _FENCE.match(raw)
            if opener:
                flush()
                fence = opener.group(1)[0] * 3
                para.append(raw)
                continue
            heading = _ATX.match(raw)
            if heading:
                flush()
                doc.heading(len(heading.group(1)), clean_inline(heading.group(2) or ""))
            elif _SETEXT.match(raw) and len(para) == 1 and para[0].strip():
                level = 1 if raw.strip()[0] == "=" else 2
                title = para.pop()
                doc.heading(level, clean_inline(title))
            elif not raw.strip():
                flush()
            else:
                para.append(clean_inline(raw))
        flush()
        return [doc.build()]
