"""Base classes for request/response bodies and the bounded integer of every id, seq and cursor.

Requests reject unknown fields and take JSON types as documented (strict: ``true`` is not the number 1,
``"3"`` is not 3). Every integer a route passes to the database (path, query or body) is a :data:`DbInt`,
so a value the column cannot hold is a 422, not a driver overflow (500) that may also drop the connection.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Seqs, cursors, ids and limits are ``Integer`` columns or parameters: PostgreSQL ``integer`` is 4 bytes
# (https://www.postgresql.org/docs/current/datatype-numeric.html), the narrowest of the two backends (SQLite
# stores 8). No real value comes near it.
DB_INT_MAX = 2**31 - 1
DbInt = Annotated[int, Field(ge=-DB_INT_MAX - 1, le=DB_INT_MAX)]


class Body(BaseModel):
    """A request body: unknown fields are an error, and so are values of another JSON type than the field's
    (strict; a ``datetime`` field, which JSON has no type for, says ``Field(strict=False)``) — 422."""

    model_config = ConfigDict(extra="forbid", strict=True)


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
