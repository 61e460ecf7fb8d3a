"""Reference client: signs up over HTTP, encrypts with Olm/Megolm (vodozemac), reads the WebSocket;
encrypted attachments (``attachments``) and the ``msgfleet-client`` command line (``cli``)."""

from messenger.client.client import ApiFailure, MessengerClient, sms_file_reader
from messenger.client.crypto import DecryptError, DeviceCrypto

__all__ = ["ApiFailure", "DecryptError", "DeviceCrypto", "MessengerClient", "sms_file_reader"]
