"""The API contract in code, for every operation at once: unknown query parameters are
refused, and the OpenAPI document is tidied so generated clients need no workaround.

Unknown parameters: a typo (`?statuss=paid`) would otherwise be ignored and answer the
unfiltered list. Each route's declared query parameters are read from its FastAPI dependant
(models used as query parameters count by their fields), once per route.

The document: FastAPI writes what pydantic says, which is right for validation but awkward
for generators:
- an optional body or query parameter is `anyOf[X, null]` (openapi-python-client then sends
  its UNSET sentinel for an absent body; a query parameter is absent, never null): the null
  branch goes, `required: false` already says "may be left out";
- creates declare OpenAPI links to what takes their ids;
- bounds that are settings (finalize_after_days <= REFRESH_WINDOW_DAYS) get their value;
- enums' members get their Python names (`x-enum-varnames`), not VALUE_1;
- a request model's field with a default is not in `required`, but openapi-typescript (by
  default) types a property with a `default` as always present, so `{name}` would not
  compile as a CampaignCreate: in the schemas only requests use, the default moves into the
  description.
"""

from enum import StrEnum
from typing import Any

from fastapi import Request, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from app.errors import ApiError, FieldError
from app.settings import Settings

_declared: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters of the dependant and of every dependency below it."""
    names: set[str] = set()
    for param in dependant.query_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(f.alias or n for n, f in annotation.model_fields.items())
        else:
            names.add(param.alias)
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


async def check_request(request: Request) -> None:
    """An app-wide dependency: 422 `unknown_parameter` for any query parameter an API
    operation does not declare, and 422 for a JSON `null` sent as an optional body (the schema says
    the body is an object or absent; FastAPI would read null as absent)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    body_field = route.body_field
    optional = (
        body_field is not None
        and not body_field.field_info.is_required()
        # A form (the dashboard's) is parsed from the stream, and has no JSON null.
        and not isinstance(body_field.field_info, params.Form)
    )
    if optional and (await request.body()).strip() == b"null":
        raise ApiError(
            422,
            "validation_failed",
            "/body: send an object, or no body at all.",
            [FieldError(pointer="/body", message="must be an object", type="model_type")],
        )
    # Pages (the dashboard, the portal) are not API operations: a link that carries an extra
    # parameter (a campaign's tracking tag, say) still opens the page.
    if not request.query_params or not route.include_in_schema:
        return
    known = _declared.get(id(route))
    if known is None:
        known = _declared[id(route)] = _query_names(route.dependant)
    unknown = sorted({k for k in request.query_params if k not in known})
    if unknown:
        names = ", ".join(f"`{k}`" for k in unknown)
        accepted = ", ".join(f"`{k}`" for k in sorted(known)) or "none"
        raise ApiError(
            422,
            "unknown_parameter",
            f"Unknown query parameter {names}; this operation accepts {accepted}.",
            [
                FieldError(pointer=f"/query/{k}", message="unknown parameter", type="unknown")
                for k in unknown
            ],
        )


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or {"type": "null"} not in branches:
        return schema
    kept = [b for b in branches if b != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    if len(kept) > 1:
        return {**rest, "anyOf": kept}
    # OpenAPI 3.1 allows keywords beside a $ref.
    return {**kept[0], **rest}


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _closure(names: set[str], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        more: set[str] = set()
        _refs(schemas[name], more)
        todo.extend(more - seen)
    return seen


def _str_enums(cls: type[StrEnum] = StrEnum) -> dict[str, type[StrEnum]]:
    """The service's own StrEnums by name (another package may have one of the same name)."""
    found: dict[str, type[StrEnum]] = {}
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("app."):
            found[sub.__name__] = sub
        found.update(_str_enums(sub))
    return found


def _name_enum_members(schemas: dict[str, Any]) -> None:
    """Generators name enum members after their values, and give up on values like
    `-created_at` (VALUE_1, VALUE_2): `x-enum-varnames` gives them the Python names."""
    enums = _str_enums()
    for name, schema in schemas.items():
        cls = enums.get(name)
        if cls is not None and schema.get("enum") == [m.value for m in cls]:
            schema["x-enum-varnames"] = [m.name for m in cls]


# OpenAPI links: what a create answers with, and the operations that take it. Clients and
# the fuzzer's stateful phase follow them (create -> get -> update -> list).
_ID = "$response.body#/id"
_LINKS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "campaigns_create": {
        "GetCampaign": ("campaigns_get", {"campaign_id": _ID}),
        "UpdateCampaign": ("campaigns_update", {"campaign_id": _ID}),
        "CreateTier": ("cpm_tiers_create", {"campaign_id": _ID}),
        "ListTiers": ("cpm_tiers_list", {"campaign_id": _ID}),
        "AddMember": ("members_create", {"campaign_id": _ID}),
        "ListMembers": ("members_list", {"campaign_id": _ID}),
        "AddPost": ("posts_create", {"campaign_id": _ID}),
        "ListPosts": ("campaign_posts_list", {"campaign_id": _ID}),
        "Analytics": ("campaigns_analytics", {"campaign_id": _ID}),
    },
    "cpm_tiers_create": {
        "UpdateTier": (
            "cpm_tiers_update",
            {"campaign_id": "$response.body#/campaign_id", "tier_id": _ID},
        ),
        "ListTiers": ("cpm_tiers_list", {"campaign_id": "$response.body#/campaign_id"}),
    },
    "creators_create": {
        "GetCreator": ("creators_get", {"creator_id": _ID}),
        "UpdateCreator": ("creators_update", {"creator_id": _ID}),
    },
    "members_create": {
        "UpdateMember": (
            "members_update",
            {
                "campaign_id": "$response.body#/campaign_id",
                "creator_id": "$response.body#/creator_id",
            },
        ),
        "ListMembers": ("members_list", {"campaign_id": "$response.body#/campaign_id"}),
    },
    "posts_create": {
        "GetPost": ("posts_get", {"post_id": _ID}),
        "UpdatePost": ("posts_update", {"post_id": _ID}),
        "PostEvents": ("posts_events", {"post_id": _ID}),
        "PostStats": ("posts_stats", {"post_id": _ID}),
        "RejectPost": ("posts_reject", {"post_id": _ID}),
    },
    "posts_reject": {"RestorePost": ("posts_restore", {"post_id": _ID})},
    "webhook_endpoints_create": {
        "GetEndpoint": ("webhook_endpoints_get", {"endpoint_id": _ID}),
        "UpdateEndpoint": ("webhook_endpoints_update", {"endpoint_id": _ID}),
        "ListDeliveries": ("webhook_deliveries_list", {"endpoint_id": _ID}),
    },
    "refresh_runs_create": {"GetRun": ("refresh_runs_get", {"run_id": _ID})},
}


def _links(spec: dict[str, Any]) -> None:
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            links = _LINKS.get(operation.get("operationId", ""))
            if not links:
                continue
            for status, response in operation.get("responses", {}).items():
                if status.startswith("2"):
                    response["links"] = {
                        name: {"operationId": target, "parameters": parameters}
                        for name, (target, parameters) in links.items()
                    }


# Bounds that are settings: (schema, field) -> the setting that is its maximum.
_SETTINGS_MAXIMA = {
    ("CampaignCreate", "finalize_after_days"): "refresh_window_days",
    ("CampaignUpdate", "finalize_after_days"): "refresh_window_days",
}


def _settings_bounds(schemas: dict[str, Any], settings: Settings) -> None:
    for (name, field), setting in _SETTINGS_MAXIMA.items():
        prop = schemas.get(name, {}).get("properties", {}).get(field)
        if prop is None:
            continue
        for branch in prop.get("anyOf", [prop]):
            if branch.get("type") == "integer":
                branch["maximum"] = getattr(settings, setting)


def tidy(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Idempotent, like document_edge: FastAPI caches the document."""
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    _settings_bounds(schemas, settings)
    _links(spec)
    _name_enum_members(schemas)
    inputs: set[str] = set()
    outputs: set[str] = set()
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and "schema" in parameter:
                    parameter["schema"] = _without_null(parameter["schema"])
                _refs(parameter, inputs)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if "schema" in media:
                    media["schema"] = _without_null(media["schema"])
                _refs(media, inputs)
            _refs(operation.get("responses", {}), outputs)
    request_only = _closure(inputs, schemas) - _closure(outputs, schemas)
    for name in request_only:
        for prop in schemas[name].get("properties", {}).values():
            if "default" in prop:
                default = prop.pop("default")
                if default is not None:
                    shown = f"`{default}`" if not isinstance(default, list) else "none"
                    note = f"Default: {shown}."
                    text = prop.get("description", "")
                    if note not in text:
                        prop["description"] = f"{text} {note}".strip()
    return spec
