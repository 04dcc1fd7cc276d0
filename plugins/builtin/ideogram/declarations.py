"""What the Ideogram plugins declare: the provider's enums and sizes, its licence, the schemas."""

from __future__ import annotations

from hallmark.sdk import License, ParamSpec

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

PARAMS_SCHEMA: dict[str, ParamSpec] = {
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


def ideogram_config_schema(cost: float) -> dict[str, ParamSpec]:
    """The settings an admin sets; ``cost`` is the model's default price of one image."""
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
