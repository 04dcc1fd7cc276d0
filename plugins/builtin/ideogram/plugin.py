"""The Ideogram plugin classes: what they declare, and the hooks that use the client.

``IdeogramPlugin`` holds the shared behaviour; ``IdeogramV2Plugin`` and
``IdeogramV2ATurboPlugin`` name the model and its price. The HTTP is ``client``'s, the
refused-key state ``auth_state``'s.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import PIL
import requests
from django.conf import settings
from PIL import Image

from hallmark.sdk import (
    CancelCheck,
    Cancelled,
    Capabilities,
    ConfigInvalid,
    CostModel,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Health,
    ModelIdentity,
    Plugin,
    PluginError,
    ProgressCallback,
    secret_env_refusal,
    secret_from_env,
)
from plugins.builtin.ideogram.auth_state import AuthFailures
from plugins.builtin.ideogram.client import IdeogramClient, KeyRefused, base_url_problem
from plugins.builtin.ideogram.declarations import (
    ASPECT_RATIOS,
    DEFAULT_BASE_URL,
    IDEOGRAM_LICENSE,
    IDEOGRAM_MAX_IMAGES,
    IDEOGRAM_SEED_MAX,
    PARAMS_SCHEMA,
    ideogram_config_schema,
)

logger = logging.getLogger(__name__)

#: The formats Pillow may parse from the provider's bytes.
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")

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
    params_schema = PARAMS_SCHEMA

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._client = IdeogramClient(self.id, self.config)
        self._auth_failures = AuthFailures(self.id, self.config["api_key_env"])


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
        return ModelIdentity(
            model_name=f"ideogram-{self.api_model}",
            model_version=self.api_model,
            weights_fingerprint=f"hosted:ideogram/{self.api_model}",
            libraries={"requests": requests.__version__, "pillow": PIL.__version__},
            # Not the endpoint: every asset's identity is shown to every role, and where the
            # operator routes the key (a proxy, a gateway) is configuration.
            extra={"provider": "Ideogram", "hosted": True},
        )

    def load(self) -> None:
        """Open pooled HTTP sessions (kept warm between jobs on a worker)."""
        self._client.open()

    def unload(self) -> None:
        """Close the HTTP sessions."""
        self._client.close()

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
        failure = self._auth_failures.message_for(key)
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
        try:
            created, items = self._client.generate(key, body, request.num_images, deadline, is_cancelled)
        except KeyRefused as exc:
            self._auth_failures.record(key, exc.status)
            logger.warning(
                "ideogram %s: API key from %s refused (HTTP %s)", self.id, self.config["api_key_env"], exc.status
            )
            raise
        on_progress(1, total)

        images: list[GeneratedImage] = []
        for index, item in enumerate(items):
            if is_cancelled():
                raise Cancelled()
            data = self._client.download(item["url"], deadline, is_cancelled)
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
        self._auth_failures.clear()
        cost = round(float(self.config["cost_per_image"]) * len(images), 6)
        return GenerationResult(images=images, cost=cost, currency="USD")

    @staticmethod
    def _decode(data: bytes) -> Image.Image:
        """Decode with Pillow and make sure it really is a whole image of a known format."""
        try:
            # Only these parsers ever see the provider's bytes (formats=): Pillow would otherwise
            # try every format it knows while it works out which one this is.
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as probe:
                if probe.format not in ("PNG", "JPEG", "WEBP"):
                    raise PluginError(
                        f"Ideogram sent an image in an unexpected format ({probe.format}).",
                        code="bad_image",
                    )
                # Checked on the header, before a pixel is decoded: a small file can declare a
                # canvas that takes gigabytes (Ideogram's largest size is about 1.6 Mpx).
                if probe.width * probe.height > settings.HALLMARK_MAX_IMAGE_PIXELS:
                    raise PluginError(
                        f"Ideogram sent an image of {probe.width}x{probe.height} pixels, more than "
                        "Hallmark decodes.",
                        code="bad_image",
                    )
                probe.verify()
            image: Image.Image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            image.load()
        except PluginError:
            raise
        except Image.DecompressionBombError:
            raise PluginError("Ideogram sent an image too large to decode safely.", code="bad_image") from None
        except (OSError, SyntaxError, ValueError):
            # UnidentifiedImageError (an OSError) also covers a format outside IMAGE_FORMATS.
            raise PluginError("Ideogram sent a file that is not a valid image.", code="bad_image") from None
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGB")
        return image

    # -- the request ----------------------------------------------------------------------

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
        features=("typography",),
    )
    config_schema = ideogram_config_schema(default_cost_per_image)


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
        features=("typography",),
    )
    config_schema = ideogram_config_schema(default_cost_per_image)
