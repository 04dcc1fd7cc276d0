"""The generate form's plugin-dependent fields, built from what the chosen plugin declares.

A plugin's ``capabilities`` decide the size control (width and height inputs bounded by its
``SizeRange``, or one select of its named aspect ratios), whether a negative prompt is offered,
the seed's range and how many images may be asked for; its ``params_schema`` gives each
declared parameter a real input (a number with its bounds, a select for a choice, a checkbox for
a boolean). ``read_params`` turns those inputs back into a ``params`` object; validation stays
where it is (``plugins.validation.build_request``), so the form never accepts what the API
refuses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from hallmark.sdk import MAX_SEED, Plugin, SizeRange
from plugins import registry
from plugins.form_values import shown_text, typed_text

#: Prefix of a declared parameter's input name: ``param.steps``.
PARAM_PREFIX = "param."
#: The ``params`` key that plugins with named aspect ratios read their ratio from (see
#: ``plugins.validation._size``): the size select sets it, so it gets no input of its own.
ASPECT_RATIO_PARAM = "aspect_ratio"


@dataclass(frozen=True)
class Choice:
    """One option of a select: the submitted ``value`` and what the user reads."""

    value: str
    label: str


@dataclass(frozen=True)
class ParamInput:
    """The input of one declared parameter."""

    key: str
    label: str
    kind: Literal["number", "select", "checkbox", "text"]
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: str = ""
    choices: tuple[Choice, ...] = ()
    default: str = ""
    value: str = ""
    checked: bool = False
    errors: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The input's name in the form."""
        return PARAM_PREFIX + self.key

    @property
    def html_id(self) -> str:
        """The input's id (``f-param-steps``), which its label and error refer to."""
        return "f-param-" + self.key

    @property
    def described_by(self) -> str:
        """Ids of the error (first) and the help text, for ``aria-describedby``."""
        ids = (["e-param-" + self.key] if self.errors else []) + (
            ["h-param-" + self.key] if self.help else []
        )
        return " ".join(ids)


@dataclass(frozen=True)
class PluginFields:
    """Everything the generate form shows for one plugin."""

    plugin_id: str
    name: str
    description: str
    negative_prompt: bool
    sizes: SizeRange | None
    size_choices: tuple[Choice, ...]
    selected_size: str
    seed_max: int
    max_images: int
    params: tuple[ParamInput, ...] = field(default=())

    @property
    def size_default(self) -> int | None:
        """The width and height used when left blank (free sizes only)."""
        if self.sizes is None:
            return None
        return self.sizes.default or self.sizes.minimum


def _label(key: str) -> str:
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _ratio_label(name: str, size: tuple[int, int]) -> str:
    # ASPECT_16_9 reads as "16:9"; a ratio named otherwise is shown as it is declared.
    words = name.removeprefix("ASPECT_").replace("_", ":") if name.startswith("ASPECT_") else name
    return f"{words} ({size[0]} \N{MULTIPLICATION SIGN} {size[1]})"


def _param_input(
    key: str, spec: Any, values: Mapping[str, str], errors: Mapping[str, list[str]]
) -> ParamInput:
    given = values.get(PARAM_PREFIX + key)
    common: dict[str, Any] = {
        "key": key,
        "label": _label(key),
        "help": spec.help,
        "default": shown_text(spec.default),
        "errors": tuple(errors.get(PARAM_PREFIX + key, ())),
    }
    if spec.type == "bool":
        # The form sends a hidden "false" before the checkbox's "true": the last value counts.
        checked = bool(spec.default) if given is None else given in ("true", "on", "1")
        return ParamInput(kind="checkbox", checked=checked, **common)
    if spec.type == "choice":
        options = tuple(Choice(shown_text(c), shown_text(c)) for c in spec.choices)
        return ParamInput(kind="select", choices=options, value=given if given is not None else "", **common)
    if spec.type in ("int", "float"):
        return ParamInput(
            kind="number",
            minimum=spec.minimum,
            maximum=spec.maximum,
            step="1" if spec.type == "int" else "any",
            value=given or "",
            **common,
        )
    return ParamInput(kind="text", value=given or "", **common)


def plugin_fields(
    plugin_class: type[Plugin], values: Mapping[str, str], errors: Mapping[str, list[str]] | None = None
) -> PluginFields:
    """The fields of ``plugin_class``, filled from ``values`` (the form's or the URL's text);
    ``errors`` by input name (``param.steps``) go beside the parameters' inputs."""
    caps = plugin_class.capabilities
    size_choices = tuple(
        Choice(f"{w}x{h}", _ratio_label(name, (w, h))) for name, (w, h) in caps.aspect_ratios.items()
    )
    selected = ""
    if size_choices:
        wanted = values.get("size") or f"{values.get('width', '')}x{values.get('height', '')}"
        selected = wanted if any(c.value == wanted for c in size_choices) else size_choices[0].value
    params = tuple(
        _param_input(key, spec, values, errors or {})
        for key, spec in plugin_class.params_schema.items()
        if not (caps.aspect_ratios and key == ASPECT_RATIO_PARAM)
    )
    return PluginFields(
        plugin_id=plugin_class.id,
        name=plugin_class.name,
        description=plugin_class.description,
        negative_prompt=caps.negative_prompt,
        sizes=None if caps.aspect_ratios else caps.sizes,
        size_choices=size_choices,
        selected_size=selected,
        seed_max=caps.seed_max,
        max_images=caps.max_images,
        params=params,
    )


