"""API conventions shared by every app: pagination and the error format.

Errors are JSON: ``{"detail": "<message>", "errors": {"<field>": ["<message>", ...]}}``; bad
input is a 4xx naming the field, never a 500. Too many requests is a 429 with a ``Retry-After``
header and ``{"detail": ..., "retry_after": <seconds>}``. A service's refusal
(``hallmark.errors.ServiceError``: bad input, not permitted, wrong state, licence policy) is
answered here with the status its class names, so API actions call services without
catching their errors.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django_filters.fields import IsoDateTimeField
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from hallmark.errors import ServiceError


class StandardPagination(PageNumberPagination):
    """``{count, next, previous, results}`` with ``?page=`` and ``?page_size=`` (at most 200)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC.

    Python accepts UTC offsets up to +-23:59 but PostgreSQL refuses those beyond +-15:59, and
    a moment near year 1 or 9999 can leave the calendar once shifted: either would be a 500
    at query time, so both are settled here, as a 400 naming the parameter.
    """

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise DjangoValidationError("Out of the supported range of dates.", code="invalid") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """``IsoDateTimeFilter`` whose value is always a UTC moment the database accepts."""

    field_class = UTCDateTimeField


class Conflict(exceptions.APIException):
    """409: the request clashes with the current state (an idempotency key reused)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


def invalid(errors: dict[str, list[str]], message: str = "Invalid request.") -> Response:
    """A 400 response in the standard error format."""
    return Response({"detail": message, "errors": errors}, status=status.HTTP_400_BAD_REQUEST)


def too_many(message: str, *, limit: int) -> Response:
    """A 429 for a quota the caller has used up (not a rate): ``limit`` says how large it is."""
    return Response(
        {"detail": message, "errors": {"non_field_errors": [message]}, "limit": limit},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
    )


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and not prefix:
                name = "non_field_errors"
            flat.update(_flatten(value, name))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten(item, f"{prefix}[{index}]"))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Hallmark's domain errors, in one error format."""
    if isinstance(exc, ServiceError):
        set_rollback()
        return Response(exc.response_data(), status=exc.http_status)
    if isinstance(exc, Http404 | DjangoPermissionDenied):
        return drf_exception_handler(exc, context)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid request.", "errors": _flatten(exc.detail)}
    elif isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(getattr(exc, "wait", None) or 1))
        response["Retry-After"] = str(wait)
        response.data = {"detail": f"Too many requests: try again in {wait} s.", "retry_after": wait}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response
