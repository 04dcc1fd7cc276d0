"""Scorecards: benchmark runs of prompts x plugins x seeds against a checklist, and the
per-model scorecard (pass rate, typography accuracy, latency, cost per accepted image)."""
