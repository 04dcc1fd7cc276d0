"""The plugin SDK's old name: ``plugins.sdk`` re-exports ``hallmark.sdk``.

Plugins written before the SDK moved keep working; new code imports ``hallmark.sdk``.
"""

from __future__ import annotations

from hallmark.sdk import *  # noqa: F403
from hallmark.sdk import __all__ as __all__
