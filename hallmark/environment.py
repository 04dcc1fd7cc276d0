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
from decimal import Decimal, InvalidOperation
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
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


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (any case); another value raises ``ImproperlyConfigured``."""
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def env_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    """A whole number within ``[minimum, maximum]``; another value raises ``ImproperlyConfigured``."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, not {value}.")
    return value


def env_decimal(name: str, default: str, *, maximum: str) -> Decimal:
    """A decimal number within ``[0, maximum]`` (prices); another value raises ``ImproperlyConfigured``."""
    raw = os.environ.get(name, default).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a decimal number, not {raw!r}.") from None
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(maximum):
        raise ImproperlyConfigured(f"{name} must be between 0 and {maximum}, not {raw!r}.")
    return value


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
    ``AWS_S3_ENDPOINT_URL`` (any S3-compatible store, over https: see ``store_endpoint``),
    ``AWS_S3_REGION_NAME``, ``AWS_LOCATION`` (a key prefix) and ``AWS_S3_ADDRESSING_STYLE``. Credentials are never copied into Django's
    settings (where a debug page or a settings dump could show them): django-storages and
    boto3 read ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` from the
    environment themselves, or use the host's instance role.
    """
    bucket = os.environ.get("AWS_STORAGE_BUCKET_NAME", "").strip()
    if not bucket:
        raise ImproperlyConfigured("HALLMARK_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    endpoint = store_endpoint("AWS_S3_ENDPOINT_URL")
    # boto3 reads these itself when no endpoint is given: the same rule holds for them.
    store_endpoint("AWS_ENDPOINT_URL_S3")
    store_endpoint("AWS_ENDPOINT_URL")
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


def store_endpoint(name: str) -> str | None:
    """The object store's URL in variable ``name``: ``https://``, or plain ``http://`` only to
    this host (127.0.0.0/8, ::1, ``localhost``) or with ``HALLMARK_S3_ALLOW_HTTP`` on.

    Files streamed from the store and the presigned links handed to clients would otherwise
    cross the network unencrypted (and a link's signature could be replayed by whoever saw it).
    """
    endpoint = os.environ.get(name, "").strip() or None
    if endpoint is None:
        return None
    try:
        parts = urlsplit(endpoint)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        scheme, host = "", None
    if scheme not in ("http", "https") or not host:
        raise ImproperlyConfigured(f"{name}={endpoint!r}: expected an http(s) URL")
    if scheme == "http" and not is_loopback(host) and not env_bool("HALLMARK_S3_ALLOW_HTTP", False):
        raise ImproperlyConfigured(
            f"{name}={endpoint!r}: plain http to another host sends files and download links "
            "unencrypted; use https, or set HALLMARK_S3_ALLOW_HTTP=1 on a network you trust"
        )
    return endpoint


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a URL's host name) names this machine: ``localhost``, 127.0.0.0/8, ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:  # a name other than localhost: resolved elsewhere, not trusted here
        return False


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


#: The longest a presigned download URL may stay valid, in seconds. Deleting the asset,
#: a legal hold or taking the holder's role away does not revoke a URL already handed out
#: (the store checks only its signature and expiry), so its life is kept short.
MAX_DOWNLOAD_URL_EXPIRES = 3600


def download_url_expires() -> int:
    """``HALLMARK_DOWNLOAD_URL_EXPIRES``: seconds a presigned download URL stays valid, 1 to
    ``MAX_DOWNLOAD_URL_EXPIRES`` (default 300); a longer life is refused at start-up."""
    return env_seconds("HALLMARK_DOWNLOAD_URL_EXPIRES", 300, maximum=MAX_DOWNLOAD_URL_EXPIRES)


def env_path(name: str, default: Path) -> Path:
    """A file or folder path from ``name``, or ``default`` when it is unset or empty."""
    return Path(os.environ.get(name, "").strip() or default)
