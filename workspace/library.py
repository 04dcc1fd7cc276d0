"""The library query: filters, ranked search, sorting and cursor pages over every live asset.

One definition shared by ``GET /api/v1/assets/`` and the library page (``/``). Never counts
rows: a page is read with keyset conditions (``created_at``, ``id``) and one row more than it
shows, which says whether there is a next page.

PostgreSQL plans at a million rows (docs/benchmarks.md, *Library*):

- newest first, alone or with plugin and status: walks the partial indexes of ``assets.0006``;
- with a word that many prompts hold: the same walk, each row checked against the stored
  tsvector (no ``to_tsvector`` per row);
- with a word, tag or collection that few assets have: a walk would read most of the table
  before it found a page, so when the planner's estimate of the word's matches (from the
  column's statistics), or a probe of the membership index (at most ``SMALL_SET`` + 1 rows),
  shows the set is small, the query sorts on an expression no index provides, and the
  planner has to gather the small set first and sort it;
- ``ordering=relevance``: ranks the newest ``RANK_WINDOW`` matches (all of them when the set is
  small), pages by offset within them; ranking every match of a common word would cost a rank
  per row of hundreds of thousands.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import BooleanField, Exists, F, OuterRef, Q, QuerySet
from django.db.models.expressions import ExpressionWrapper, RawSQL
from django.db.models.fields import DateTimeField, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import QueryDict

from acceptance.results import CHECK_VERDICTS, verdict_filter
from assets.models import Asset, AssetStatus
from assets.search import rank_expression, ranks_by_relevance, search_prompts
from hallmark.api import UTCDateTimeField
from hallmark.errors import InvalidInput
from workspace import cursors
from workspace.models import AssetTag, CollectionItem, Tag

ORDERINGS = ("-created_at", "created_at", "relevance")
DEFAULT_PAGE_SIZE = 48
MAX_PAGE_SIZE = 200
#: A word, tag or collection with at most this many assets is gathered first, then sorted.
SMALL_SET = cursors.MAX_OFFSET
#: How many of the newest matches ``ordering=relevance`` ranks when a word matches more.
RANK_WINDOW = 1000
_TEXT_LIMITS = {"q": 500, "plugin": 63, "model_version": 128, "license": 128, "creator": 150, "tag": 64, "checks": 6}


@dataclass(frozen=True)
class LibraryQuery:
    """A validated library query: what the URL (page or API) asked for."""

    q: str = ""
    plugin: str = ""
    status: str = ""
    model_version: str = ""
    license: str = ""
    creator: str = ""
    tag: str = ""
    checks: str = ""
    collection: uuid.UUID | None = None
    min_width: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    ordering: str = "-created_at"
    cursor: str = ""
    page_size: int = DEFAULT_PAGE_SIZE

    def params(self, *, cursor: str | None = None) -> dict[str, str]:
        """The query as URL parameters (defaults left out), with ``cursor`` when given."""
        values: dict[str, str] = {}
        for name in (*_TEXT_LIMITS, "status"):
            if getattr(self, name):
                values[name] = str(getattr(self, name))
        if self.collection is not None:
            values["collection"] = str(self.collection)
        if self.min_width is not None:
            values["min_width"] = str(self.min_width)
        for name in ("created_after", "created_before"):
            moment = getattr(self, name)
            if moment is not None:
                values[name] = moment.isoformat()
        if self.ordering != "-created_at":
            values["ordering"] = self.ordering
        if self.page_size != DEFAULT_PAGE_SIZE:
            values["page_size"] = str(self.page_size)
        if cursor:
            values["cursor"] = cursor
        return values


@dataclass(frozen=True)
class LibraryPage:
    """One page of assets and the cursors of its neighbours (empty when there is none)."""

    assets: list[Asset]
    next_cursor: str
    previous_cursor: str


def parse(params: QueryDict | dict[str, str]) -> LibraryQuery:
    """Validate URL parameters into a ``LibraryQuery``; ``InvalidInput`` names each bad one.

    ``search`` and ``created_by`` are accepted as the older names of ``q`` and ``creator``.
    """
    if not params:  # the default page, the most asked for: nothing to check
        return LibraryQuery()
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}

    def text(name: str, *aliases: str) -> str:
        raw = next((params.get(n) for n in (name, *aliases) if params.get(n) is not None), "")
        value = str(raw).strip()
        if "\x00" in value:
            errors[name] = ["Must not contain NUL characters."]
        elif len(value) > _TEXT_LIMITS.get(name, 300):
            errors[name] = [f"Must be at most {_TEXT_LIMITS.get(name, 300)} characters."]
        return value

    for name in _TEXT_LIMITS:
        values[name] = text(name, *{"q": ("search",), "creator": ("created_by",)}.get(name, ()))
    values["tag"] = values["tag"].lower()
    status = text("status")
    if status and status not in AssetStatus.values:
        errors["status"] = [f"Must be one of {', '.join(AssetStatus.values)}."]
    values["status"] = status
    if values["checks"] and values["checks"] not in CHECK_VERDICTS:
        errors["checks"] = [f"Must be one of {', '.join(CHECK_VERDICTS)}."]
    collection = text("collection")
    if collection:
        try:
            values["collection"] = uuid.UUID(collection)
        except ValueError:
            errors["collection"] = ["Must be a collection id (a UUID)."]
    for name, low, high in (("min_width", 0, 100_000), ("page_size", 1, MAX_PAGE_SIZE)):
        raw = text(name)
        if raw:
            # isdigit() alone admits "²" (int() refuses it) and a long run of digits is slow
            # to convert (or refused past 4300): ASCII digits, a few of them, only.
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not low <= int(raw) <= high:
                errors[name] = [f"Must be a whole number from {low} to {high}."]
            else:
                values[name] = int(raw)
    for name in ("created_after", "created_before"):
        raw = text(name)
        if raw:
            try:
                values[name] = UTCDateTimeField().clean(raw)
            except Exception:  # Django's ValidationError, with its message for the user
                errors[name] = ["Must be an ISO 8601 date and time (2026-01-31T09:00:00Z)."]
    ordering = text("ordering") or "-created_at"
    if ordering not in ORDERINGS:
        errors["ordering"] = [f"Must be one of {', '.join(ORDERINGS)}."]
    elif ordering == "relevance" and not values["q"]:
        errors["ordering"] = ["relevance needs a search (q)."]
    values["ordering"] = ordering
    values["cursor"] = text("cursor")
    if values["cursor"] and cursors.decode(values["cursor"], ordering) is None:
        errors["cursor"] = ["Not a cursor of this query; start again from the first page."]
    if errors:
        raise InvalidInput(errors)
    return LibraryQuery(**values)


def filtered(query: LibraryQuery) -> QuerySet[Asset]:
    """Live assets matching every filter and the search of ``query`` (no order, no page)."""
    assets = Asset.objects.live()
    if query.plugin:
        assets = assets.filter(plugin_id=query.plugin)
    if query.status:
        assets = assets.filter(status=query.status)
    if query.model_version:
        assets = assets.annotate(_model_version=_json_text("model_identity", "version")).filter(
            _model_version=query.model_version
        )
    if query.license:
        assets = assets.annotate(_license=_json_text("license", "spdx_id")).filter(_license=query.license)
    if query.creator:
        assets = assets.filter(created_by__username=query.creator)
    if query.min_width is not None:
        assets = assets.filter(width__gte=query.min_width)
    if query.created_after is not None:
        assets = assets.filter(created_at__gte=query.created_after)
    if query.created_before is not None:
        assets = assets.filter(created_at__lt=query.created_before)
    if query.tag:
        # By the tag's id (the (tag, asset) index); no such tag: id -1, as none() has no SQL.
        tag_id = _tag_id(query.tag)
        assets = assets.filter(Exists(AssetTag.objects.filter(asset=OuterRef("pk"), tag_id=tag_id or -1)))
    if query.collection is not None:
        assets = assets.filter(
            Exists(CollectionItem.objects.filter(asset=OuterRef("pk"), collection_id=query.collection))
        )
    if query.checks:
        assets = assets.filter(verdict_filter(query.checks))
    return search_prompts(assets, query.q)


_PLUGIN_IDS = """
WITH RECURSIVE found(plugin_id) AS (
    SELECT (SELECT plugin_id FROM assets_asset WHERE deleted_at IS NULL ORDER BY plugin_id LIMIT 1)
    UNION ALL
    SELECT (SELECT a.plugin_id FROM assets_asset a WHERE a.deleted_at IS NULL AND a.plugin_id > found.plugin_id
            ORDER BY a.plugin_id LIMIT 1)
    FROM found WHERE found.plugin_id IS NOT NULL
)
SELECT plugin_id FROM found WHERE plugin_id IS NOT NULL
"""


def plugin_ids() -> list[str]:
    """The plugin ids of live assets, sorted: one index probe per plugin (a loose index scan),
    where ``DISTINCT`` would read every row."""
    with connection.cursor() as cursor:
        cursor.execute(_PLUGIN_IDS)
        return [row[0] for row in cursor.fetchall()]


def _tag_id(name: str) -> int | None:
    return Tag.objects.filter(name=name).values_list("pk", flat=True).first()


def _json_text(column: str, key: str) -> Cast:
    # As text, compared as text (SQLite would read the value as JSON); on PostgreSQL the same
    # expression as the indexes of migration assets.0005 (text::text is no cast at all).
    return Cast(KeyTextTransform(key, column), TextField())


def fetch(query: LibraryQuery) -> LibraryPage:
    """The page of assets ``query`` asks for, with the cursors of the pages around it.

    Newest or oldest first, one statement: the page's ids (from an index alone where one
    covers the filters) as a subquery of the rows' (with their creators' names and, on
    PostgreSQL, tag names and children). Ranked, two: the ranked ids, then those rows.
    """
    small = _is_small(query)
    if query.ordering == "relevance":
        return _ranked(query, small)
    return _by_date(query, small)


def _rows(ids: list[Any]) -> list[Asset]:
    return sorted(_rows_where(Q(pk__in=ids)), key=lambda a: ids.index(a.pk))


def _rows_where(condition: Q) -> list[Asset]:
    """The assets matching ``condition`` as the library shows them, in no particular order."""
    # The creator's name alone (read by the API's rows), not a User built per row: half the
    # model instances of a page.
    rows = Asset.objects.filter(condition).annotate(created_by_username=F("created_by__username"))
    if connection.vendor == "postgresql":
        # Each row's tag names and live children in the same statement (read by the API's rows):
        # two round trips and plans fewer per page.
        names = AssetTag.objects.filter(asset_id=OuterRef("pk")).order_by("tag__name").values("tag__name")
        children = Asset.objects.live().filter(parent_id=OuterRef("pk")).order_by("created_at", "id").values("pk")
        rows = rows.annotate(tag_names=ArraySubquery(names), child_ids=ArraySubquery(children))
    return list(rows.order_by())


def _estimated_matches(text: str) -> float:
    """The planner's estimate of how many prompts match ``text`` (from the tsvector column's
    statistics: the frequencies of its common lexemes)."""
    sql, params = search_prompts(Asset.objects.order_by(), text).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])


def _is_small(query: LibraryQuery) -> bool:
    """Whether the search, tag or collection holds at most ``SMALL_SET`` assets (see above)."""
    if connection.vendor != "postgresql":
        return False  # SQLite has one plan; the demo's library is small
    probes: list[QuerySet[Any]] = []
    if query.q:
        estimate = _estimated_matches(query.q)
        if estimate <= SMALL_SET:
            return True
        # A word the statistics do not list gets a floor estimate (half the rarest listed
        # lexeme's frequency), which may be a few thousand where the truth is one: count up to
        # SMALL_SET + 1 matches through the GIN index unless the word is surely common.
        if estimate <= 10 * SMALL_SET:
            probes.append(search_prompts(Asset.objects.order_by(), query.q).values("pk"))
    if query.tag:
        tag_id = _tag_id(query.tag)
        if tag_id is None:
            return True  # no such tag: nothing matches
        probes.append(AssetTag.objects.filter(tag_id=tag_id).order_by().values("pk"))
    if query.collection is not None:
        probes.append(CollectionItem.objects.filter(collection_id=query.collection).order_by().values("pk"))
    return any(len(probe[: SMALL_SET + 1]) <= SMALL_SET for probe in probes)


def _after(assets: QuerySet[Asset], moment: datetime, pk: uuid.UUID, *, descending: bool) -> QuerySet[Asset]:
    """Rows after the cursor's (created_at, id) in the walk's direction."""
    if connection.vendor == "postgresql":
        # A row comparison is an index bound: the walk starts at the cursor, not at the top.
        sign = "<" if descending else ">"
        bound = RawSQL(f'("assets_asset"."created_at", "assets_asset"."id") {sign} (%s, %s)', [moment, pk])
        return assets.filter(ExpressionWrapper(bound, output_field=BooleanField()))
    if descending:
        return assets.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk))
    return assets.filter(Q(created_at__gt=moment) | Q(created_at=moment, pk__gt=pk))


def _by_date(query: LibraryQuery, small: bool) -> LibraryPage:
    assets = filtered(query)
    newest_first = query.ordering == "-created_at"
    position = cursors.decode(query.cursor, query.ordering) if query.cursor else None
    backwards = bool(position and position.get("d") == "p")
    # Reading backwards (a previous page) walks the other way and turns the rows round after.
    descending = newest_first != backwards
    if position is not None:
        assets = _after(
            assets, datetime.fromisoformat(position["t"]), uuid.UUID(position["i"]), descending=descending
        )
    when: Any = F("created_at")
    if small:
        # No index provides this order, so the planner gathers the few matches first.
        when = ExpressionWrapper(F("created_at") + timedelta(0), output_field=DateTimeField())
    order = [when.desc(), F("pk").desc()] if descending else [when.asc(), F("pk").asc()]
    # One statement: the page's ids (from the index, as a subquery) and their rows. The ids'
    # SQL goes in as written, not as a queryset that Django would re-alias (the cursor's row
    # comparison names "assets_asset", which inside the subquery must mean the subquery's own
    # table). The rows come back in no order and are put in the walk's here ((created_at, id)
    # compares alike in Python and in the database).
    page_sql, page_params = assets.order_by(*order).values("pk")[: query.page_size + 1].query.sql_with_params()
    rows = sorted(
        _rows_where(Q(pk__in=RawSQL(page_sql, page_params))),
        key=lambda a: (a.created_at, a.pk),
        reverse=descending,
    )
    more = len(rows) > query.page_size
    rows = rows[: query.page_size]
    if backwards:
        rows.reverse()
    if not rows:
        return LibraryPage([], "", "")
    has_next = more if not backwards else True
    has_previous = (position is not None) if not backwards else more
    return LibraryPage(
        rows,
        cursors.encode({"t": rows[-1].created_at.isoformat(), "i": str(rows[-1].pk), "d": "n"}) if has_next else "",
        cursors.encode({"t": rows[0].created_at.isoformat(), "i": str(rows[0].pk), "d": "p"}) if has_previous else "",
    )


def _ranked(query: LibraryQuery, small: bool) -> LibraryPage:
    position = cursors.decode(query.cursor, query.ordering) if query.cursor else None
    offset = int(position["o"]) if position else 0
    assets = filtered(query)
    if not ranks_by_relevance():
        # No ranking function here (SQLite): relevance is newest first, paged by offset.
        ranked = assets.order_by("-created_at", "-pk")
    else:
        if not small:
            return _ranked_window(query, assets, offset)
        ranked = assets.annotate(rank=rank_expression(query.q)).order_by("-rank", "-created_at", "-pk")
    ids = list(ranked.values_list("pk", flat=True)[offset : offset + query.page_size + 1])
    more = len(ids) > query.page_size
    return LibraryPage(
        _rows(ids[: query.page_size]),
        cursors.encode({"o": offset + query.page_size}) if more else "",
        cursors.encode({"o": max(0, offset - query.page_size)}) if offset else "",
    )


def _ranked_window(query: LibraryQuery, assets: QuerySet[Asset], offset: int) -> LibraryPage:
    # One statement: the newest RANK_WINDOW matches with their tsvectors, read from the
    # covering index alone (no table row is fetched), ranked outside it.
    newest = (
        assets.annotate(_vector=RawSQL("assets_asset.prompt_search", []))
        .order_by("-created_at", "-pk")
        .values_list("pk", "created_at", "_vector")[:RANK_WINDOW]
    )
    inner, params = newest.query.sql_with_params()
    sql = (
        f"SELECT w.col1 FROM ({inner}) w (col1, col2, col3) "
        f"ORDER BY ts_rank(w.col3, websearch_to_tsquery('english'::regconfig, %s)) DESC, w.col2 DESC, w.col1 DESC "
        f"LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, query.q, query.page_size + 1, offset])
        ids = [row[0] for row in cursor.fetchall()]
    more = len(ids) > query.page_size
    return LibraryPage(
        _rows(ids[: query.page_size]),
        cursors.encode({"o": offset + query.page_size}) if more else "",
        cursors.encode({"o": max(0, offset - query.page_size)}) if offset else "",
    )
