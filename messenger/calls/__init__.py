"""Calls: signalling over the WebSocket and the event log, TURN credentials, call detail records, metering."""
