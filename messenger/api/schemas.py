"""Base classes for request/response bodies: requests reject unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    """A request body: unknown fields are an error (422 validation_error)."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body."""
