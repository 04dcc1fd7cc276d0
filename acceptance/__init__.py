"""Acceptance checklists: named, versioned sets of checks (resolution, aspect ratio, typography
read back by OCR, time, cost, provider safety, provenance) run on each stored image."""
