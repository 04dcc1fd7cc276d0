"""The hosted Ideogram plugins: ``ideogram-v2`` and ``ideogram-v2a-turbo``.

Both call Ideogram's (legacy) synchronous generate endpoint, ``POST {base_url}/generate`` with
the key in an ``Api-Key`` header and a JSON ``{"image_request": {...}}`` body, then download
each returned image at once: Ideogram's image links expire.

What a hosted model needs beyond a local one, and where it is handled:

- The API key lives in an environment variable whose *name* is configured; the key itself is
  never stored, logged, audited or put into an error message (provider text is scrubbed too).
  The name must be on the operator's ``HALLMARK_SECRET_ENV_ALLOWLIST`` and ``base_url`` on
  ``HALLMARK_IDEOGRAM_ALLOWED_HOSTS``, checked when the admin saves the config and again
  before every use, so that no database row can send another secret anywhere (``plugin``).
- Images are downloaded only from ``HALLMARK_IDEOGRAM_IMAGE_HOSTS`` over https, from public
  internet addresses (``hallmark.sdk.egress``); each redirect hop is checked the same way.
  The generate answer is read up to 1 MiB before it is parsed (``client``).
- 429 and 5xx answers, and connection failures, are retried with exponential backoff that
  honours ``Retry-After``, within ``max_attempts`` and an overall time budget
  (``hallmark.sdk.hosted``, used by ``client``).
- 401/403 fail the job and turn the plugin's health red. Health runs in the web process and
  the failure happens on a worker (perhaps on another host), so the state is kept in the shared
  cache (``HALLMARK_CACHE_URL``) keyed by the plugin and the key's variable name, holding a hash
  of the key: it clears when the key changes or a later call succeeds (``auth_state``).
- An image Ideogram marks unsafe fails the job; nothing is stored.

The modules: ``declarations`` (enums, sizes, licence, schemas), ``client`` (the HTTP),
``auth_state`` (the refused-key state) and ``plugin`` (the classes). The entry points name
``plugins.builtin.ideogram:IdeogramV2Plugin`` and ``:IdeogramV2ATurboPlugin``.
"""

from __future__ import annotations

from hallmark.sdk.hosted import parse_retry_after
from plugins.builtin.ideogram.client import base_url_problem, image_url_problem
from plugins.builtin.ideogram.declarations import ASPECT_RATIOS, IDEOGRAM_LICENSE
from plugins.builtin.ideogram.plugin import IdeogramPlugin, IdeogramV2ATurboPlugin, IdeogramV2Plugin

__all__ = [
    "ASPECT_RATIOS",
    "IDEOGRAM_LICENSE",
    "IdeogramPlugin",
    "IdeogramV2ATurboPlugin",
    "IdeogramV2Plugin",
    "base_url_problem",
    "image_url_problem",
    "parse_retry_after",
]
