"""The Ideogram plugins' HTTP: the generate call, the image downloads, and what guards both.

- The key goes only to ``base_url``, which must be https on a host the operator lists in
  ``HALLMARK_IDEOGRAM_ALLOWED_HOSTS`` (``base_url_problem``), and never follows a redirect.
- Image links must be https on ``HALLMARK_IDEOGRAM_IMAGE_HOSTS`` (``image_url_problem``) and
  connect to public internet addresses only (``hallmark.sdk.egress``); each redirect hop is
  checked like the first link. Downloads carry no key and no cookie of the API call.
- The generate answer is read up to ``MAX_JSON_BYTES`` before it is parsed; an image up to the
  configured ``max_image_bytes``, within the job's time budget.
- 429, 5xx and broken connections are retried (``hallmark.sdk.hosted.call_with_retries``);
  the provider's error text is shortened and scrubbed of the key before anyone sees it.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urljoin

import requests
from django.conf import settings

from hallmark.sdk import CancelCheck, PluginError, egress, hosted

_T = TypeVar("_T")
logger = logging.getLogger(__name__)

_PROVIDER_MESSAGE_LIMIT = 300
#: Ideogram's answer for eight images is a few kilobytes; nothing larger is parsed.
MAX_JSON_BYTES = 1024 * 1024
#: Redirect hops an image download may take; each is checked like the first URL.
MAX_IMAGE_REDIRECTS = 3
_API_HOSTS_SETTING = "HALLMARK_IDEOGRAM_ALLOWED_HOSTS"
_IMAGE_HOSTS_SETTING = "HALLMARK_IDEOGRAM_IMAGE_HOSTS"


class KeyRefused(PluginError):
    """Ideogram answered 401 or 403 to the key (``status``); the message names its variable."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, code="auth_failed")
        self.status = status


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


def check_image_url(url: str) -> None:
    """``PluginError`` (``download_refused``) unless the operator allows downloading ``url``."""
    problem = image_url_problem(url)
    if problem:
        raise PluginError(
            f"Refused to download an image Ideogram linked to: the link {problem} Nothing was stored.",
            code="download_refused",
        )


def provider_message(body: bytes, key: str) -> str:
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


