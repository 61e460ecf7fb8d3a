"""Reference client: signs up over HTTP, encrypts to every recipient device (PyNaCl), reads the WebSocket;
encrypted attachments (``attachments``) and the ``msgfleet-client`` command line (``cli``)."""

from messenger.client.client import ApiFailure, MessengerClient, sms_file_reader
from messenger.client.crypto import DeviceKeys

__all__ = ["ApiFailure", "DeviceKeys", "MessengerClient", "sms_file_reader"]
