"""Federation between state nodes: signed server-to-server requests, a transactional outbox, an
idempotent inbox, remote key lookup through the user's home node and the per-state residency policy.

See docs/FEDERATION.md (protocol) and docs/RESIDENCY.md (what crosses a state border).
"""
