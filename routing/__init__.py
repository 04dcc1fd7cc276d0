"""Routing: which plugin serves a request that names a tier or a policy instead of a plugin,
with fallbacks, a circuit breaker per plugin, cost ceilings and monthly budgets."""
