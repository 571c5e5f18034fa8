"""How many retrieved chunks fit the model's context window, leaving room for the answer.

Tokens are counted with the model's own tokenizer when one is configured (a ``tokenizer.json``, read
with the ``tokenizers`` package), otherwise estimated safely: one token per three bytes of UTF-8.
English averages about four characters per token with common BPE vocabularies, and scripts whose
characters take three bytes (CJK) about one token per character, so the estimate errs on the side of
sending less.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from ragserve.core.errors import ConfigError, MissingDependency
from ragserve.core.types import Hit

#: tokens a chat template adds around each message (role markers and separators)
PER_MESSAGE = 8


def estimate_tokens(text: str) -> int:
    """A safe over-estimate of a text's token count."""
    return math.ceil(len(text.encode("utf-8")) / 3)


def token_counter(tokenizer_path: str | None) -> Callable[[str], int]:
    """Count with the tokenizer at ``tokenizer_path`` (a tokenizer.json), else estimate."""
    if not tokenizer_path:
        return estimate_tokens
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise MissingDependency(
            "counting tokens with a tokenizer.json needs tokenizers", hint="pip install 'ragserve[local-embeddings]'"
        ) from exc
    path = Path(tokenizer_path)
    if not path.is_file():
        raise ConfigError(f"the LLM tokenizer {path} does not exist", hint="point RAGSERVE_LLM__TOKENIZER at a tokenizer.json, or unset it")
    tokenizer = Tokenizer.from_file(str(path))
    # a tokenizer.json may carry its own padding and truncation, which would miscount
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def fit(
    hits: Sequence[Hit],
    render: Callable[[Sequence[Hit]], str],
    count: Callable[[str], int],
    budget: int,
) -> list[Hit]:
    """The longest prefix of ``hits`` whose rendered prompt takes at most ``budget`` tokens.

    ``render`` builds the whole prompt for a list of hits. Chunks are ranked best first, so the prefix
    keeps the best; the first chunk that does not fit ends the list. The search is a bisection over the
    prefix length, so a long candidate list costs a few renders, not one per chunk.
    """
    if not hits or count(render(hits)) <= budget:
        return list(hits)
    lo, hi = 0, len(hits)  # lo fits (the empty prompt is assumed to), hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(render(hits[:mid])) <= budget:
            lo = mid
        else:
            hi = mid
    return list(hits[:lo])
