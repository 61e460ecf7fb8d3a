"""``/scim/v2``: SCIM 2.0 service provider (RFC 7644) for organisations' directories (messenger.scim).

Payloads are parsed, validated, patched, filtered and serialised by scim2-models; this module maps them
to the node's rows and answers in ``application/scim+json``. Every error of these routes, a dependency's
included, is a SCIM Error body (``ScimRoute``), never the node's ``{"error": ...}`` shape.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    Group,
    InvalidFilterException,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    NotFoundException,
    PatchOp,
    PreconditionFailedException,
    ResourceType,
    ResponseParameters,
    Schema,
    SCIMException,
    SearchRequest,
    UnauthorizedException,
    UniquenessException,
    User,
)
from scim2_models.path import CompareOperator, Comparison
from sqlalchemy import Select, func, select, true
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from messenger import audit
from messenger.api.deps import NodeDep, SessionDep
from messenger.db.base import now
from messenger.scim import resources as res
from messenger.scim import service
from messenger.scim.models import Organisation, ScimGroup, ScimUser
from messenger.services.ids import new_id

PREFIX = "/scim/v2"
MEDIA_TYPE = "application/scim+json"
MAX_FILTER = 1000  # characters of a filter; RFC 7644 sets no bound, a directory sync needs ~100
MAX_FILTER_DEPTH = 16  # nested parentheses / brackets: bounds the parser's recursion
MAX_SCAN = 20_000  # rows a filter the database cannot answer may be evaluated over (else tooMany)
QUERY_KEYS = ("filter", "startIndex", "count", "attributes", "excludedAttributes", "sortBy", "sortOrder")


def scim_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def error_body(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    return Error(status=status, detail=detail, scim_type=scim_type).model_dump()


def _error(error: Error) -> Response:
    status = int(error.status or 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return scim_response(error.model_dump(), status, headers)


class ScimRoute(APIRoute):
    """Answers SCIM, FastAPI, pydantic and node errors of its route (and its dependencies) as SCIM Errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except SCIMException as exc:
                return _error(exc.to_error())
            except (ValidationError, RequestValidationError) as exc:
                return _error(Error.from_validation_error(exc.errors()[0]))
            except StarletteHTTPException as exc:  # the body limit's 413 while streaming
                return _error(Error(status=exc.status_code, detail=str(exc.detail)))

        return run


# Not in /openapi.json: the SCIM contract is RFC 7644 and the discovery endpoints below.
router = APIRouter(prefix=PREFIX, tags=["scim"], route_class=ScimRoute, include_in_schema=False)


async def organisation(
    session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> Organisation:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedException(detail="send 'Authorization: Bearer <organisation token>'")
    org = await service.org_for_token(session, token.strip())
    if org is None:
        raise UnauthorizedException(detail="the organisation token is invalid or was rotated")
    return org


OrgDep = Annotated[Organisation, Depends(organisation)]


def _region(node: NodeDep) -> str:
    """The node's country (``RU`` of ``RU-MOW``): national phone numbers are read in it."""
    return node.settings.state.partition("-")[0]


def _base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{PREFIX}"


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise InvalidSyntaxException(detail="the request body is not valid JSON") from None


def _params(request: Request) -> ResponseParameters:
    query = request.query_params
    wanted = {k: query[k] for k in ("attributes", "excludedAttributes") if k in query}
    return ResponseParameters.model_validate(wanted)


def _search(
    given: dict[str, Any], model: Any, ctx: Context = Context.RESOURCE_QUERY_REQUEST
) -> SearchRequest[Any]:
    """A query's parameters (the URL's, or a ``.search`` body), bounded before the filter is parsed."""
    query = {k: given[k] for k in QUERY_KEYS if k in given}
    text = query.get("filter") or ""
    if not isinstance(text, str):
        raise InvalidFilterException(detail="filter must be a string")
    if len(text) > MAX_FILTER or max(text.count("("), text.count("[")) > MAX_FILTER_DEPTH:
        raise InvalidFilterException(
            detail=f"filters are limited to {MAX_FILTER} characters and {MAX_FILTER_DEPTH} nested groups"
        )
    for key in ("startIndex", "count"):
        if key in query:
            try:
                number = int(query[key])
            except (TypeError, ValueError):
                raise InvalidValueException(detail=f"{key} is not an integer") from None
            # RFC 7644 §3.4.2.4: startIndex < 1 is read as 1, a negative count as 0.
            query[key] = max(number, 1 if key == "startIndex" else 0)
    query.pop("sortBy", None)  # sorting is not supported (ServiceProviderConfig): the order stays by id
    query.pop("sortOrder", None)
    return SearchRequest[model].model_validate(query, scim_ctx=ctx)


async def _search_body(request: Request, model: Any) -> SearchRequest[Any]:
    body = await _json(request)
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail="a search request is a JSON object")
    return _search(body, model, Context.SEARCH_REQUEST)


