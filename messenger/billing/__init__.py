"""Tariffs and billing: plans from the plan schema's tariffs section, pooled subscriptions, usage, bills."""
