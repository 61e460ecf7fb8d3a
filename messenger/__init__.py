"""The messenger node: one ASGI application per state (imports nothing else of msgfleet)."""
