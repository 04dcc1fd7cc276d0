"""Bulk row loading for generated data sets (the synthetic library): ``COPY`` on PostgreSQL,
batched ``INSERT`` elsewhere. Imports no app: each app's own writer decides what it loads
into its own tables and calls this with them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import JSONField, Model

_BATCH = 2000


def load_rows(model: type[Model], rows: Iterable[dict[str, Any]]) -> int:
    """Insert ``rows`` (``{attname: value}``) into ``model``'s table in bulk; return how many.

    Columns a row leaves out take the field's default, so a column added later (with a
    default) does not break the loader. JSON fields are serialised here. Runs in the caller's
    transaction; no model ``save`` or signal is run.
    """
    # The database fills in generated columns and automatic ids.
    fields = [
        f
        for f in model._meta.concrete_fields
        if not getattr(f, "generated", False) and not getattr(f, "db_returning", False)
    ]
    columns = [f.column for f in fields]
    defaults = {f.attname: f.get_default() for f in fields}
    json_fields = {f.attname for f in fields if isinstance(f, JSONField)}
    table = connection.ops.quote_name(str(model._meta.db_table))
    quoted = ", ".join(connection.ops.quote_name(str(c)) for c in columns)

    # PostgreSQL's COPY takes Python's UUIDs, datetimes and decimals as they are; other
    # databases get each value prepared by its field (UUIDs as hex on SQLite).
    prepare = connection.vendor != "postgresql"

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for f in fields:
            value = row.get(f.attname, defaults[f.attname])
            if f.attname in json_fields:
                value = json.dumps(value)
            elif prepare:
                value = f.get_db_prep_value(value, connection, prepared=False)
            out.append(value)
        return tuple(out)

    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg 3's cursor: COPY is several times faster than INSERT
            with raw.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(values(row))
                    count += 1
            return count
        placeholders = ", ".join(["%s"] * len(columns))
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append(values(row))
            count += 1
            if len(batch) >= _BATCH:
                cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", batch)
                batch = []
        if batch:
            cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", batch)
    return count
