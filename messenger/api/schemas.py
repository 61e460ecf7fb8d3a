"""Base classes for request/response bodies: requests reject unknown fields."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError


class Body(BaseModel):
    """A request body: unknown fields are an error (422 validation_error)."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body."""


B = TypeVar("B", bound=Body)


def parse_body(model: type[B], raw: bytes) -> B:
    """``model`` from a route's raw JSON body, failing as FastAPI would (422, or 400 for malformed JSON).

    For the hottest routes only: pydantic parses and validates the bytes in one step, where FastAPI's
    body parameter costs a ``json.loads``, a Python-mode validation and its dependency solving (12% of
    the send route's CPU, py-spy). Such a route documents its body with :func:`body_schema`."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def body_schema(model: type[Body]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that parses ``model`` itself (``openapi_extra``). The
    models it nests are referenced as components, so another route must take them as parameters."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"required": True, "content": {"application/json": {"schema": schema}}}
