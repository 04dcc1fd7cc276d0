"""The check interface and the registry of check types.

A check is a small class: a ``type`` name, a ``params_schema`` (``hallmark.sdk.ParamSpec`` per
parameter, the same declarations plugins use) and ``run(context) -> CheckOutcome``. Hallmark's
own checks (``acceptance.builtin_checks``) are registered here; a third party's are found through
the entry-point group ``hallmark.checks`` (one entry point per type, ``name = "module:Class"``),
as plugins are through ``hallmark.plugins``. A check class that fails to import or clashes with
a built-in is skipped with a warning: it never takes the service down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any, ClassVar

from hallmark.errors import InvalidInput
from hallmark.sdk import ParamSpec

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hallmark.checks"


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at for one stored image.

    ``asset`` is the ``assets.models.Asset`` row; ``expected_text`` the text the request expects
    in the image ("" when none); ``seconds`` how long its job took to generate and store (None
    when unknown); ``cost_usd`` what its job cost per image (None when the plugin reported none).
    """

    asset: Any
    expected_text: str = ""
    seconds: float | None = None
    cost_usd: Decimal | None = None


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict: ``passed``, a ``score`` (0..1 or a measured value; None when the
    check has no degree) and a ``detail`` a person can read."""

    passed: bool
    score: float | None
    detail: str


class Check:
    """Base class of every check. Subclasses declare ``type``, ``label`` and ``params_schema``
    and implement ``run``; an instance holds its cleaned parameters in ``params``."""

    type: ClassVar[str] = ""
    label: ClassVar[str] = ""
    params_schema: ClassVar[Mapping[str, ParamSpec]] = {}

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    @classmethod
    def clean_params(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``raw`` (the check's object without ``type``) against ``params_schema``;
        return it with defaults filled in, or raise ``InvalidInput`` keyed by parameter name.
        Subclasses may add checks across parameters, calling ``super()`` first."""
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, Any] = {}
        for key in raw:
            if key not in cls.params_schema:
                errors[key] = [f"Unknown parameter for check {cls.type}."]
        for key, spec in cls.params_schema.items():
            if key in raw and raw[key] is not None:
                try:
                    cleaned[key] = spec.clean(raw[key])
                except ValueError as exc:
                    errors[key] = [f"This field {exc}"]
            elif spec.required:
                errors[key] = ["This field is required."]
            elif spec.default is not None:
                cleaned[key] = spec.default
        if errors:
            raise InvalidInput(errors)
        return cleaned

    def run(self, context: CheckContext) -> CheckOutcome:
        """Judge one stored image; must not raise for a bad image (return a failed outcome)."""
        raise NotImplementedError


_lock = threading.Lock()
_registry: dict[str, type[Check]] | None = None


def _discover() -> dict[str, type[Check]]:
    from acceptance import builtin_checks

    found: dict[str, type[Check]] = {cls.type: cls for cls in builtin_checks.BUILTIN_CHECKS}
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry_point.name in found:
            logger.warning(
                "check type %s is taken; the entry point %s is ignored", entry_point.name, entry_point.value
            )
            continue
        try:
            loaded = entry_point.load()
        except Exception as exc:  # a third party's import error must only lose that check
            logger.warning("check %s failed to import: %s: %s", entry_point.name, type(exc).__name__, exc)
            continue
        if not (isinstance(loaded, type) and issubclass(loaded, Check)) or loaded.type != entry_point.name:
            logger.warning(
                "check %s is not an acceptance.checks.Check of that type; ignored", entry_point.name
            )
            continue
        found[entry_point.name] = loaded
    return found


def check_types() -> dict[str, type[Check]]:
    """Every registered check class by type, discovered once per process (the live mapping)."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = _discover()
        return _registry


def build(spec: Mapping[str, Any]) -> Check:
    """The check a stored checklist entry describes (``{"type": ..., **params}``).

    Raises ``LookupError`` when its type is no longer installed, ``InvalidInput`` when the
    installed version of the check no longer accepts the stored parameters.
    """
    cls = check_types().get(str(spec.get("type")))
    if cls is None:
        raise LookupError(f"No check of type {spec.get('type')!r} is installed.")
    return cls(cls.clean_params({k: v for k, v in spec.items() if k != "type"}))


def clean_checks(raw: Any) -> list[dict[str, Any]]:
    """Validate a checklist's ``checks`` list; return each entry cleaned (type first, defaults
    filled in). Raises ``InvalidInput`` naming each entry's field at fault, e.g. ``checks[2].ratio``."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput({"checks": ["Must be a non-empty list of checks."]})
    if len(raw) > 50:
        raise InvalidInput({"checks": ["At most 50 checks per checklist."]})
    types = check_types()
    errors: dict[str, list[str]] = {}
    cleaned: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        where = f"checks[{index}]"
        if not isinstance(entry, dict):
            errors[where] = ["Must be an object with a type."]
            continue
        kind = entry.get("type")
        cls = types.get(kind) if isinstance(kind, str) else None
        if cls is None:
            errors[f"{where}.type"] = [f"Unknown check type; one of: {', '.join(sorted(types))}."]
            continue
        try:
            params = cls.clean_params({k: v for k, v in entry.items() if k != "type"})
        except InvalidInput as exc:
            errors.update({f"{where}.{key}": messages for key, messages in exc.errors.items()})
            continue
        cleaned.append({"type": kind, **params})
    if errors:
        raise InvalidInput(errors)
    return cleaned
