"""Sign-in beyond phone + SMS code: OpenID Connect identity providers (``oidc``, ``service``) and device
sign-in by a short code shown as a QR code (``devicelink``). docs/IDENTITY.md describes the flows."""
