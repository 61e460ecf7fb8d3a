"""Test only: throttle a messenger node to a known capacity. Python imports this module at start-up
when its directory is on PYTHONPATH; the knee-finding test starts one node that way.

Every message send blocks the node's event loop for MSGFLEET_TEST_THROTTLE_MS, so the node
stores at most 1000 / MSGFLEET_TEST_THROTTLE_MS messages per second, whatever else it does.
"""

import os
import time

_MS = float(os.environ.get("MSGFLEET_TEST_THROTTLE_MS", "0"))

if _MS > 0:
    import messenger.api.messages as _messages

    _send = _messages.send  # what the HTTP route and the WebSocket's message.send call

    async def _throttled(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(_MS / 1000)  # deliberately blocking: one message per _MS at most
        return await _send(*args, **kwargs)

    _messages.send = _throttled