def _if_match(request: Request, version: int) -> None:
    wanted = request.headers.get("if-match")
    if wanted and wanted.strip() != "*" and res.etag(version) not in [t.strip() for t in wanted.split(",")]:
        raise PreconditionFailedException(detail=f"the resource is at version {res.etag(version)}")


def _not_modified(request: Request, version: int) -> bool:
    seen = request.headers.get("if-none-match")
    return bool(seen) and res.etag(version) in [t.strip() for t in (seen or "").split(",")]


def _dump(resource: User | Group, ctx: Context, params: ResponseParameters, status: int = 200) -> Response:
    version = resource.meta.version if resource.meta else None
    headers = {"ETag": str(version), "Location": str(resource.meta.location)} if resource.meta else None
    return scim_response(resource.model_dump(scim_ctx=ctx, response_parameters=params), status, headers)


async def _record(session: SessionDep, org: Organisation, action: str, target: str, **detail: Any) -> None:
    # No names or numbers in the append-only log: ids and flags only.
    await audit.record(
        session, action=f"scim.{action}", actor=service.actor_of(org), target=target, detail=detail
    )


# --- discovery (RFC 7644 §4) ---


@router.get("/ServiceProviderConfig")
async def service_provider_config(_org: OrgDep) -> Response:
    assert res.PROVIDER.config is not None
    return scim_response(res.PROVIDER.config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


def _listing(items: list[Schema] | list[ResourceType], model: type[Schema] | type[ResourceType]) -> Response:
    body = ListResponse[model](  # type: ignore[valid-type]
        total_results=len(items), start_index=1, items_per_page=len(items), resources=items
    )
    return scim_response(body.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@router.get("/ResourceTypes")
async def resource_types(_org: OrgDep) -> Response:
    return _listing(list(res.PROVIDER.resource_types), ResourceType)


@router.get("/ResourceTypes/{name}")
async def resource_type(name: str, _org: OrgDep) -> Response:
    for item in res.PROVIDER.resource_types:
        if item.id == name or item.name == name:
            return scim_response(item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise NotFoundException(detail=f"resource type {name[:60]!r} not found")


@router.get("/Schemas")
async def schemas(_org: OrgDep) -> Response:
    return _listing(res.SCHEMAS, Schema)


@router.get("/Schemas/{schema_id:path}")
async def schema(schema_id: str, _org: OrgDep) -> Response:
    for item in res.SCHEMAS:
        if item.id == schema_id:
            return scim_response(item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise NotFoundException(detail=f"schema {schema_id[:80]!r} not found")


# --- listing with filters (RFC 7644 §3.4.2) ---

_COLUMNS: dict[type[Any], dict[str, Any]] = {
    ScimUser: {
        "username": ScimUser.user_name_key,
        "externalid": ScimUser.external_id,
        "displayname": ScimUser.display_name,
        "id": ScimUser.id,
    },
    ScimGroup: {
        "displayname": ScimGroup.display_name,
        "externalid": ScimGroup.external_id,
        "id": ScimGroup.id,
    },
}


def _indexed(table: type[Any], search: SearchRequest[Any]) -> Any | None:
    """A WHERE clause for ``<attr> eq "<value>"`` on a stored column, else None (evaluated in Python).

    ``userName`` compares casefolded (it is not caseExact, RFC 7643 §4.1.1); so do the others here,
    which is stricter than the spec for ``externalId`` (caseExact) only in what it finds, never less."""
    node = search.filter.ast if search.filter is not None else None
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq or not isinstance(node.value, str):
        return None
    if node.attr_path.sub_attr or (node.attr_path.uri and "core:2.0" not in node.attr_path.uri):
        return None
    column = _COLUMNS[table].get(node.attr_path.attr.casefold())
    if column is None:
        return None
    if column is ScimUser.user_name_key:
        return column == node.value.casefold()
    return func.lower(column) == node.value.lower()


async def _page(
    session: SessionDep,
    table: type[ScimUser] | type[ScimGroup],
    org: Organisation,
    search: SearchRequest[Any],
    to_resource: Callable[[list[Any]], Awaitable[list[Any]]],
) -> tuple[int, list[Any]]:
    """(totalResults, the page's resources) of the org's rows that match the search."""
    start = (search.start_index or 1) - 1
    count = min(res.MAX_RESULTS if search.count is None else search.count, res.MAX_RESULTS)
    query: Select[Any] = select(table).where(table.org_id == org.id)
    where = _indexed(table, search) if search.filter is not None else true()
    if where is not None:
        query = query.where(where)
        total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = list(await session.scalars(query.order_by(table.id).offset(start).limit(count)))
        return total, await to_resource(rows)
    rows = list(await session.scalars(query.order_by(table.id).limit(MAX_SCAN + 1)))
    if len(rows) > MAX_SCAN:
        raise _too_many()
    assert search.filter is not None
    matched = [r for r in await to_resource(rows) if search.filter.match(r)]
    return len(matched), matched[start : start + count]


def _too_many() -> SCIMException:
    return SCIMException.from_error(
        Error(status=400, scim_type="tooMany", detail=f"this filter would scan over {MAX_SCAN} resources")
    )


def _list_body(
    total: int,
    items: list[Any],
    model: Any,
    search: SearchRequest[Any],
    ctx: Context = Context.RESOURCE_QUERY_RESPONSE,
) -> Response:
    body = ListResponse[model](
        total_results=total, start_index=search.start_index or 1, items_per_page=len(items), resources=items
    )
    params = ResponseParameters(attributes=search.attributes, excluded_attributes=search.excluded_attributes)  # type: ignore[var-annotated]
    return scim_response(body.model_dump(scim_ctx=ctx, response_parameters=params))


# --- Users ---


async def _user(session: SessionDep, org: Organisation, user_id: str) -> ScimUser:
    row = await service.user_of(session, org, user_id)
    if row is None:
        raise NotFoundException(detail=f"user {user_id[:60]!r} not found")
    return row


async def _store_user(session: SessionDep, org: Organisation, row: ScimUser, fields: dict[str, Any]) -> None:
    clash = await session.scalar(
        select(ScimUser.id).where(
            ScimUser.org_id == org.id,
            ScimUser.user_name_key == fields["user_name_key"],
            ScimUser.id != row.id,
        )
    )
    if clash is not None:
        raise UniquenessException(
            detail=f"userName {fields['user_name'][:60]!r} is taken in this organisation"
        )
    for key, value in fields.items():
        setattr(row, key, value)


async def _commit(session: SessionDep) -> None:
    try:
        await session.commit()
    except IntegrityError:  # a concurrent create took the userName first
        await session.rollback()
        raise UniquenessException(detail="userName is taken in this organisation") from None


@router.post("/Users", status_code=201)
async def create_user(request: Request, org: OrgDep, session: SessionDep, node: NodeDep) -> Response:
    resource: User = User.model_validate(await _json(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    ts = now()
    row = ScimUser(id=new_id("s"), org_id=org.id, created_at=ts, updated_at=ts, version=1)
    await _store_user(session, org, row, res.user_fields(resource, _region(node)))
    session.add(row)
    await _record(session, org, "user_created", row.id, active=row.active, phone=row.phone is not None)
    await _commit(session)
    return _dump(
        res.user_resource(row, _base(request)), Context.RESOURCE_CREATION_RESPONSE, _params(request), 201
    )


async def _users(
    request: Request, org: Organisation, session: SessionDep, search: SearchRequest[Any]
) -> Response:
    base = _base(request)

    async def resources(rows: list[ScimUser]) -> list[User]:
        return [res.user_resource(r, base) for r in rows]

    total, items = await _page(session, ScimUser, org, search, resources)
    return _list_body(total, items, User, search)


@router.get("/Users")
async def list_users(request: Request, org: OrgDep, session: SessionDep) -> Response:
    return await _users(request, org, session, _search(dict(request.query_params), User))


@router.post("/Users/.search")
async def search_users(request: Request, org: OrgDep, session: SessionDep) -> Response:
    return await _users(request, org, session, await _search_body(request, User))


@router.get("/Users/{user_id}")
async def get_user(user_id: str, request: Request, org: OrgDep, session: SessionDep) -> Response:
    row = await _user(session, org, user_id)
    if _not_modified(request, row.version):
        return Response(status_code=304)
    return _dump(res.user_resource(row, _base(request)), Context.RESOURCE_QUERY_RESPONSE, _params(request))


async def _user_written(
    session: SessionDep, node: NodeDep, org: Organisation, row: ScimUser, action: str
) -> None:
    service.touch(row)
    await _record(session, org, action, row.id, active=row.active, phone=row.phone is not None)
    await _commit(session)
    await service.sync_groups(
        session, state=node.settings.state, group_ids=await service.groups_with(session, [row.id])
    )


@router.put("/Users/{user_id}")
async def replace_user(
    user_id: str, request: Request, org: OrgDep, session: SessionDep, node: NodeDep
) -> Response:
    row = await _user(session, org, user_id)
    _if_match(request, row.version)
    body = await _json(request)
    replacement: User = User.model_validate(body, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    replacement.replace(res.user_resource(row, _base(request)))  # refuses changes of immutable attributes
    await _store_user(session, org, row, res.user_fields(replacement, _region(node)))
    await _user_written(session, node, org, row, "user_replaced")
    return _dump(
        res.user_resource(row, _base(request)), Context.RESOURCE_REPLACEMENT_RESPONSE, _params(request)
    )


@router.patch("/Users/{user_id}")
async def patch_user(
    user_id: str, request: Request, org: OrgDep, session: SessionDep, node: NodeDep
) -> Response:
    row = await _user(session, org, user_id)
    _if_match(request, row.version)
    patch = PatchOp[User].model_validate(await _json(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    resource = res.user_resource(row, _base(request))
    if patch.patch(resource):
        await _store_user(session, org, row, res.user_fields(resource, _region(node)))
        await _user_written(session, node, org, row, "user_patched")
    return _dump(res.user_resource(row, _base(request)), Context.RESOURCE_PATCH_RESPONSE, _params(request))


@router.delete("/Users/{user_id}", status_code=204)
async def delete_user(
    user_id: str, request: Request, org: OrgDep, session: SessionDep, node: NodeDep
) -> Response:
    row = await _user(session, org, user_id)
    _if_match(request, row.version)
    groups = await service.groups_with(session, [row.id])
    await session.delete(row)
    await _record(session, org, "user_deleted", user_id)
    await session.commit()
    await service.sync_groups(session, state=node.settings.state, group_ids=groups)
    return Response(status_code=204)


# --- Groups ---


async def _group(session: SessionDep, org: Organisation, group_id: str) -> ScimGroup:
    row = await service.group_of(session, org, group_id)
    if row is None:
        raise NotFoundException(detail=f"group {group_id[:60]!r} not found")
    return row


async def _group_resource(session: SessionDep, row: ScimGroup, base: str) -> Group:
    members = (await service.members_of(session, [row.id]))[row.id]
    owners = (await service.members_of(session, [row.id], owners=True))[row.id]
    return res.group_resource(row, members, owners, base)


async def _users_of_org(session: SessionDep, org: Organisation, ids: list[str], what: str) -> list[str]:
    missing = await service.unknown_users(session, org, ids)
    if missing:
        raise InvalidValueException(
            detail=f"{what} must be Users of this organisation; unknown: "
            + ", ".join(m[:40] for m in missing[:5])
        )
    return ids


async def _group_written(
    session: SessionDep,
    node: NodeDep,
    org: Organisation,
    row: ScimGroup,
    resource: Group,
    action: str,
) -> None:
    ids = await _users_of_org(session, org, res.member_ids(resource), "members")
    owners = await _users_of_org(session, org, res.owner_ids(resource), "owners")
    for key, value in res.group_fields(resource).items():
        setattr(row, key, value)
    await service.set_members(session, row, ids)
    await service.set_members(session, row, owners, owners=True)
    await _record(session, org, action, row.id, members=len(ids), owners=len(owners), kind=row.kind)
    await session.commit()
    await service.sync_groups(session, state=node.settings.state, group_ids=[row.id])


@router.post("/Groups", status_code=201)
async def create_group(request: Request, org: OrgDep, session: SessionDep, node: NodeDep) -> Response:
    resource: Group = res.GROUP.model_validate(
        await _json(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST
    )
    ts = now()
    row = ScimGroup(id=new_id("g"), org_id=org.id, display_name="", created_at=ts, updated_at=ts, version=1)
    session.add(row)
    await _group_written(session, node, org, row, resource, "group_created")
    resource = await _group_resource(session, row, _base(request))
    return _dump(resource, Context.RESOURCE_CREATION_RESPONSE, _params(request), 201)


async def _groups_page(
    request: Request, org: Organisation, session: SessionDep, search: SearchRequest[Any]
) -> Response:
    base = _base(request)

    async def resources(rows: list[ScimGroup]) -> list[Group]:
        members = await service.members_of(session, [r.id for r in rows])
        owners = await service.members_of(session, [r.id for r in rows], owners=True)
        return [res.group_resource(r, members[r.id], owners[r.id], base) for r in rows]

    total, items = await _page(session, ScimGroup, org, search, resources)
    return _list_body(total, items, res.GROUP, search)


@router.get("/Groups")
async def list_groups(request: Request, org: OrgDep, session: SessionDep) -> Response:
    return await _groups_page(request, org, session, _search(dict(request.query_params), res.GROUP))


@router.post("/Groups/.search")
async def search_groups(request: Request, org: OrgDep, session: SessionDep) -> Response:
    return await _groups_page(request, org, session, await _search_body(request, res.GROUP))


@router.post("/.search")
async def search_all(request: Request, org: OrgDep, session: SessionDep) -> Response:
    """RFC 7644 §3.4.3 at the root: Users and Groups together, the filter evaluated over both."""
    search = await _search_body(request, User | res.GROUP)
    base = _base(request)
    users = list(await session.scalars(select(ScimUser).where(ScimUser.org_id == org.id).limit(MAX_SCAN + 1)))
    groups = list(
        await session.scalars(select(ScimGroup).where(ScimGroup.org_id == org.id).limit(MAX_SCAN + 1))
    )
    if len(users) + len(groups) > MAX_SCAN:
        raise _too_many()
    members = await service.members_of(session, [g.id for g in groups])
    owners = await service.members_of(session, [g.id for g in groups], owners=True)
    found: list[User | Group] = [res.user_resource(u, base) for u in sorted(users, key=lambda u: u.id)]
    found += [
        res.group_resource(g, members[g.id], owners[g.id], base) for g in sorted(groups, key=lambda g: g.id)
    ]
    if search.filter is not None:
        found = [r for r in found if search.filter.match(r)]
    start = (search.start_index or 1) - 1
    count = min(res.MAX_RESULTS if search.count is None else search.count, res.MAX_RESULTS)
    return _list_body(
        len(found), found[start : start + count], User | res.GROUP, search, Context.SEARCH_RESPONSE
    )


@router.get("/Groups/{group_id}")
async def get_group(group_id: str, request: Request, org: OrgDep, session: SessionDep) -> Response:
    row = await _group(session, org, group_id)
    if _not_modified(request, row.version):
        return Response(status_code=304)
    resource = await _group_resource(session, row, _base(request))
    return _dump(resource, Context.RESOURCE_QUERY_RESPONSE, _params(request))


@router.put("/Groups/{group_id}")
async def replace_group(
    group_id: str, request: Request, org: OrgDep, session: SessionDep, node: NodeDep
) -> Response:
    row = await _group(session, org, group_id)
    _if_match(request, row.version)
    body = await _json(request)
    replacement: Group = res.GROUP.model_validate(body, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    replacement.replace(await _group_resource(session, row, _base(request)))
    service.touch(row)
    await _group_written(session, node, org, row, replacement, "group_replaced")
    resource = await _group_resource(session, row, _base(request))
    return _dump(resource, Context.RESOURCE_REPLACEMENT_RESPONSE, _params(request))


@router.patch("/Groups/{group_id}")
async def patch_group(
    group_id: str, request: Request, org: OrgDep, session: SessionDep, node: NodeDep
) -> Response:
    row = await _group(session, org, group_id)
    _if_match(request, row.version)
    patch = PatchOp[res.GROUP].model_validate(  # type: ignore[valid-type]
        await _json(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST
    )
    resource = await _group_resource(session, row, _base(request))
    if patch.patch(resource):
        service.touch(row)
        await _group_written(session, node, org, row, resource, "group_patched")
        resource = await _group_resource(session, row, _base(request))
    return _dump(resource, Context.RESOURCE_PATCH_RESPONSE, _params(request))


@router.delete("/Groups/{group_id}", status_code=204)
async def delete_group(
    group_id: str, request: Request, org: OrgDep, session: SessionDep, node: NodeDep
) -> Response:
    row = await _group(session, org, group_id)
    _if_match(request, row.version)
    await service.empty_group(session, group=row, state=node.settings.state)
    await session.delete(row)
    await _record(session, org, "group_deleted", group_id)
    await session.commit()
    return Response(status_code=204)


# --- anything else under /scim/v2 ---


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown(rest: str, request: Request) -> Response:
    """A SCIM 404 (or 405 for a path another route of this router serves) instead of the node's shape."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.endpoint is not unknown:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL:
                detail = f"{request.method} is not allowed on {request.url.path[:100]}"
                return scim_response(error_body(405, detail), 405)
    return scim_response(
        error_body(404, f"{request.url.path[:100]} is not a SCIM endpoint of this node"), 404
    )
