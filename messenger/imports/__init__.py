"""Importing chat history from other messengers (on the device: imported content is end-to-end encrypted)."""
