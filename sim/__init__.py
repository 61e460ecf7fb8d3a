"""Rollout and latency simulation: geography, topology, SimPy model, queueing, adoption, tariffs."""
