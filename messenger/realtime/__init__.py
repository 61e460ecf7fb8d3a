"""Real-time delivery: the per-device event log (``events``) and the process-wide wake-up hub (``hub``).

Other modules publish with ``messenger.realtime.events.emit_to_users`` / ``emit_to_devices`` inside their
transaction; the devices' sockets and long-polls are woken right after the commit.
"""
