"""The hosted Ideogram plugins: ``ideogram-v2`` and ``ideogram-v2a-turbo``.

Both call Ideogram's (legacy) synchronous generate endpoint, ``POST {base_url}/generate`` with
the key in an ``Api-Key`` header and a JSON ``{"image_request": {...}}`` body, then download
each returned image at once: Ideogram's image links expire.

What a hosted model needs beyond a local one, and how it is handled here:

- The API key lives in an environment variable whose *name* is configured; the key itself is
  never stored, logged, audited or put into an error message (provider text is scrubbed too).
  The name must be on the operator's ``HALLMARK_SECRET_ENV_ALLOWLIST`` and ``base_url`` on
  ``HALLMARK_IDEOGRAM_ALLOWED_HOSTS``, checked when the admin saves the config and again
  before every use, so that no database row can send another secret anywhere.
- Images are downloaded only from ``HALLMARK_IDEOGRAM_IMAGE_HOSTS`` over https, from public
  internet addresses (``hallmark.sdk.egress``); each redirect hop is checked the same way.
  The generate answer is read up to 1 MiB before it is parsed.
- 429 and 5xx answers, and connection failures, are retried with exponential backoff that
  honours ``Retry-After``, within ``max_attempts`` and an overall time budget.
- 401/403 fail the job and turn the plugin's health red. Health runs in the web process and
  the failure happens on a worker, so the state is a small file under ``VAR_DIR`` keyed by the
  plugin, the key's variable name and a hash of the key: it clears when the key changes or a
  later call succeeds.
- An image Ideogram marks unsafe fails the job; nothing is stored.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import hashlib
import io
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import PIL
import requests
from django.conf import settings
from PIL import Image

from hallmark.files import atomic_write
from hallmark.sdk import egress, hosted
from plugins.sdk import (
    CancelCheck,
    Cancelled,
    Capabilities,
    ConfigInvalid,
    CostModel,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Health,
    License,
    ModelIdentity,
    ParamSpec,
    Plugin,
    PluginError,
    ProgressCallback,
    secret_env_refusal,
    secret_from_env,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.ideogram.ai"
DEFAULT_KEY_ENV = "IDEOGRAM_API_KEY"
# Ideogram documents seeds in 0..2147483647 (a signed 32-bit integer).
IDEOGRAM_SEED_MAX = 2_147_483_647
IDEOGRAM_MAX_IMAGES = 8

# Ideogram's aspect-ratio enum and the pixel size V_2 and V_2A models return for each.
# 1:1 comes first: it is what a request without a size or ratio gets.
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "ASPECT_1_1": (1024, 1024),
    "ASPECT_16_9": (1312, 736),
    "ASPECT_9_16": (736, 1312),
    "ASPECT_4_3": (1152, 864),
    "ASPECT_3_4": (864, 1152),
    "ASPECT_3_2": (1248, 832),
    "ASPECT_2_3": (832, 1248),
    "ASPECT_16_10": (1280, 800),
    "ASPECT_10_16": (800, 1280),
    "ASPECT_3_1": (1536, 512),
    "ASPECT_1_3": (512, 1536),
}
STYLE_TYPES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN", "RENDER_3D", "ANIME")
MAGIC_PROMPT_OPTIONS = ("AUTO", "ON", "OFF")

IDEOGRAM_LICENSE = License(
    spdx_id="LicenseRef-Ideogram-API-Terms",
    name="Ideogram API Terms of Service",
    url="https://ideogram.ai/legal/api-tos",
    commercial_use=True,
    attribution="Generated with Ideogram (https://ideogram.ai).",
    restrictions=(
        "Use is governed by Ideogram's API terms and content policy.",
        "Images are produced on Ideogram's servers: prompts are sent to Ideogram.",
    ),
    # The provider's terms restrict using outputs to build competing models; stay conservative.
    allows_training=False,
)

_KEY_DIGEST_SALT = b"hallmark-ideogram-key-health:"
# Byte-by-byte cap while downloading; read in chunks of this size.
_CHUNK = 64 * 1024
# Slices of a backoff wait between two cancellation checks.
_SLEEP_SLICE = 0.2
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_PROVIDER_MESSAGE_LIMIT = 300
# Ideogram's answer for eight images is a few kilobytes; nothing larger is parsed.
_MAX_JSON_BYTES = 1024 * 1024
# Redirect hops an image download may take; each is checked like the first URL.
_MAX_IMAGE_REDIRECTS = 3
# The formats Pillow may parse from the provider's bytes.
_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
_API_HOSTS_SETTING = "HALLMARK_IDEOGRAM_ALLOWED_HOSTS"
_IMAGE_HOSTS_SETTING = "HALLMARK_IDEOGRAM_IMAGE_HOSTS"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    A date in the past means "now" (0 s); anything unparseable is ignored (None).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _key_digest(key: str) -> str:
    """A short, salted hash that says which key failed without revealing it."""
    return hashlib.sha256(_KEY_DIGEST_SALT + key.encode("utf-8")).hexdigest()[:24]


def _state_dir() -> Path:
    """Where plugin health markers live: shared by the web process and the workers of one host."""
    configured = getattr(settings, "HALLMARK_PLUGIN_STATE_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "plugin-state"


def _rules(setting: str) -> list[egress.HostRule]:
    """The operator's host rules in ``setting``; entries that do not parse allow nothing."""
    rules, bad = egress.parse_rules(getattr(settings, setting, ()))
    if bad:
        logger.warning("ignoring invalid entries of %s: %s", setting, ", ".join(bad))
    return rules


