"""The platform layer: what every platform package plugs into (registry, sync engine)."""