#: The hidden ``fields_for`` of the fields drawn for a tier (no plugin known until it is routed).
TIER_FIELDS_FOR = "tier:"


def tier_fields() -> PluginFields:
    """The fields of a request routed by tier: every request field, bounded only as the API
    bounds it; the plugin routing chooses checks sizes, seed and parameters when it is submitted."""
    return PluginFields(
        plugin_id=TIER_FIELDS_FOR,
        name="",
        description="The tier's plugin is chosen when you generate; sizes and parameters are checked against it.",
        negative_prompt=True,
        sizes=None,
        size_choices=(),
        selected_size="",
        seed_max=MAX_SEED,
        max_images=0,
    )


def size_fields(values: Mapping[str, str]) -> dict[str, str]:
    """Width and height as text, from the size select (``"1024x576"``) when it was shown."""
    size = values.get("size", "")
    if not size:
        return {"width": values.get("width", ""), "height": values.get("height", "")}
    width, _, height = size.partition("x")
    return {"width": width, "height": height}


def read_params(
    plugin_class: type[Plugin] | None, values: Mapping[str, str], advanced: str
) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The ``params`` object from the declared inputs and the advanced JSON box, and errors.

    A blank input means the parameter's default and is left out; a checkbox counts only where it
    differs from its default. The JSON box may add any key; a key given in both places with
    different values is refused, naming the input, rather than one silently winning.
    Returns ``(None, {})`` when neither gave anything. Without a plugin (a request routed by
    tier) only the JSON box counts.
    """
    errors: dict[str, list[str]] = {}
    params: dict[str, Any] = {}
    from_inputs: dict[str, Any] = {}
    if advanced.strip():
        try:
            loaded = json.loads(advanced)
        except json.JSONDecodeError as exc:
            return None, {"params": [f"Not valid JSON: {exc.msg}."]}
        except (ValueError, RecursionError):
            # An integer of thousands of digits, or nesting deeper than Python recurses.
            return None, {
                "params": ["Not JSON that Hallmark accepts (a number too long or nesting too deep)."]
            }
        if not isinstance(loaded, dict):
            return None, {"params": ["Must be a JSON object."]}
        params.update(loaded)
    schema = plugin_class.params_schema if plugin_class is not None else {}
    declared = plugin_fields(plugin_class, values).params if plugin_class is not None else ()
    for item in declared:
        spec = schema[item.key]
        if item.kind == "checkbox":
            if item.checked != bool(spec.default):
                from_inputs[item.key] = item.checked
        else:
            text = values.get(item.name, "").strip()
            if text:
                from_inputs[item.key] = typed_text(spec, text)
    for key, value in from_inputs.items():
        if key in params and params[key] != value:
            errors[PARAM_PREFIX + key] = [
                f"Also given as {json.dumps(params[key])} under Plugin parameters (JSON); remove one of them."
            ]
        params[key] = value
    if errors:
        return None, errors
    return (params or None), {}


def rerun_query(job: Any) -> str:
    """The generate form's query string that asks again for what ``job`` asked for.

    Declared parameters fill their own inputs (``param.steps=4``); any other goes in the JSON
    box. The seed is the one the job ran with, so a deterministic plugin repeats the image. A
    routed job is asked again of the plugin routing chose (its parameters fit that plugin's
    inputs); a job with a checklist asks for the same checklist, text and attempts.
    """
    query: dict[str, str] = {"plugin": job.plugin_id, "prompt": job.prompt, "seed": str(job.seed)}
    if job.negative_prompt:
        query["negative_prompt"] = job.negative_prompt
    query.update(width=str(job.width), height=str(job.height), num_images=str(job.num_images))
    if job.checklist_version_id is not None:
        query["checklist"] = str(job.checklist_version.checklist_id)
        query["max_attempts_to_pass"] = str(job.max_attempts_to_pass)
        if job.expected_text:
            query["expected_text"] = job.expected_text
    try:
        declared = registry.get_entry(job.plugin_id).get_class().params_schema
    except LookupError:  # an uninstalled or broken plugin: every parameter goes in the JSON box
        declared = {}
    rest: dict[str, Any] = {}
    for key, value in dict(job.params or {}).items():
        if key in declared and key != ASPECT_RATIO_PARAM:
            query[PARAM_PREFIX + key] = shown_text(value)
        elif key != ASPECT_RATIO_PARAM:
            rest[key] = value
    if rest:
        query["params"] = json.dumps(rest)
    return urlencode(query)
