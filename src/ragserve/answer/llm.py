"""Answers written by an LLM from the numbered sources, whole or streamed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from ragserve.answer.budget import PER_MESSAGE, estimate_tokens, fit
from ragserve.answer.conversation import clean_condensed, condense_heuristic
from ragserve.answer.extractive import NO_ANSWER, ListStream
from ragserve.answer.prompts import PromptTemplate
from ragserve.core.errors import ConfigError, InvalidInput
from ragserve.core.protocols import AnswerStream
from ragserve.core.types import DEFAULT_SAMPLING, Hit, Sampling, Turn, Usage
from ragserve.settings import LLMSettings

Payload = list[dict[str, str]] | str

#: the rewrite of a follow-up is one short question
CONDENSE_MAX_TOKENS = 96
#: the context length assumed when neither the settings nor the server tell
DEFAULT_CONTEXT_WINDOW = 8192
log = logging.getLogger(__name__)


class Reply(Protocol):
    """What ``ChatModel.complete`` returns."""

    @property
    def text(self) -> str:
        """The reply."""
        ...

    @property
    def usage(self) -> Usage:
        """Tokens spent."""
        ...


class ChatModel(Protocol):
    """An OpenAI-compatible client (``ragserve.backends.llms.openai.OpenAIChat``)."""

    async def start(self) -> None:
        """Open the client."""
        ...

    async def close(self) -> None:
        """Close the client."""
        ...

    async def complete(self, payload: Payload, *, max_tokens: int | None = None, temperature: float | None = None) -> Reply:
        """One whole reply to chat messages (a list) or a prompt (a string)."""
        ...

    async def stream(self, payload: Payload, *, max_tokens: int | None = None, temperature: float | None = None) -> AnswerStream:
        """A streamed reply; connection errors are raised when awaited."""
        ...

    async def context_window(self) -> int | None:
        """The model's context length, if the server tells."""
        ...


def prompt_text(payload: Payload) -> str:
    """What the model reads, for counting tokens (chat messages each carry a few template tokens)."""
    if isinstance(payload, str):
        return payload
    return "".join(m["content"] + " " * (3 * PER_MESSAGE) for m in payload)


class LLMGenerator:
    """Prompts with numbered sources and lets an OpenAI-compatible model write the answer."""

    mode = "llm"

    def __init__(
        self,
        llm: ChatModel,
        settings: LLMSettings | None = None,
        template: PromptTemplate | None = None,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        self.llm = llm
        self.settings = settings or LLMSettings()
        self.template = template or PromptTemplate()
        self.count = count_tokens or estimate_tokens
        self.window = self.settings.context_window or DEFAULT_CONTEXT_WINDOW

    async def start(self) -> None:
        """Open the LLM client; learn the model's context length from the server unless it is set."""
        await self.llm.start()
        if self.settings.context_window is None:
            found = await self.llm.context_window()
            if found:
                self.window = found
            log.info("LLM context window: %d tokens (%s)", self.window, "from the server" if found else "default")

    async def close(self) -> None:
        """Close the LLM client."""
        await self.llm.close()

    def prompt(self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = ()) -> Payload:
        """Chat messages, or one prompt for a completion model."""
        if self.settings.api == "completions":
            return self.template.prompt(question, hits, history)
        return self.template.chat(question, hits, history)

    def max_tokens(self, sampling: Sampling) -> int:
        """The answer's token limit: the request's, capped by the server's setting."""
        return min(sampling.max_tokens or self.settings.max_tokens, self.settings.max_tokens)

    def fit(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn], sampling: Sampling = DEFAULT_SAMPLING
    ) -> tuple[list[Hit], list[Turn]]:
        """Keep the best hits and latest turns that leave ``max_tokens`` free in the context window.

        The conversation may take at most half of the room; older turns go first.
        """
        budget = self.window - self.max_tokens(sampling)
        turns = list(history)
        base = self.count(prompt_text(self.prompt(question, [], turns)))
        while turns and base > budget // 2:
            turns = turns[1:]
            base = self.count(prompt_text(self.prompt(question, [], turns)))
        if base >= budget:
            room = f"the context window ({self.window} tokens, {self.max_tokens(sampling)} kept for the answer)"
            if self.count(prompt_text(self.prompt("", [], []))) < budget // 2:
                raise InvalidInput(f"the question is too long for {room}", hint="ask a shorter question")
            raise ConfigError(
                f"the prompt template alone does not fit {room}",
                hint="raise RAGSERVE_LLM__CONTEXT_WINDOW or lower RAGSERVE_LLM__MAX_TOKENS",
            )
        kept = fit(hits, lambda hs: prompt_text(self.prompt(question, hs, turns)), self.count, budget)
        return kept, turns

    async def condense(self, question: str, history: Sequence[Turn]) -> tuple[str, Usage]:
        """Ask the model to rewrite the follow-up; the heuristic when that is off or the reply is unusable."""
        if not any(t.role == "user" for t in history):
            return question, Usage()
        if not self.settings.condense:
            return condense_heuristic(question, history), Usage()
        prompt = self.template.condense_prompt(question, history)
        payload: Payload = prompt if self.settings.api == "completions" else [{"role": "user", "content": prompt}]
        reply = await self.llm.complete(payload, max_tokens=CONDENSE_MAX_TOKENS, temperature=0.0)
        return clean_condensed(reply.text, question) or condense_heuristic(question, history), reply.usage

    async def generate(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = (), sampling: Sampling = DEFAULT_SAMPLING
    ) -> tuple[str, Usage]:
        """The model's whole answer (the pipeline checks its citations)."""
        if not hits:
            return NO_ANSWER, Usage()
        reply = await self.llm.complete(
            self.prompt(question, hits, history), max_tokens=self.max_tokens(sampling), temperature=sampling.temperature
        )
        return reply.text.strip(), reply.usage

    async def stream(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = (), sampling: Sampling = DEFAULT_SAMPLING
    ) -> AnswerStream:
        """The model's answer as it is written; leading whitespace is dropped like ``generate`` does."""
        if not hits:
            return ListStream([NO_ANSWER])
        payload = self.prompt(question, hits, history)
        reply = await self.llm.stream(payload, max_tokens=self.max_tokens(sampling), temperature=sampling.temperature)
        return _Answering(reply, lambda text: Usage(self.count(prompt_text(payload)), self.count(text), True))


class _Answering:
    """Drops the whitespace a model often starts with (so streamed and whole answers are the same) and
    counts the tokens itself when the server reports no usage (llama-cpp-python does not when streaming)."""

    def __init__(self, inner: AnswerStream, estimate: Callable[[str], Usage]) -> None:
        self.inner = inner
        self.estimate = estimate
        self.text: list[str] = []
        self._usage: Usage | None = None

    @property
    def usage(self) -> Usage | None:
        return self.inner.usage or self._usage

    async def __aiter__(self) -> AsyncIterator[str]:
        started = False
        held = ""  # trailing whitespace waits: it is dropped if the answer ends there
        async for delta in self.inner:
            if not started:
                delta = delta.lstrip()
                started = bool(delta)
            text = held + delta
            body = text.rstrip()
            held = text[len(body) :]
            if body:
                self.text.append(body)
                yield body
        self._usage = self.estimate("".join(self.text))

    async def aclose(self) -> None:
        await self.inner.aclose()