def base_url_problem(url: str) -> str:
    """Why the API key may not be sent to ``url`` ("" when it may).

    Only https to the hosts the operator lists in ``HALLMARK_IDEOGRAM_ALLOWED_HOSTS`` (default
    ``api.ideogram.ai``), no credentials, query or fragment. An admin sets ``base_url`` but the
    operator decides where the key may go: a proxy or regional endpoint must be listed there.
    """
    parts, problem = egress.check_url(url, _rules(_API_HOSTS_SETTING), setting=_API_HOSTS_SETTING)
    if parts is None:
        return problem
    if parts.query or parts.fragment:
        return "must not have a query or fragment."
    return ""


def image_url_problem(url: str) -> str:
    """Why an image link may not be downloaded ("" when it may): not https or not a listed host."""
    _, problem = egress.check_url(url, _rules(_IMAGE_HOSTS_SETTING), setting=_IMAGE_HOSTS_SETTING, globs=True)
    return problem


def _allow_private_addresses() -> bool:
    return bool(getattr(settings, "HALLMARK_IDEOGRAM_ALLOW_PRIVATE_ADDRESSES", False))


class _Retry(Exception):
    """One HTTP exchange failed in a way another attempt may fix."""

    def __init__(self, message: str, *, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class IdeogramPlugin(Plugin):
    """Shared behaviour of the Ideogram plugins; subclasses name the model and its prices.

    Not registered itself: only its subclasses have entry points.
    """

    #: The ``model`` value Ideogram's API expects (``V_2``, ``V_2A_TURBO``).
    api_model: ClassVar[str]
    #: Whether Ideogram accepts ``negative_prompt`` for this model.
    supports_negative_prompt: ClassVar[bool] = True
    #: Default price of one image in US dollars (Ideogram's list price when written).
    default_cost_per_image: ClassVar[float]

    hallmark_compat = ">=0.1,<1"
    license = IDEOGRAM_LICENSE
    params_schema = {
        "aspect_ratio": ParamSpec(
            "choice",
            choices=tuple(ASPECT_RATIOS),
            help="Ideogram aspect ratio; the pixel size follows it (default ASPECT_1_1, 1024x1024). "
            "Giving width and height instead picks the matching ratio.",
        ),
        "style_type": ParamSpec("choice", default="AUTO", choices=STYLE_TYPES, help="Ideogram style type."),
        "magic_prompt_option": ParamSpec(
            "choice",
            default="AUTO",
            choices=MAGIC_PROMPT_OPTIONS,
            help="Whether Ideogram rewrites the prompt (MagicPrompt). The rewritten prompt is kept "
            "on the asset beside yours.",
        ),
    }

    @classmethod
    def _config_schema(cls, cost: float) -> dict[str, ParamSpec]:
        return {
            "base_url": ParamSpec(
                "str",
                default=DEFAULT_BASE_URL,
                max_length=300,
                help="Ideogram's API root: https, on a host the operator allows in "
                "HALLMARK_IDEOGRAM_ALLOWED_HOSTS (default api.ideogram.ai only).",
            ),
            "api_key_env": ParamSpec(
                "env",
                default=DEFAULT_KEY_ENV,
                max_length=128,
                help="Name of the environment variable that holds the Ideogram API key; "
                "the operator's HALLMARK_SECRET_ENV_ALLOWLIST says which names are allowed.",
            ),
            "timeout_seconds": ParamSpec(
                "float",
                default=120.0,
                minimum=1.0,
                maximum=600.0,
                help="Read timeout of one call; Ideogram answers after the image is made.",
            ),
            "connect_timeout_seconds": ParamSpec(
                "float", default=10.0, minimum=0.5, maximum=60.0, help="Connect timeout of one call."
            ),
            "max_attempts": ParamSpec(
                "int",
                default=4,
                minimum=1,
                maximum=10,
                help="Attempts per call on 429, 5xx and connection failures.",
            ),
            "backoff_base_seconds": ParamSpec(
                "float",
                default=2.0,
                minimum=0.0,
                maximum=60.0,
                help="First retry wait; doubles per attempt unless Retry-After says otherwise.",
            ),
            "max_total_seconds": ParamSpec(
                "float",
                default=600.0,
                minimum=1.0,
                maximum=3600.0,
                help="Time budget of a whole job, retries and downloads included.",
            ),
            "max_image_bytes": ParamSpec(
                "int",
                default=50 * 1024 * 1024,
                minimum=1024,
                maximum=200 * 1024 * 1024,
                help="Largest image download accepted.",
            ),
            "cost_per_image": ParamSpec(
                "float",
                default=cost,
                minimum=0.0,
                maximum=100.0,
                help="US dollars per image, recorded on each job.",
            ),
        }

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._session: requests.Session | None = None
        self._download_session: requests.Session | None = None

    # -- configuration --------------------------------------------------------------------

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The schema's checks (``api_key_env`` on the operator's allow-list), then the base URL.

        The key travels in a header to ``base_url``, so it must be https to a host the operator
        allows (``base_url_problem``). Runs when the admin saves and whenever an instance is made.
        """
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, Any] = {}
        try:
            cleaned = super().clean_config(config)
        except ConfigInvalid as exc:
            errors = exc.errors  # reported with the base URL's, so the admin sees both at once
        raw = config.get("base_url") if isinstance(config, Mapping) else None
        raw = DEFAULT_BASE_URL if raw is None else raw  # the default is checked like any value
        if "base_url" not in errors and isinstance(raw, str):
            problem = base_url_problem(raw.strip())
            if problem:
                errors["base_url"] = [problem]
        if errors:
            raise ConfigInvalid(errors)
        cleaned["base_url"] = str(cleaned["base_url"]).strip().rstrip("/")
        return cleaned

    # -- hooks ----------------------------------------------------------------------------

    def identity(self) -> ModelIdentity:
        """Ideogram's model name as its API knows it; hosted, so no weights to fingerprint."""
        host = urlsplit(self.config["base_url"]).netloc
        return ModelIdentity(
            model_name=f"ideogram-{self.api_model}",
            model_version=self.api_model,
            weights_fingerprint=f"hosted:ideogram/{self.api_model}",
            libraries={"requests": requests.__version__, "pillow": PIL.__version__},
            extra={"provider": "Ideogram", "endpoint": f"{host}/generate", "hosted": True},
        )

    def load(self) -> None:
        """Open pooled HTTP sessions (kept warm between jobs on a worker).

        Downloads get their own session: no cookies of the API call, no environment proxy
        (``trust_env`` off, or the address check would test the proxy), public addresses only.
        """
        if self._session is None:
            self._session = requests.Session()
        if self._download_session is None:
            downloads = requests.Session()
            downloads.trust_env = False
            adapter = egress.PublicAddressAdapter(allow_private=_allow_private_addresses)
            downloads.mount("https://", adapter)
            downloads.mount("http://", adapter)
            self._download_session = downloads

    def unload(self) -> None:
        """Close the HTTP sessions."""
        for session in (self._session, self._download_session):
            if session is not None:
                session.close()
        self._session = self._download_session = None

    def health(self) -> Health:
        """Red when the key's variable is unset or the provider refused this very key.

        Red too when the operator no longer allows the key's variable or ``base_url`` (checked
        before the variable is read). Reads the environment and one small file; never calls
        Ideogram (it runs on page loads).
        """
        key_env = self.config["api_key_env"]
        refusal = self._endpoint_refusal()
        if refusal:
            return Health("red", refusal)
        key = secret_from_env(key_env)
        if not key:
            return Health("red", f"Environment variable {key_env} holding the Ideogram API key is not set.")
        if not key.isascii() or not key.isprintable() or " " in key:
            return Health("red", f"The Ideogram API key in {key_env} contains characters a key cannot have.")
        failure = self._read_auth_failure(key)
        if failure is not None:
            return Health("red", failure)
        return Health("green")

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback, is_cancelled: CancelCheck
    ) -> GenerationResult:
        """Ask Ideogram for ``request.num_images`` images, then download and check each.

        Progress is one step for the call and one per download. Raises ``PluginError`` with a
        message that names the key's variable, never the key; ``Cancelled`` between steps.
        """
        refusal = self._endpoint_refusal()
        if refusal:
            raise PluginError(refusal, code="config_not_allowed")
        key = self._api_key()
        deadline = time.monotonic() + float(self.config["max_total_seconds"])
        total = 1 + request.num_images
        on_progress(0, total)
        if is_cancelled():
            raise Cancelled()

        body = self._request_body(request)
        payload = self._with_retries(
            "generate", lambda: self._post_generate(key, body, deadline), deadline, is_cancelled
        )
        created, items = self._parse_response(payload, request.num_images)
        on_progress(1, total)

        images: list[GeneratedImage] = []
        for index, item in enumerate(items):
            if is_cancelled():
                raise Cancelled()
            url = item["url"]
            data = self._with_retries(
                "image download", functools.partial(self._download, url, deadline), deadline, is_cancelled
            )
            image = self._decode(data)
            seed = item["seed"] if item["seed"] is not None else request.seed
            images.append(
                GeneratedImage(
                    image=image,
                    seed=seed,
                    parameters={
                        "sampler": "ideogram",
                        "model": self.api_model,
                        "aspect_ratio": request.params.get("aspect_ratio"),
                        "style_type": body["image_request"].get("style_type"),
                        "magic_prompt_option": body["image_request"]["magic_prompt_option"],
                    },
                    provider={
                        "provider": "ideogram",
                        "model": self.api_model,
                        "prompt": item["prompt"],
                        "resolution": item["resolution"],
                        "seed": item["seed"],
                        "style_type": item["style_type"],
                        "is_image_safe": True,
                        "created": created,
                        "requested_seed": request.seed,
                    },
                )
            )
            on_progress(2 + index, total)
        # A call that got through proves the key works: clear any red state it left.
        self._clear_auth_failure()
        cost = round(float(self.config["cost_per_image"]) * len(images), 6)
        return GenerationResult(images=images, cost=cost, currency="USD")

    # -- the API call ---------------------------------------------------------------------

    def _endpoint_refusal(self) -> str:
        """Why the operator's settings, as they are now, forbid this configuration ("" if not).

        ``clean_config`` checked the same when the instance was made; checking again at use
        catches a warm instance that outlived a narrowed setting. The key is not read first.
        """
        refusal = secret_env_refusal(self.config["api_key_env"])
        if refusal:
            return f"The configured api_key_env is refused: {refusal}"
        problem = base_url_problem(self.config["base_url"])
        if problem:
            return f"The configured base_url {problem}"
        return ""

    def _api_key(self) -> str:
        key_env = self.config["api_key_env"]
        key = secret_from_env(key_env)
        if not key:
            raise PluginError(
                f"Environment variable {key_env} holding the Ideogram API key is not set on this worker.",
                code="auth_missing",
            )
        # requests echoes an invalid header value in its exception message; refuse it here
        # so that the key can never reach a traceback.
        if not key.isascii() or not key.isprintable() or " " in key:
            raise PluginError(
                f"The Ideogram API key in {key_env} contains characters a key cannot have.",
                code="auth_missing",
            )
        return key

    def _request_body(self, request: GenerationRequest) -> dict[str, Any]:
        params = request.params
        image_request: dict[str, Any] = {
            "prompt": request.prompt,
            "model": self.api_model,
            "aspect_ratio": request.aspect_ratio or params.get("aspect_ratio") or next(iter(ASPECT_RATIOS)),
            "magic_prompt_option": params.get("magic_prompt_option", "AUTO"),
            "seed": request.seed,
            "style_type": params.get("style_type", "AUTO"),
            "num_images": request.num_images,
        }
        if request.negative_prompt and self.supports_negative_prompt:
            image_request["negative_prompt"] = request.negative_prompt
        return {"image_request": image_request}

    def _session_for_call(self) -> requests.Session:
        if self._session is None:
            self.load()
        assert self._session is not None
        return self._session

    def _session_for_download(self) -> requests.Session:
        if self._download_session is None:
            self.load()
        assert self._download_session is not None
        return self._download_session

    def _timeouts(self, deadline: float) -> tuple[float, float]:
        remaining = max(0.5, deadline - time.monotonic())
        return (
            min(float(self.config["connect_timeout_seconds"]), remaining),
            min(float(self.config["timeout_seconds"]), remaining),
        )

    def _post_generate(self, key: str, body: dict[str, Any], deadline: float) -> Any:
        url = f"{self.config['base_url']}/generate"
        try:
            # No redirects: requests would carry the Api-Key header to wherever they point.
            response = self._session_for_call().post(
                url,
                json=body,
                headers={"Api-Key": key, "Accept": "application/json"},
                timeout=self._timeouts(deadline),
                allow_redirects=False,
                stream=True,  # read by _read_answer, within _MAX_JSON_BYTES
            )
        except requests.Timeout:
            raise _Retry("Ideogram did not answer in time") from None
        except requests.ConnectionError:
            raise _Retry("could not connect to Ideogram") from None
        except requests.RequestException as exc:
            raise PluginError(
                f"Calling Ideogram failed ({type(exc).__name__}).", code="provider_error"
            ) from None
        with response:
            return self._handle_generate_response(response, key)

    @staticmethod
    def _read_answer(response: requests.Response) -> bytes | None:
        """The answer's body, or None when it is over ``_MAX_JSON_BYTES`` (nothing is parsed)."""
        try:
            return hosted.read_capped(response, _MAX_JSON_BYTES)
        except hosted.BodyTooLarge:
            return None
        except requests.RequestException:
            raise _Retry("Ideogram's answer broke off") from None

    def _handle_generate_response(self, response: requests.Response, key: str) -> Any:
        status = response.status_code
        if status == 200:
            body = self._read_answer(response)
            if body is None:
                raise PluginError(
                    f"Ideogram's answer is larger than {_MAX_JSON_BYTES} bytes; it was not read.",
                    code="provider_error",
                )
            try:
                return json.loads(body)
            except ValueError:
                raise PluginError(
                    "Ideogram answered with a body that is not JSON.", code="provider_error"
                ) from None
        if status in _RETRYABLE_STATUSES:
            # No body needed; the connection is dropped unread.
            wait = parse_retry_after(response.headers.get("Retry-After"))
            what = "is rate limiting requests" if status == 429 else "had a server error"
            raise _Retry(f"Ideogram {what} (HTTP {status})", wait=wait)
        message = self._provider_message(self._read_answer(response) or b"", key)
        key_env = self.config["api_key_env"]
        if status in (401, 403):
            reason = "rejected" if status == 401 else "is not allowed to use"
            text = (
                f"Ideogram {reason} the API key in environment variable {key_env} "
                f"(HTTP {status}{': ' + message if message else ''}). Set a valid key there; "
                f"the plugin refuses new jobs until the key changes or a call succeeds."
            )
            self._record_auth_failure(key, status)
            logger.warning("ideogram %s: API key from %s refused (HTTP %s)", self.id, key_env, status)
            raise PluginError(text, code="auth_failed")
        if status == 422:
            raise PluginError(
                f"Ideogram refused the prompt (HTTP 422{': ' + message if message else ''}).",
                code="provider_refused",
            )
        if status == 400:
            raise PluginError(
                f"Ideogram found the request invalid (HTTP 400{': ' + message if message else ''}).",
                code="provider_rejected",
            )
        raise PluginError(
            f"Ideogram answered HTTP {status}{': ' + message if message else ''}.", code="provider_error"
        )

    @staticmethod
    def _provider_message(body: bytes, key: str) -> str:
        """The provider's error text, short, single-line and scrubbed of the key."""
        text = ""
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            for field in ("error", "detail", "message"):
                value = data.get(field)
                if isinstance(value, str) and value:
                    text = value
                    break
                if value:
                    text = json.dumps(value)
                    break
        # Redact before truncating, or a key echoed near the cut would leak in part.
        if key:
            text = text.replace(key, "[redacted]")
        return " ".join(text.split())[:_PROVIDER_MESSAGE_LIMIT]

    def _parse_response(self, payload: Any, wanted: int) -> tuple[str, list[dict[str, Any]]]:
        """Check the documented response shape; refuse the whole job if any image is unsafe."""
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise PluginError("Ideogram's answer has no image list.", code="provider_error")
        created = payload.get("created")
        items: list[dict[str, Any]] = []
        for raw in payload["data"]:
            if not isinstance(raw, dict):
                raise PluginError(
                    "Ideogram's answer holds an entry that is not an object.", code="provider_error"
                )
            if raw.get("is_image_safe") is False:
                # Nothing of this job is stored: an unsafe image must not become an asset.
                raise PluginError(
                    "Ideogram flagged a generated image as unsafe (is_image_safe: false); "
                    "no image was stored. Rephrase the prompt and try again.",
                    code="unsafe_image",
                )
            url = raw.get("url")
            if not isinstance(url, str) or not url:
                raise PluginError(
                    "Ideogram's answer holds an image without a usable URL.", code="provider_error"
                )
            # Every link is checked before the first download: a job fails whole, not half-way.
            self._check_image_url(url)
            seed = raw.get("seed")
            items.append(
                {
                    "url": url,
                    "prompt": raw.get("prompt") if isinstance(raw.get("prompt"), str) else "",
                    "resolution": raw.get("resolution") if isinstance(raw.get("resolution"), str) else "",
                    "seed": seed
                    if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0
                    else None,
                    "style_type": raw.get("style_type") if isinstance(raw.get("style_type"), str) else None,
                }
            )
        if len(items) < wanted:
            raise PluginError(
                f"Ideogram returned {len(items)} images for {wanted} requested.", code="provider_error"
            )
        return (str(created) if created is not None else ""), items[:wanted]

    # -- images ---------------------------------------------------------------------------

    @staticmethod
    def _check_image_url(url: str) -> None:
        """``PluginError`` (``download_refused``) unless the operator allows downloading ``url``."""
        problem = image_url_problem(url)
        if problem:
            raise PluginError(
                f"Refused to download an image Ideogram linked to: the link {problem} Nothing was stored.",
                code="download_refused",
            )

    def _get_image(self, url: str, deadline: float) -> requests.Response:
        """GET an image link, following at most ``_MAX_IMAGE_REDIRECTS`` redirects by hand.

        Each hop is checked like the first link (scheme, listed host) and connects through the
        public-address adapter, so a redirect can reach nothing the first link could not.
        """
        current = url
        for _ in range(_MAX_IMAGE_REDIRECTS + 1):
            self._check_image_url(current)
            try:
                # Never send the key here: image links may live on another host.
                response = self._session_for_download().get(
                    current, timeout=self._timeouts(deadline), stream=True, allow_redirects=False
                )
            except egress.AddressRefused as exc:
                raise PluginError(
                    f"Refused to download an image Ideogram linked to: {exc}. Nothing was stored.",
                    code="download_refused",
                ) from None
            except requests.Timeout:
                raise _Retry("downloading an image from Ideogram timed out") from None
            except requests.ConnectionError:
                raise _Retry("could not connect to Ideogram's image host") from None
            except requests.RequestException as exc:
                raise PluginError(
                    f"Downloading an image from Ideogram failed ({type(exc).__name__}).",
                    code="provider_error",
                ) from None
            location = response.headers.get("Location") if response.is_redirect else None
            if location is None:
                return response
            response.close()
            current = urljoin(current, location)
        raise PluginError(
            f"Ideogram's image link redirected more than {_MAX_IMAGE_REDIRECTS} times; nothing was stored.",
            code="download_refused",
        )

    def _download(self, url: str, deadline: float) -> bytes:
        """Fetch one image at once (links expire), within the size limit and the time budget."""
        limit = int(self.config["max_image_bytes"])
        response = self._get_image(url, deadline)
        with response:
            if response.status_code in _RETRYABLE_STATUSES:
                raise _Retry(
                    f"Ideogram's image host answered HTTP {response.status_code}",
                    wait=parse_retry_after(response.headers.get("Retry-After")),
                )
            if response.status_code != 200:
                raise PluginError(
                    f"Downloading an image from Ideogram failed (HTTP {response.status_code}); "
                    "its link may have expired.",
                    code="download_failed",
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise PluginError(
                    f"Ideogram's image is {int(declared)} bytes, over the {limit}-byte limit.",
                    code="download_too_large",
                )
            buffer = io.BytesIO()
            try:
                for chunk in response.iter_content(_CHUNK):
                    buffer.write(chunk)
                    if buffer.tell() > limit:
                        raise PluginError(
                            f"Ideogram's image is over the {limit}-byte limit.", code="download_too_large"
                        )
                    if time.monotonic() > deadline:
                        raise PluginError(
                            "Downloading an image from Ideogram ran past the job's time budget.",
                            code="provider_timeout",
                        )
            except requests.RequestException:
                raise _Retry("the image download from Ideogram broke off") from None
            return buffer.getvalue()

    @staticmethod
    def _decode(data: bytes) -> Image.Image:
        """Decode with Pillow and make sure it really is a whole image of a known format."""
        try:
            # Only these parsers ever see the provider's bytes (formats=): Pillow would otherwise
            # try every format it knows while it works out which one this is.
            with Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS) as probe:
                if probe.format not in ("PNG", "JPEG", "WEBP"):
                    raise PluginError(
                        f"Ideogram sent an image in an unexpected format ({probe.format}).",
                        code="bad_image",
                    )
                probe.verify()
            image: Image.Image = Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS)
            image.load()
        except PluginError:
            raise
        except Image.DecompressionBombError:
            raise PluginError(
                "Ideogram sent an image too large to decode safely.", code="bad_image"
            ) from None
        except (OSError, SyntaxError, ValueError):
            # UnidentifiedImageError (an OSError) also covers a format outside _IMAGE_FORMATS.
            raise PluginError("Ideogram sent a file that is not a valid image.", code="bad_image") from None
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGB")
        return image

    # -- retries --------------------------------------------------------------------------

    def _with_retries(
        self, what: str, call: Callable[[], Any], deadline: float, is_cancelled: CancelCheck
    ) -> Any:
        """Run ``call`` until it succeeds, retrying ``_Retry`` with exponential backoff.

        The wait is the provider's ``Retry-After`` when it gives one, otherwise
        ``backoff_base_seconds * 2**(attempt-1)`` with a little jitter. Gives up after
        ``max_attempts`` or when the next wait would pass the job's deadline.
        """
        attempts = int(self.config["max_attempts"])
        base = float(self.config["backoff_base_seconds"])
        for attempt in range(1, attempts + 1):
            if is_cancelled():
                raise Cancelled()
            try:
                return call()
            except _Retry as exc:
                if attempt == attempts:
                    raise PluginError(
                        f"{exc} on all {attempts} attempts of the {what}; try again later.",
                        retryable=True,
                        code="provider_unavailable",
                    ) from None
                wait = (
                    exc.wait
                    if exc.wait is not None
                    else base * 2 ** (attempt - 1) * random.uniform(1.0, 1.25)
                )
                if time.monotonic() + wait > deadline:
                    raise PluginError(
                        f"{exc}; waiting {wait:.0f} s more would pass the job's time budget.",
                        retryable=True,
                        code="provider_unavailable",
                    ) from None
                logger.info(
                    "ideogram %s: %s (attempt %d of %d); retrying in %.2f s",
                    self.id,
                    exc,
                    attempt,
                    attempts,
                    wait,
                )
                self._sleep(wait, is_cancelled)
        raise AssertionError("unreachable")  # the loop returns or raises

    @staticmethod
    def _sleep(seconds: float, is_cancelled: CancelCheck) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(_SLEEP_SLICE, left))
            if is_cancelled():
                raise Cancelled()

    # -- health state shared between processes --------------------------------------------

    def _marker_path(self) -> Path:
        return _state_dir() / f"{self.id}--{self.config['api_key_env']}.json"

    def _read_auth_failure(self, key: str) -> str | None:
        """The red message left by a refused key, if it was this key that was refused."""
        try:
            data = json.loads(self._marker_path().read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key_digest") != _key_digest(key):
            return None  # another key was refused: the current one deserves a try
        return (
            f"Ideogram refused the API key in {self.config['api_key_env']} "
            f"(HTTP {data.get('status')}) at {data.get('at')}; set a valid key."
        )

    def _record_auth_failure(self, key: str, status: int) -> None:
        path = self._marker_path()
        record = {
            "plugin": self.id,
            "key_env": self.config["api_key_env"],
            "key_digest": _key_digest(key),
            "status": status,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            atomic_write(path, json.dumps(record).encode("utf-8"))
        except OSError:
            logger.exception("ideogram %s: could not record the refused key's health state", self.id)

    def _clear_auth_failure(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._marker_path().unlink()


class IdeogramV2Plugin(IdeogramPlugin):
    """Ideogram 2.0 (``V_2``) through Ideogram's hosted API: strong typography, final quality."""

    id = "ideogram-v2"
    name = "Ideogram 2.0 (hosted)"
    version = "1.0.0"
    description = (
        "Ideogram's V_2 model through its REST API. Prompts are sent to Ideogram; images are "
        "downloaded at once and stamped like any other. Priced per image."
    )
    api_model = "V_2"
    supports_negative_prompt = True
    default_cost_per_image = 0.08
    capabilities = Capabilities(
        aspect_ratios=ASPECT_RATIOS,
        max_images=IDEOGRAM_MAX_IMAGES,
        negative_prompt=True,
        # A hosted model can change behind its name, and MagicPrompt may rewrite the prompt.
        seed_deterministic=False,
        seed_max=IDEOGRAM_SEED_MAX,
        fidelity="final",
        cost=CostModel(per_image=default_cost_per_image, currency="USD", basis="per_image"),
    )
    config_schema = IdeogramPlugin._config_schema(default_cost_per_image)


class IdeogramV2ATurboPlugin(IdeogramPlugin):
    """Ideogram 2a Turbo (``V_2A_TURBO``) through Ideogram's hosted API: fast, cheap drafts."""

    id = "ideogram-v2a-turbo"
    name = "Ideogram 2a Turbo (hosted)"
    version = "1.0.0"
    description = (
        "Ideogram's V_2A_TURBO model through its REST API: the fastest and cheapest Ideogram "
        "model, for drafts. No negative prompt. Priced per image."
    )
    api_model = "V_2A_TURBO"
    supports_negative_prompt = False
    default_cost_per_image = 0.025
    capabilities = Capabilities(
        aspect_ratios=ASPECT_RATIOS,
        max_images=IDEOGRAM_MAX_IMAGES,
        negative_prompt=False,
        negative_prompt_note=(
            "Ideogram's V_2A models take no negative prompt; describe what you want in the prompt "
            "instead, or use ideogram-v2."
        ),
        seed_deterministic=False,
        seed_max=IDEOGRAM_SEED_MAX,
        fidelity="draft",
        cost=CostModel(per_image=default_cost_per_image, currency="USD", basis="per_image"),
    )
    config_schema = IdeogramPlugin._config_schema(default_cost_per_image)
