"""Matplotlib figures from simulation and load-test results."""
