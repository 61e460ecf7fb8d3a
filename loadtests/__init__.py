"""Locust load tests against real messenger nodes, the local fleet launcher, and calibration."""
