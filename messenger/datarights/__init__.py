"""Data rights: a user's export (JSON + media), account deletion, retention rules per chat kind."""
