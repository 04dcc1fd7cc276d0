"""Settings of the orchestration apps (routing, acceptance, scorecards) and of batching and
the latent cache, read from the environment like ``hallmark.settings``, which imports them.

Kept apart so that ``hallmark/settings.py`` stays readable; each section belongs to one app.
Every name here starts with ``HALLMARK_`` (``hallmark.settings`` takes them all).
"""

from __future__ import annotations

# --- Routing (routing/) -----------------------------------------------------------------------

# --- Acceptance checks (acceptance/) ----------------------------------------------------------

# --- Scorecards (scorecards/) -----------------------------------------------------------------

# --- Batching and the latent cache (generation/, plugins/builtin/sd35/) ---------------------------
