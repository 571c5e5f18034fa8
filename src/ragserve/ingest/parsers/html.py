"""HTML: the main content only (navigation, scripts, styles, footers dropped), headings kept."""

from __future__ import annotations

from typing import Any

from ragserve.core.errors import InvalidDocument, MissingDependency
from ragserve.core.types import Document
from ragserve.ingest.parsers.structure import DocumentBuilder
from ragserve.ingest.parsers.text import decode

_DROP = (
    "script, style, noscript, template, svg, nav, header, footer, aside, form, button, iframe, "
    "[role=navigation], [role=banner], [role=contentinfo], [aria-hidden=true], "
    ".navbox, .mw-jump-link, .mw-editsection, .reference, .reflist, .noprint, #toc, .toc, .catlinks, .sidebar"
)
_MAIN = ("main", "article", "[role=main]", "#mw-content-text", "#content", "body")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_CONTAINER_TAGS = {
    "p",
    "li",
    "pre",
    "table",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "div",
    "section",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "article",
    "figure",
}
_CONTAINERS = "p, li, pre, table, tr, h1, h2, h3, h4, h5, h6, div, section, blockquote, ul, ol, dl, dt, dd, article, figure"


def _lexbor() -> Any:
    try:
        from selectolax.lexbor import LexborHTMLParser
    except ImportError as exc:
        raise MissingDependency("HTML parsing needs selectolax", hint="run: pip install 'ragserve[html]'") from exc
    return LexborHTMLParser


def _row_text(node: Any) -> str:
    cells = [" ".join(c.text(separator=" ").split()) for c in node.css("td, th")]
    return " | ".join(c for c in cells if c)


def _has_block_inside(node: Any) -> bool:
    # css() matches the node itself too, so look below each child instead
    return any(child.tag in _CONTAINER_TAGS or child.css_first(_CONTAINERS) is not None for child in node.iter(include_text=False))


class HtmlParser:
    """Walks the main content in document order: headings become sections, blocks become paragraphs."""

    media_types: tuple[str, ...] = ("text/html", "application/xhtml+xml")

    def parse(self, data: bytes, source: str, media_type: str) -> list[Document]:
        """One document from the page's main content."""
        tree = _lexbor()(decode(data, source))
        title_node = tree.css_first("title")
        page_title = " ".join(title_node.text().split()) if title_node else ""
        for node in tree.css(_DROP):
            node.decompose()
        root = next((n for sel in _MAIN if (n := tree.css_first(sel)) is not None), tree.root)
        if root is None:
            raise InvalidDocument(source, "no HTML content found")
        doc = DocumentBuilder(source, media_type)
        stack = [root]
        while stack:
            node = stack.pop()
            tag = node.tag
            if tag in _HEADINGS:
                doc.heading(_HEADINGS[tag], node.text(separator=" "))
            elif tag == "tr":
                doc.block(_row_text(node))
            elif tag == "pre":
                doc.block(node.text())
            elif not _has_block_inside(node):
                # a leaf block: its inline content (links, emphasis, loose text) is one paragraph
                doc.block(" ".join(node.text(separator=" ").split()))
            else:
                stack.extend(reversed([c for c in node.iter(include_text=False)]))
        return [doc.build(title=page_title)]
