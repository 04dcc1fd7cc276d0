"""Prompt search: PostgreSQL full text over a GIN index, substring match elsewhere."""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from assets.models import Asset

# Must match the expression of the index created in assets' migrations.
_PG_MATCH = (
    "to_tsvector('english'::regconfig, assets_asset.prompt) @@ websearch_to_tsquery('english'::regconfig, %s)"
)


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
