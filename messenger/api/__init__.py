"""HTTP and WebSocket routes: one module per resource, each exposing ``router`` (see ``messenger.app``)."""
