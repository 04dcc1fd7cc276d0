"""The REST API's dictionaries of ``hallmark/settings.py`` (Django REST framework, drf-spectacular).

Fixed, but for the one value settings.py reads from the environment and passes in; kept here
so that the settings module stays short. Only strings: importing this imports no framework.
"""

from __future__ import annotations

from typing import Any


def rest_framework(num_proxies: int) -> dict[str, Any]:
    """``REST_FRAMEWORK``: authentication, permissions, parsers, paging, throttles, renderers."""
    return {
        # Token first, so that an unauthenticated request gets 401 with WWW-Authenticate.
        "DEFAULT_AUTHENTICATION_CLASSES": [
            # DRF's token authentication, with the user's roles read in the same statement.
            "governance.token_auth.TokenWithRolesAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": ["governance.permissions.IsViewer"],
        "DEFAULT_PARSER_CLASSES": [
            "hallmark.parsers.SafeJSONParser",
            "rest_framework.parsers.FormParser",
            "rest_framework.parsers.MultiPartParser",
        ],
        "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
        "DEFAULT_PAGINATION_CLASS": "hallmark.api.StandardPagination",
        "PAGE_SIZE": 50,
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "EXCEPTION_HANDLER": "hallmark.api.exception_handler",
        "DEFAULT_THROTTLE_CLASSES": ["hallmark.throttling.AnonThrottle", "hallmark.throttling.UserThrottle"],
        # An int, never None: with None DRF counts by the whole X-Forwarded-For, which any client
        # can vary to get a fresh allowance.
        "NUM_PROXIES": num_proxies,
        "DEFAULT_RENDERER_CLASSES": [
            "rest_framework.renderers.JSONRenderer",
            "rest_framework.renderers.BrowsableAPIRenderer",
        ],
    }


def spectacular() -> dict[str, Any]:
    """``SPECTACULAR_SETTINGS``: the OpenAPI schema's description, Swagger UI without a CDN."""
    return {
        "TITLE": "Hallmark API",
        "DESCRIPTION": "Generate AI images through model plugins and govern them as assets.",
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        "COMPONENT_SPLIT_REQUEST": True,
        # Swagger UI is served from the drf-spectacular-sidecar package, never from a CDN.
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        # Assets and jobs both have a "status" with its own choices: name each set after its class.
        "ENUM_NAME_OVERRIDES": {
            "AssetStatusEnum": "assets.models.AssetStatus",
            "JobStatusEnum": "generation.models.JobStatus",
        },
    }
