"""Channels / newsletters: owners post, subscribers (up to 100,000s) receive by batched fan-out."""
