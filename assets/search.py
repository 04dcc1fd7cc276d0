"""Prompt search: PostgreSQL full text over a stored, GIN-indexed tsvector column; a substring
match per word elsewhere (SQLite, for the demo and tests)."""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, FloatField, QuerySet
from django.db.models.expressions import RawSQL

from assets.models import Asset

# The column and its GIN index are made by migration 0006_library_indexes (PostgreSQL only).
_PG_QUERY = "websearch_to_tsquery('english'::regconfig, %s)"
_PG_MATCH = f"assets_asset.prompt_search @@ {_PG_QUERY}"
_PG_RANK = f"ts_rank(assets_asset.prompt_search, {_PG_QUERY})"


def ranks_by_relevance() -> bool:
    """Whether this database ranks matches (PostgreSQL); elsewhere relevance is newest first."""
    return connection.vendor == "postgresql"


def search_prompts(queryset: QuerySet[Asset], text: str) -> QuerySet[Asset]:
    """Assets whose prompt matches ``text`` (words, "phrases", -exclusions on PostgreSQL)."""
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        return queryset.filter(RawSQL(_PG_MATCH, [text], output_field=BooleanField()))
    matched = queryset
    for word in text.split():
        matched = matched.filter(prompt__icontains=word)
    return matched


def rank_expression(text: str) -> RawSQL:
    """How well a prompt matches ``text`` (PostgreSQL ``ts_rank``), for ``annotate``."""
    return RawSQL(_PG_RANK, [text.strip()], output_field=FloatField())
