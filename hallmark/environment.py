"""Reading settings from environment variables: the parsers ``hallmark/settings.py`` uses.

Each helper reads one variable (or parses one URL) and returns the value Django wants, or
raises ``ImproperlyConfigured`` naming the variable, so a bad value stops the process at start
rather than misbehaving later. Which variables exist, and their defaults, are in settings.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from hallmark.files import atomic_write


def env_bool(name: str, default: bool) -> bool:
    """A flag: ``1``, ``true``, ``yes`` or ``on`` (any case) is true, anything else false."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> tuple[str, ...]:
    """A comma-separated variable as a tuple of its non-empty, stripped entries."""
    return tuple(item.strip() for item in os.environ.get(name, default).split(",") if item.strip())


def kept_secret(env_name: str, key_file: Path, *, min_length: int = 0) -> str:
    """The secret in ``env_name``, or a random one kept in ``key_file`` (mode 600).

    Written by ``atomic_write`` with mode 600 and without replacing: never readable by others,
    a crash leaves no key or a whole one, and of two processes starting at once the first wins
    and the other reads its key. A secret shorter than ``min_length`` is refused.
    """
    key = os.environ.get(env_name)
    if not key:
        if not key_file.exists():
            with contextlib.suppress(FileExistsError):
                atomic_write(key_file, secrets.token_urlsafe(50).encode("ascii"), mode=0o600, replace=False)
        key = key_file.read_text().strip()
    if len(key) < min_length:
        raise ImproperlyConfigured(f"{env_name} must be at least {min_length} characters long.")
    return key


def cache_from_url(url: str) -> dict[str, Any]:
    """A cache from a URL: ``file:///path``, ``redis://host:6379/1``, ``db://table``, ``locmem://``.

    Files (the default) are shared by every process on one machine (the gunicorn workers);
    several web machines share counts only through Redis or the database.
    """
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": url.removeprefix("file://"),
            # Culling at the default 300 entries would forget rate-limit counts whenever many
            # clients are counted at once; each entry is a small file.
            "OPTIONS": {"MAX_ENTRIES": 5000},
        }
    if scheme in ("redis", "rediss", "unix"):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if scheme == "db":  # run `manage.py createcachetable` once
        return {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": url.removeprefix("db://") or "hallmark_cache",
        }
    if scheme == "locmem":  # one process only: counts are not shared between workers
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    raise ImproperlyConfigured(f"HALLMARK_CACHE_URL: unsupported scheme {scheme!r} (file, redis, db, locmem)")


def throttle_rate(name: str, default: str) -> str | None:
    """A DRF rate such as ``600/min``; ``off`` (or empty) for no limit."""
    value = os.environ.get(name, default).strip()
    if value.lower() in ("", "off", "none"):
        return None
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name}={value!r}: expected requests/period, e.g. 600/min, or off")
    return value


#: Where asset files are kept (``HALLMARK_STORAGE``), and the backend that keeps them there.
STORAGE_BACKENDS = {
    "filesystem": "assets.storage.AtomicFileSystemStorage",
    "s3": "assets.storage.AtomicS3Storage",
}


def storage_backend() -> str:
    """The media backend named by ``HALLMARK_STORAGE``: ``filesystem`` (default) or ``s3``."""
    value = os.environ.get("HALLMARK_STORAGE", "filesystem").strip().lower() or "filesystem"
    if value not in STORAGE_BACKENDS:
        raise ImproperlyConfigured(
            f"HALLMARK_STORAGE={value!r}: expected one of {', '.join(STORAGE_BACKENDS)}"
        )
    return value


def media_storage() -> tuple[str, dict[str, Any]]:
    """``HALLMARK_STORAGE`` and the ``STORAGES["default"]`` entry it stands for."""
    name = storage_backend()
    entry: dict[str, Any] = {"BACKEND": STORAGE_BACKENDS[name]}
    if name == "s3":
        entry["OPTIONS"] = s3_options()
    return name, entry


def s3_options() -> dict[str, Any]:
    """Options of the S3 backend from django-storages' standard ``AWS_*`` variables.

    Only where the objects are is read here: ``AWS_STORAGE_BUCKET_NAME`` (required),
    ``AWS_S3_ENDPOINT_URL`` (any S3-compatible store), ``AWS_S3_REGION_NAME``, ``AWS_LOCATION``
    (a key prefix) and ``AWS_S3_ADDRESSING_STYLE``. Credentials are never copied into Django's
    settings (where a debug page or a settings dump could show them): django-storages and
    boto3 read ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` from the
    environment themselves, or use the host's instance role.
    """
    bucket = os.environ.get("AWS_STORAGE_BUCKET_NAME", "").strip()
    if not bucket:
        raise ImproperlyConfigured("HALLMARK_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    endpoint = os.environ.get("AWS_S3_ENDPOINT_URL", "").strip() or None
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ImproperlyConfigured(f"AWS_S3_ENDPOINT_URL={endpoint!r}: expected an http(s) URL")
    addressing = os.environ.get("AWS_S3_ADDRESSING_STYLE", "").strip() or None
    if addressing not in (None, "auto", "path", "virtual"):
        raise ImproperlyConfigured(f"AWS_S3_ADDRESSING_STYLE={addressing!r}: expected auto, path or virtual")
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "region_name": os.environ.get("AWS_S3_REGION_NAME", "").strip() or None,
        "location": os.environ.get("AWS_LOCATION", "").strip().strip("/"),
        "addressing_style": addressing,
        # Objects are private: files leave only through the API, or a presigned URL it signs.
        "default_acl": None,
        "querystring_auth": True,
        "file_overwrite": True,
    }


def env_seconds(name: str, default: int, *, maximum: int) -> int:
    """A whole number of seconds between 1 and ``maximum``."""
    raw = os.environ.get(name, str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number of seconds") from None
    if not 1 <= value <= maximum:
        raise ImproperlyConfigured(f"{name}={value}: expected 1 to {maximum} seconds")
    return value


def env_float_seconds(name: str, default: float, *, minimum: float, maximum: float) -> float:
    """Seconds, fractions allowed, between ``minimum`` and ``maximum``.

    ``nan`` and ``inf`` are refused like any value out of range: a timeout too large for a
    thread wait raises OverflowError where it is used, long after the process started.
    """
    raw = os.environ.get(name, str(default)).strip()
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number of seconds") from None
    if not minimum <= value <= maximum:  # false for nan too
        raise ImproperlyConfigured(f"{name}={raw!r}: expected {minimum:g} to {maximum:g} seconds")
    return value


def network_list(name: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Comma-separated networks (``10.0.0.0/8``, ``127.0.0.1``, ``::1``); empty for none."""
    networks = []
    for item in env_list(name, ""):
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an address or a network") from None
    return tuple(networks)


def optional_secret(name: str, *, min_length: int) -> str:
    """A secret the operator may set (empty: not set); one shorter than ``min_length`` is refused."""
    value = os.environ.get(name, "").strip()
    if value and len(value) < min_length:
        raise ImproperlyConfigured(f"{name} must be at least {min_length} characters long.")
    return value


def env_choices(name: str, default: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of names, each one of ``allowed``."""
    chosen = env_list(name, default)
    unknown = [item for item in chosen if item not in allowed]
    if unknown:
        raise ImproperlyConfigured(f"{name}: unknown {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return chosen
