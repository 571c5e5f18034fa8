"""ragserve: a RAG server that answers questions over your documents, with sources."""

from ragserve.core.errors import RagError
from ragserve.core.types import Answer, Chunk, Citation, Document, Hit
from ragserve.settings import Settings

__version__ = "0.1.0"
__all__ = ["Answer", "Chunk", "Citation", "Document", "Hit", "RagError", "Settings", "__version__"]
