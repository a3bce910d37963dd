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
- enums' members get their Python names (`x-enum-varnames`), not VALUE_1;
- a request model's field with a default is not in `required`, but openapi-typescript (by
  default) types a property with a `default` as always present, so `{name}` would not
  compile as a CampaignCreate: in the schemas only requests use, the default moves into the
  description.
"""

from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from app.errors import ApiError, FieldError

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


async def refuse_unknown_parameters(request: Request) -> None:
    """An app-wide dependency: 422 `unknown_parameter` for any query parameter the operation
    does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
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
    found: dict[str, type[StrEnum]] = {}
    for sub in cls.__subclasses__():
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


def tidy(spec: dict[str, Any]) -> dict[str, Any]:
    """Idempotent, like document_edge: FastAPI caches the document."""
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
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
