"""What the OpenAPI schema says beyond what drf-spectacular reads off the views (a postprocessing hook).

Generated clients take the schema at its word: a field the schema calls optional becomes an `Unset` they
must test for, a header it does not declare is not read. So every field a response always carries is
required, every response declares the rate-limit headers it carries, case responses their ETag, a 201 its
Location, a 429 its Retry-After, and each operation is tagged by the collection it works on.
"""

from __future__ import annotations

from typing import Any

# Response fields that are left out when they have nothing to say.
OPTIONAL_FIELDS = {"ErrorDetail": {"fields"}}

# Components whose responses carry an ETag (the case's version, for If-Match).
WITH_ETAG = {"CaseDetail"}

HEADERS = {
    "RateLimit-Limit": {
        "description": "Requests your token may make in the current window.",
        "schema": {"type": "integer", "minimum": 0, "example": 600},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer", "minimum": 0, "example": 597},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the current window ends and the count starts again.",
        "schema": {"type": "integer", "minimum": 0, "example": 42},
    },
    "Retry-After": {
        "description": "Seconds to wait before the next request.",
        "schema": {"type": "integer", "minimum": 0, "example": 42},
    },
    "ETag": {
        "description": "The case's version: send it back in If-Match to change the case only if nobody "
        "changed it since.",
        "schema": {"type": "string", "example": '"c0a8f2e1d4b3a697"'},
    },
    "Location": {
        "description": "The address of what was created.",
        "schema": {"type": "string", "format": "uri-reference", "example": "/api/v1/cases/CON-1007/"},
    },
}
RATE_LIMIT = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _component(response: dict[str, Any]) -> str | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] or None


def postprocess(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Required response fields, declared headers and tags (SPECTACULAR_SETTINGS POSTPROCESSING_HOOKS)."""
    components = result.setdefault("components", {})
    for name, schema in components.get("schemas", {}).items():
        if name.endswith("Request") or "properties" not in schema:
            continue
        schema["required"] = sorted(set(schema["properties"]) - OPTIONAL_FIELDS.get(name, set()))
    components["headers"] = HEADERS
    for path, operations in result.get("paths", {}).items():
        collection = path.split("/")[3]
        for operation in operations.values():
            operation["tags"] = [collection]
            for status, response in operation["responses"].items():
                headers = response.setdefault("headers", {})
                for name in RATE_LIMIT:
                    headers[name] = _ref(name)
                if status == "429":
                    headers["Retry-After"] = _ref("Retry-After")
                if status == "201":
                    headers["Location"] = _ref("Location")
                if status.startswith("2") and _component(response) in WITH_ETAG:
                    headers["ETag"] = _ref("ETag")
    return result
