"""Watching Hallmark run: health and readiness probes, Prometheus metrics, scheduled maintenance."""
