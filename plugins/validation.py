"""Turn raw request fields into a ``GenerationRequest`` that satisfies a plugin's declarations.

``REQUEST_FIELDS`` names the fields a request has, once: the API, the generate form, the job
row and the worker derive their lists from it.

Every error names the field at fault, so the API can answer 400 with it; nothing here loads a
model or touches the database.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings

from hallmark.sdk import MAX_SEED, GenerationRequest, Plugin, RequestInvalid

#: The default of a field a request must give.
REQUIRED: Any = object()


@dataclass(frozen=True)
class RequestField:
    """One field of a generation request, as clients send it and a job row keeps it.

    ``kind`` is its JSON type; ``default`` is what leaving it out means (``REQUIRED``: it may
    not be left out). ``minimum``, ``maximum`` and ``max_length`` are the widest bounds the API
    documents; a plugin's capabilities narrow them, and ``build_request`` checks those.
    """

    name: str
    kind: Literal["string", "integer", "object"]
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


#: The fields of a generation request, in order: the one list that the API's serializer and
#: accepted fields, the generate form, ``generation.services.submit`` and the worker derive from.
REQUEST_FIELDS: tuple[RequestField, ...] = (
    RequestField("prompt", "string", default=REQUIRED, max_length=4000),
    RequestField("negative_prompt", "string", default="", max_length=4000),
    RequestField("width", "integer", minimum=1),
    RequestField("height", "integer", minimum=1),
    RequestField("seed", "integer", minimum=0, maximum=MAX_SEED),
    RequestField("num_images", "integer", default=1, minimum=1),
    RequestField("params", "object", help="Plugin-specific settings (see the plugin's params_schema)."),
)
#: Their names; ``GenerationRequest`` and ``GenerationJob`` have an attribute of each name.
REQUEST_FIELD_NAMES: tuple[str, ...] = tuple(field.name for field in REQUEST_FIELDS)


def request_values(request: GenerationRequest) -> dict[str, Any]:
    """The request's fields as plain JSON-ready values, by name (what a job row stores)."""
    values: dict[str, Any] = {}
    for field in REQUEST_FIELDS:
        value = getattr(request, field.name)
        values[field.name] = dict(value) if field.kind == "object" else value
    return values


