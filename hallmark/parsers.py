"""Request parsers.

Kept apart from ``hallmark.api``: DRF reads ``DEFAULT_PARSER_CLASSES`` while it defines
``APIView``, so the module that holds a default parser must not import ``rest_framework.views``
(a worker that imports them in the other order would fail to start).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """JSON parser that answers 400, not 500, to bodies nested too deeply to decode."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