class IdeogramClient:
    """One plugin instance's exchanges with Ideogram, with pooled sessions kept between jobs.

    ``config`` is the plugin's cleaned configuration (timeouts, attempts, backoff, size limit).
    """

    def __init__(self, plugin_id: str, config: Mapping[str, Any]) -> None:
        self.plugin_id = plugin_id
        self.config = config
        self._session: requests.Session | None = None
        self._download_session: requests.Session | None = None

    # -- sessions -------------------------------------------------------------------------

    def open(self) -> None:
        """Open the pooled HTTP sessions (idempotent).

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

    def close(self) -> None:
        """Close the HTTP sessions; ``open`` (or the next call) makes new ones."""
        for session in (self._session, self._download_session):
            if session is not None:
                session.close()
        self._session = self._download_session = None

    def _session_for_call(self) -> requests.Session:
        if self._session is None:
            self.open()
        assert self._session is not None
        return self._session

    def _session_for_download(self) -> requests.Session:
        if self._download_session is None:
            self.open()
        assert self._download_session is not None
        return self._download_session

    def _timeouts(self, deadline: float) -> tuple[float, float]:
        return hosted.request_timeouts(
            deadline,
            connect=float(self.config["connect_timeout_seconds"]),
            read=float(self.config["timeout_seconds"]),
        )

    def _with_retries(
        self, what: str, call: Callable[[], _T], deadline: float, is_cancelled: CancelCheck
    ) -> _T:
        return hosted.call_with_retries(
            call,
            what=what,
            max_attempts=int(self.config["max_attempts"]),
            backoff_base_seconds=float(self.config["backoff_base_seconds"]),
            deadline=deadline,
            is_cancelled=is_cancelled,
            log_label=f"ideogram {self.plugin_id}",
        )

    # -- the generate call ----------------------------------------------------------------

    def generate(
        self, key: str, body: dict[str, Any], wanted: int, deadline: float, is_cancelled: CancelCheck
    ) -> tuple[str, list[dict[str, Any]]]:
        """POST the request (with retries); return Ideogram's ``created`` and ``wanted`` items.

        Every item's link is checked before anything is downloaded. Raises ``KeyRefused`` on
        401/403 and ``PluginError`` for everything else the user should read.
        """
        payload = self._with_retries(
            "generate", lambda: self._post_generate(key, body, deadline), deadline, is_cancelled
        )
        return self._parse_response(payload, wanted)

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
                stream=True,  # read by _read_answer, within MAX_JSON_BYTES
            )
        except requests.Timeout:
            raise hosted.Retryable("Ideogram did not answer in time") from None
        except requests.ConnectionError:
            raise hosted.Retryable("could not connect to Ideogram") from None
        except requests.RequestException as exc:
            raise PluginError(
                f"Calling Ideogram failed ({type(exc).__name__}).", code="provider_error"
            ) from None
        with response:
            return self._handle_generate_response(response, key)

    @staticmethod
    def _read_answer(response: requests.Response) -> bytes | None:
        """The answer's body, or None when it is over ``MAX_JSON_BYTES`` (nothing is parsed)."""
        try:
            return hosted.read_capped(response, MAX_JSON_BYTES)
        except hosted.BodyTooLarge:
            return None
        except requests.RequestException:
            raise hosted.Retryable("Ideogram's answer broke off") from None

    def _handle_generate_response(self, response: requests.Response, key: str) -> Any:
        status = response.status_code
        if status == 200:
            body = self._read_answer(response)
            if body is None:
                raise PluginError(
                    f"Ideogram's answer is larger than {MAX_JSON_BYTES} bytes; it was not read.",
                    code="provider_error",
                )
            try:
                return json.loads(body)
            except ValueError:
                raise PluginError(
                    "Ideogram answered with a body that is not JSON.", code="provider_error"
                ) from None
        if status in hosted.RETRYABLE_STATUSES:
            # No body needed; the connection is dropped unread.
            wait = hosted.parse_retry_after(response.headers.get("Retry-After"))
            what = "is rate limiting requests" if status == 429 else "had a server error"
            raise hosted.Retryable(f"Ideogram {what} (HTTP {status})", wait=wait)
        message = provider_message(self._read_answer(response) or b"", key)
        detail = f": {message}" if message else ""
        if status in (401, 403):
            reason = "rejected" if status == 401 else "is not allowed to use"
            raise KeyRefused(
                f"Ideogram {reason} the API key in environment variable {self.config['api_key_env']} "
                f"(HTTP {status}{detail}). Set a valid key there; "
                f"the plugin refuses new jobs until the key changes or a call succeeds.",
                status=status,
            )
        if status == 422:
            raise PluginError(f"Ideogram refused the prompt (HTTP 422{detail}).", code="provider_refused")
        if status == 400:
            raise PluginError(
                f"Ideogram found the request invalid (HTTP 400{detail}).", code="provider_rejected"
            )
        raise PluginError(f"Ideogram answered HTTP {status}{detail}.", code="provider_error")

    @staticmethod
    def _parse_response(payload: Any, wanted: int) -> tuple[str, list[dict[str, Any]]]:
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
            check_image_url(url)
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

    def download(self, url: str, deadline: float, is_cancelled: CancelCheck) -> bytes:
        """Fetch one image at once (links expire), with retries, within the limits."""
        return self._with_retries(
            "image download", functools.partial(self._download, url, deadline), deadline, is_cancelled
        )

    def _get_image(self, url: str, deadline: float) -> requests.Response:
        """GET an image link, following at most ``MAX_IMAGE_REDIRECTS`` redirects by hand.

        Each hop is checked like the first link (scheme, listed host) and connects through the
        public-address adapter, so a redirect can reach nothing the first link could not.
        """
        current = url
        for _ in range(MAX_IMAGE_REDIRECTS + 1):
            check_image_url(current)
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
                raise hosted.Retryable("downloading an image from Ideogram timed out") from None
            except requests.ConnectionError:
                raise hosted.Retryable("could not connect to Ideogram's image host") from None
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
            f"Ideogram's image link redirected more than {MAX_IMAGE_REDIRECTS} times; nothing was stored.",
            code="download_refused",
        )

    def _download(self, url: str, deadline: float) -> bytes:
        """One attempt at one image, within the size limit and the time budget."""
        limit = int(self.config["max_image_bytes"])
        response = self._get_image(url, deadline)
        with response:
            if response.status_code in hosted.RETRYABLE_STATUSES:
                raise hosted.Retryable(
                    f"Ideogram's image host answered HTTP {response.status_code}",
                    wait=hosted.parse_retry_after(response.headers.get("Retry-After")),
                )
            if response.status_code != 200:
                raise PluginError(
                    f"Downloading an image from Ideogram failed (HTTP {response.status_code}); "
                    "its link may have expired.",
                    code="download_failed",
                )
            try:
                return hosted.read_capped(response, limit, deadline=deadline)
            except hosted.BodyTooLarge as exc:
                size = f" is {exc.declared} bytes," if exc.declared is not None else " is"
                raise PluginError(
                    f"Ideogram's image{size} over the {limit}-byte limit.", code="download_too_large"
                ) from None
            except hosted.DeadlinePassed:
                raise PluginError(
                    "Downloading an image from Ideogram ran past the job's time budget.",
                    code="provider_timeout",
                ) from None
            except requests.RequestException:
                raise hosted.Retryable("the image download from Ideogram broke off") from None