def build_request(plugin: Plugin, *, job_id: str = "", **fields: Any) -> GenerationRequest:
    """Validate the fields against ``plugin``'s capabilities and schemas, then its own ``validate``.

    ``fields`` are those of ``REQUEST_FIELDS``, by name (a ``TypeError`` names any other).
    Raises ``RequestInvalid`` with every field at fault. Missing optional fields take the
    plugin's defaults; a missing seed is drawn at random within the plugin's seed range.
    """
    unknown = sorted(set(fields) - set(REQUEST_FIELD_NAMES))
    if unknown:
        raise TypeError(f"build_request() got fields that are not request fields: {', '.join(unknown)}")
    given = {field.name: fields.get(field.name, field.default) for field in REQUEST_FIELDS}
    prompt, negative_prompt, params = given["prompt"], given["negative_prompt"], given["params"]
    width, height, seed, num_images = given["width"], given["height"], given["seed"], given["num_images"]
    caps = plugin.capabilities
    errors: dict[str, list[str]] = {}

    max_prompt = min(caps.max_prompt_length, settings.HALLMARK_MAX_PROMPT_LENGTH)
    clean_prompt = ""
    if prompt is REQUIRED or prompt is None:
        errors["prompt"] = ["This field is required."]
    elif not isinstance(prompt, str):
        errors["prompt"] = ["Must be a string."]
    elif not prompt.strip():
        errors["prompt"] = ["Must not be empty."]
    elif len(prompt) > max_prompt:
        errors["prompt"] = [f"Must be at most {max_prompt} characters (got {len(prompt)})."]
    elif "\x00" in prompt:
        errors["prompt"] = ["Must not contain NUL characters."]
    else:
        clean_prompt = prompt.strip()

    clean_negative = ""
    if negative_prompt is None:
        negative_prompt = ""
    if not isinstance(negative_prompt, str):
        errors["negative_prompt"] = ["Must be a string."]
    elif len(negative_prompt) > max_prompt:
        errors["negative_prompt"] = [f"Must be at most {max_prompt} characters."]
    elif "\x00" in negative_prompt:
        errors["negative_prompt"] = ["Must not contain NUL characters."]
    elif negative_prompt.strip() and not caps.negative_prompt:
        note = caps.negative_prompt_note or f"{plugin.name} does not support negative prompts."
        errors["negative_prompt"] = [note]
    else:
        clean_negative = negative_prompt.strip()

    clean_params: dict[str, Any] = {}
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        errors["params"] = ["Must be an object."]
    else:
        for key in params:
            if key not in plugin.params_schema:
                known = ", ".join(sorted(plugin.params_schema)) or "none"
                errors[f"params.{key}"] = [f"Unknown parameter for {plugin.id} (accepted: {known})."]
        for key, spec in plugin.params_schema.items():
            if key in params and params[key] is not None:
                try:
                    clean_params[key] = spec.clean(params[key])
                except ValueError as exc:
                    errors[f"params.{key}"] = [f"Value {str(exc)[0].lower()}{str(exc)[1:]}"]
            elif spec.required:
                errors[f"params.{key}"] = ["This parameter is required."]
            elif spec.default is not None:
                clean_params[key] = spec.default

    clean_width, clean_height, aspect = _size(plugin, width, height, clean_params, errors)

    clean_seed = 0
    if seed is None:
        clean_seed = secrets.randbelow(min(caps.seed_max, MAX_SEED) + 1)
    elif isinstance(seed, bool) or not isinstance(seed, int):
        errors["seed"] = ["Must be an integer."]
    elif seed < 0 or seed > min(caps.seed_max, MAX_SEED):
        errors["seed"] = [f"Must be between 0 and {min(caps.seed_max, MAX_SEED)}."]
    else:
        clean_seed = seed

    clean_num = 1
    if num_images is None:
        num_images = 1
    if isinstance(num_images, bool) or not isinstance(num_images, int):
        errors["num_images"] = ["Must be an integer."]
    elif not 1 <= num_images <= caps.max_images:
        errors["num_images"] = [f"Must be between 1 and {caps.max_images} for {plugin.id}."]
    else:
        clean_num = num_images

    if errors:
        raise RequestInvalid(errors)
    request = GenerationRequest(
        prompt=clean_prompt,
        negative_prompt=clean_negative,
        width=clean_width,
        height=clean_height,
        seed=clean_seed,
        num_images=clean_num,
        params=clean_params,
        job_id=job_id,
        aspect_ratio=aspect,
    )
    plugin.validate(request)
    return request


def _size(
    plugin: Plugin, width: Any, height: Any, params: dict[str, Any], errors: dict[str, list[str]]
) -> tuple[int, int, str | None]:
    """Check width and height; for plugins with named aspect ratios, map between the two."""
    caps = plugin.capabilities
    for name, value in (("width", width), ("height", height)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            errors[name] = ["Must be an integer."]
    if "width" in errors or "height" in errors:
        return 0, 0, None

    if caps.aspect_ratios:
        ratio = params.get("aspect_ratio")
        if width is None and height is None:
            if ratio is None:
                ratio = next(iter(caps.aspect_ratios))
            if ratio not in caps.aspect_ratios:
                return 0, 0, None  # params.aspect_ratio already carries the error
            w, h = caps.aspect_ratios[ratio]
            params["aspect_ratio"] = ratio
            return w, h, ratio
        matches = [name for name, size in caps.aspect_ratios.items() if size == (width, height)]
        if not matches:
            sizes = ", ".join(f"{w}x{h}" for w, h in caps.aspect_ratios.values())
            errors["width"] = [f"{plugin.id} makes fixed sizes only; width x height must be one of {sizes}."]
            return 0, 0, None
        if ratio is not None and ratio not in matches:
            errors["params.aspect_ratio"] = [f"Conflicts with width x height {width}x{height}."]
            return 0, 0, None
        params["aspect_ratio"] = matches[0]
        return int(width), int(height), matches[0]

    size_range = caps.sizes
    assert size_range is not None  # check_declarations guarantees sizes or aspect ratios
    default = size_range.default or size_range.minimum
    clean: dict[str, int] = {}
    for name, value in (("width", width), ("height", height)):
        value = default if value is None else value
        problem = size_range.check(value)
        if problem:
            errors[name] = [
                f"Must be {problem[len('must be ') :]}" if problem.startswith("must be ") else problem
            ]
        else:
            clean[name] = value
    if "width" in errors or "height" in errors:
        return 0, 0, None
    return clean["width"], clean["height"], None
