from ragserve.backends.embedders.fake import WhitespaceTokenizer
from ragserve.core.types import Document, Section
from ragserve.ingest.chunking import ChunkingOptions, chunk_document, context_line
from ragserve.ingest.parsers import parse

TOK = WhitespaceTokenizer()


def _words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}." if i % 12 == 11 else f"{prefix}{i}" for i in range(n))


def test_offsets_point_into_the_document_and_bound_tokens() -> None:
    text = "\n\n".join(_words(90, f"p{j}x") for j in range(6))
    doc = Document("a.txt", text, "text/plain", "A")
    chunks = chunk_document(doc, "c", TOK, ChunkingOptions(max_tokens=100, overlap=10, min_tokens=5))
    assert len(chunks) >= 6
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert len(TOK.token_spans([c.text])[0]) <= 100
    # everything is covered
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_breaks_prefer_paragraphs_and_overlap_inside_paragraphs() -> None:
    para = _words(150)
    doc = Document("a.txt", para, "text/plain", "A")
    chunks = chunk_document(doc, "c", TOK, ChunkingOptions(max_tokens=60, overlap=12, min_tokens=5))
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False)), "consecutive chunks overlap"
    assert all(c.text.endswith(".") for c in chunks[:-1]), "chunks end at sentence ends"
    two = Document("b.txt", _words(40, "a") + "\n\n" + _words(40, "b"), "text/plain", "B")
    parts = chunk_document(two, "c", TOK, ChunkingOptions(max_tokens=60, overlap=12, min_tokens=5))
    assert parts[0].text.startswith("a0") and parts[0].text.endswith("a39") and parts[1].text.startswith("b0")


def test_ids_are_stable_and_depend_on_collection_and_content() -> None:
    doc = Document("a.txt", _words(300), "text/plain", "A")
    opts = ChunkingOptions(max_tokens=50, overlap=5, min_tokens=5)
    first = [c.id for c in chunk_document(doc, "c", TOK, opts)]
    assert first == [c.id for c in chunk_document(doc, "c", TOK, opts)]
    assert len(set(first)) == len(first)
    assert not set(first) & {c.id for c in chunk_document(doc, "other", TOK, opts)}


def test_sections_are_not_mixed_and_small_ones_merge_forward() -> None:
    md = b"# Guide\n\n## Tiny\n\nshort\n\n## Big\n\n" + _words(80).encode() + b"\n\n## Other\n\n" + _words(30, "o").encode()
    doc = parse(md, "g.md")[0]
    chunks = chunk_document(doc, "c", TOK, ChunkingOptions(max_tokens=200, overlap=10, min_tokens=8))
    assert [c.location for c in chunks] == ["Guide > Big", "Guide > Other"]
    assert chunks[0].text.startswith("Guide")  # the small sections were merged into the next one
    assert chunks[1].context == "Guide > Other"
    assert chunks[0].embed_text.startswith("Guide > Big\n")


def test_context_line() -> None:
    assert context_line("Guide", "Guide > Keys") == "Guide > Keys"
    assert context_line("Report", "page 3") == "Report (page 3)"
    assert context_line("T", "") == "T"
    assert context_line("T", "Intro") == "T > Intro"


def test_section_without_text_yields_nothing() -> None:
    doc = Document("e.txt", "   \n\n  ", "text/plain", "E", (Section(0, 7, ""),))
    assert chunk_document(doc, "c", TOK, ChunkingOptions()) == []
