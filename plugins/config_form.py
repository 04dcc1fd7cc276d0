"""The plugins page's configuration form, generated from a plugin's ``config_schema``.

The form only reads and types what the admin typed; the checks are the plugin's own
``clean_config`` (run by ``plugins.services.update_plugin``), the one implementation the API
uses too, so the page accepts nothing the API refuses. Secrets are named, never stored: an
``env`` setting holds a variable's name, and the page says whether that variable is set, never
its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hallmark.sdk import Capabilities, Plugin
from hallmark.sdk.secret_env import secret_env_refusal
from plugins.form_values import shown_text, typed_text

#: Prefix of a setting's input name: ``config.base_url``.
CONFIG_PREFIX = "config."


@dataclass(frozen=True)
class ConfigInput:
    """The input of one configuration key, with its current value and errors."""

    key: str
    label: str
    kind: Literal["number", "select", "checkbox", "text", "secret"]
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: str = ""
    choices: tuple[str, ...] = ()
    default: str = ""
    value: str = ""
    checked: bool = False
    required: bool = False
    errors: tuple[str, ...] = ()
    #: For a secret's variable name: "set", "not set", or "" when no name is given.
    secret_state: str = ""

    @property
    def name(self) -> str:
        """The input's name in the form."""
        return CONFIG_PREFIX + self.key

    @property
    def html_id(self) -> str:
        """The input's id, which its label, help and error refer to."""
        return "f-config-" + self.key

    @property
    def described_by(self) -> str:
        """Ids of the error (first), the secret's state and the help, for ``aria-describedby``."""
        ids = ["e-config-" + self.key] if self.errors else []
        if self.secret_state:
            ids.append("s-config-" + self.key)
        if self.help:
            ids.append("h-config-" + self.key)
        return " ".join(ids)


def secret_state(variable: str) -> str:
    """Whether the environment variable a secret setting names holds a value: "set" or "not set".

    Only a variable plugins may read is looked at (a name the operator does not allow reads as
    "not set", and the field's validation says why); its value is never returned.
    """
    if not variable or secret_env_refusal(variable):
        return "not set"
    return "set" if os.environ.get(variable, "").strip() else "not set"


def config_inputs(
    plugin_class: type[Plugin],
    stored: Mapping[str, Any],
    typed: Mapping[str, str] | None = None,
    errors: Mapping[str, list[str]] | None = None,
) -> tuple[ConfigInput, ...]:
    """One input per setting: what the admin ``typed`` (after a refused save), else the stored
    value; ``errors`` by setting name (as ``ConfigInvalid`` names them) go beside each."""
    inputs = []
    for key, spec in plugin_class.config_schema.items():
        text = typed.get(CONFIG_PREFIX + key) if typed is not None else None
        current = stored.get(key)
        value = text if text is not None else shown_text(current)
        common: dict[str, Any] = {
            "key": key,
            "label": key.replace("_", " ").capitalize(),
            "help": spec.help,
            "default": shown_text(spec.default),
            "required": spec.required,
            "errors": tuple((errors or {}).get(key, ())),
        }
        if spec.type == "bool":
            checked = (
                (text in ("true", "on"))
                if text is not None
                else bool(spec.default if current is None else current)
            )
            inputs.append(ConfigInput(kind="checkbox", checked=checked, **common))
        elif spec.type == "choice":
            choices = tuple(shown_text(c) for c in spec.choices)
            inputs.append(ConfigInput(kind="select", choices=choices, value=value, **common))
        elif spec.type in ("int", "float"):
            step = "1" if spec.type == "int" else "any"
            inputs.append(
                ConfigInput(
                    kind="number",
                    minimum=spec.minimum,
                    maximum=spec.maximum,
                    step=step,
                    value=value,
                    **common,
                )
            )
        elif spec.type == "env":
            # The state of the saved name: what a worker would read now.
            saved = shown_text(current if current is not None else spec.default)
            inputs.append(ConfigInput(kind="secret", value=value, secret_state=secret_state(saved), **common))
        else:
            inputs.append(ConfigInput(kind="text", value=value, **common))
    return tuple(inputs)


def read_config(plugin_class: type[Plugin], form: Mapping[str, str]) -> dict[str, Any]:
    """The configuration the form asks for, typed; a blank input means the default (``None``).

    Only the schema's keys are read. The form sends a hidden "false" before each checkbox's
    "true", so the last value says whether it is ticked.
    """
    config: dict[str, Any] = {}
    for key, spec in plugin_class.config_schema.items():
        text = form.get(CONFIG_PREFIX + key)
        if spec.type == "bool":
            config[key] = text in ("true", "on")
            continue
        text = (text or "").strip()
        config[key] = typed_text(spec, text) if text else None
    return config


def typed_values(plugin_class: type[Plugin], form: Mapping[str, str]) -> dict[str, str]:
    """What the admin typed, by input name, to show again beside the errors of a refused save."""
    return {CONFIG_PREFIX + key: form.get(CONFIG_PREFIX + key, "") for key in plugin_class.config_schema}


def capability_words(caps: Capabilities) -> list[str]:
    """A plugin's declared capabilities as sentences for people."""
    words: list[str] = []
    if caps.aspect_ratios:
        sizes = ", ".join(f"{w}\N{MULTIPLICATION SIGN}{h}" for w, h in caps.aspect_ratios.values())
        words.append(f"{len(caps.aspect_ratios)} fixed aspect ratios: {sizes}.")
    elif caps.sizes is not None:
        default = caps.sizes.default or caps.sizes.minimum
        words.append(
            f"Any size from {caps.sizes.minimum} to {caps.sizes.maximum} pixels a side, in multiples of "
            f"{caps.sizes.multiple_of} (default {default})."
        )
    words.append(f"Up to {caps.max_images} image{'s' if caps.max_images != 1 else ''} per request.")
    if caps.max_batch > 1:
        words.append(f"Runs up to {caps.max_batch} compatible queued jobs as one model call.")
    if caps.negative_prompt:
        words.append("Takes a negative prompt.")
    else:
        words.append(
            f"No negative prompt.{' ' + caps.negative_prompt_note if caps.negative_prompt_note else ''}"
        )
    words.append(
        "The same seed gives the same image."
        if caps.seed_deterministic
        else "The same seed may give a different image (results are not reproducible)."
    )
    words.append("Draft quality (for trying ideas)." if caps.fidelity == "draft" else "Final quality.")
    if caps.cost.basis == "free" or (not caps.cost.per_image and caps.cost.basis != "compute"):
        words.append("Free to run.")
    elif caps.cost.basis == "compute":
        words.append("Costs the compute it runs on (local GPU time).")
    else:
        words.append(
            f"{caps.cost.per_image:g} {caps.cost.currency} per image (the configuration may change it)."
        )
    return words
