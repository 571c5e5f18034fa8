"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ragserve.pipeline import RAG


async def get_rag(request: Request) -> RAG:
    """The pipeline of this app (async: a sync dependency would cost a threadpool hop per request)."""
    rag: RAG = request.app.state.rag
    return rag


RagDep = Annotated[RAG, Depends(get_rag)]
