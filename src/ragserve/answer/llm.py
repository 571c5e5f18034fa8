"""Answers written by an LLM from the numbered sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ragserve.answer.citations import parse_citations
from ragserve.answer.extractive import NO_ANSWER
from ragserve.answer.prompts import rag_messages
from ragserve.core.types import Citation, Hit


class ChatModel(Protocol):
    """A chat-completion client (``OpenAIChat`` is the implementation)."""

    async def start(self) -> None:
        """Open the client."""
        ...

    async def close(self) -> None:
        """Close the client."""
        ...

    async def chat(self, messages: list[dict[str, str]]) -> str:
        """The assistant's reply."""
        ...


class LLMGenerator:
    """Prompt with numbered sources, ask the model, parse its [n] citations."""

    mode = "llm"

    def __init__(self, llm: ChatModel) -> None:
        self.llm = llm

    async def start(self) -> None:
        """Open the LLM client."""
        await self.llm.start()

    async def close(self) -> None:
        """Close the LLM client."""
        await self.llm.close()

    async def generate(self, question: str, hits: Sequence[Hit]) -> tuple[str, list[Citation]]:
        """The model's answer and the valid citations in it (invalid markers are dropped)."""
        if not hits:
            return NO_ANSWER, []
        text = await self.llm.chat(rag_messages(question, hits))
        citations, _invalid = parse_citations(text, hits)
        return text.strip(), citations
